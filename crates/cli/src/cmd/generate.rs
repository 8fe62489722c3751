use anyhow::Result;
use clap::Args;
use std::io::Write;
use tradeoff_engine::{ChatMessage, GenParams, GenRequest};

#[derive(Args)]
pub struct GenerateArgs {
    /// Catalog name (e.g. qwen2.5-coder-0.5b), GGUF file, Hugging Face model folder, or an
    /// OpenAI-compatible server: http://HOST:PORT/v1#MODEL_ID.
    #[arg(long, short)]
    pub model: String,
    /// The prompt (with --chat: the user's message).
    #[arg(long, short)]
    pub prompt: String,
    /// Wrap the prompt in the model's chat template.
    #[arg(long)]
    pub chat: bool,
    /// System message for --chat.
    #[arg(long, requires = "chat")]
    pub system: Option<String>,
    /// Maximum new tokens.
    #[arg(long, default_value_t = 256)]
    pub max_tokens: usize,
    /// Sampling temperature; 0 = greedy.
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f32,
    #[arg(long)]
    pub top_k: Option<usize>,
    #[arg(long)]
    pub top_p: Option<f32>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Stop before this string (repeatable).
    #[arg(long)]
    pub stop: Vec<String>,
    /// Keep generating past end-of-sequence (for fixed-length speed tests).
    #[arg(long)]
    pub ignore_eos: bool,
    /// Samples from the same prompt (they share one prefill and decode as a batch).
    #[arg(long, short, default_value_t = 1)]
    pub n: usize,
}

pub fn run(a: GenerateArgs, batch: Option<usize>) -> Result<()> {
    let t = std::time::Instant::now();
    let mut engine = crate::load_engine(&a.model, batch)?;
    let load_s = t.elapsed().as_secs_f64();
    let prompt = if a.chat {
        let mut msgs = Vec::new();
        if let Some(s) = &a.system {
            msgs.push(ChatMessage::new("system", s));
        }
        msgs.push(ChatMessage::new("user", &a.prompt));
        engine.render_chat(&msgs, true)?
    } else {
        a.prompt.clone()
    };
    let req = GenRequest {
        prompt,
        params: GenParams {
            max_new_tokens: a.max_tokens,
            temperature: a.temperature,
            top_k: a.top_k,
            top_p: a.top_p,
            seed: a.seed,
            stop: a.stop.clone(),
            ignore_eos: a.ignore_eos,
        },
        n: a.n,
    };
    let mut out = std::io::stdout().lock();
    let stream = a.n == 1;
    let g = engine.generate(&req, &mut |_, _, text| {
        if stream {
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
        }
    })?;
    drop(out);
    if stream {
        println!();
    } else {
        for (i, s) in g.samples.iter().enumerate() {
            println!(
                "--- sample {i} ({} tokens, {:?})\n{}",
                s.tokens, s.finish, s.text
            );
        }
    }
    let tm = &g.timing;
    eprintln!(
        "[load {:.2} s | prompt {} tok, prefill {:.1} tok/s | {} tok, decode {:.1} tok/s | ttft {:.3} s | total {:.2} s | {} threads | {}]",
        load_s,
        tm.prompt_tokens,
        tm.prefill_tok_s(),
        tm.generated_tokens,
        tm.decode_tok_s(),
        tm.ttft_s,
        tm.total_s,
        engine.info().threads.unwrap_or(0),
        engine.info().engine,
    );
    Ok(())
}
