//! Tiny random models written on the fly, for tests here and in the stages downstream: real
//! files in the real formats, small enough to run in milliseconds.

use crate::config::Arch;
use crate::Result;
use candle_core::quantized::gguf_file::Value;
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use std::path::Path;

/// Shape of a tiny model. Widths are multiples of 256 so every k-quant type applies.
#[derive(Debug, Clone)]
pub struct TinySpec {
    pub arch: Arch,
    pub hidden: usize,
    pub intermediate: usize,
    pub n_layer: usize,
    pub n_head: usize,
    pub n_kv_head: usize,
    /// Storage type of the linear weights.
    pub dtype: GgmlDType,
    pub tied: bool,
    pub seed: u64,
}

impl TinySpec {
    pub fn new(arch: Arch) -> Self {
        Self {
            arch,
            hidden: 256,
            intermediate: 512,
            n_layer: 3,
            n_head: 4,
            n_kv_head: 2,
            dtype: GgmlDType::F32,
            tied: arch == Arch::Qwen2,
            seed: 7,
        }
    }
}

/// GPT-2's byte → printable character map, which byte-level BPE vocabularies are written in.
pub fn byte_to_char(b: u8) -> char {
    let printable =
        |b: u8| (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
    if printable(b) {
        return b as char;
    }
    let n = (0..b).filter(|&x| !printable(x)).count() as u32;
    char::from_u32(256 + n).expect("valid code point")
}

/// Vocabulary: the 256 byte tokens, a few merges, then the special tokens.
pub const SPECIAL: [&str; 3] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
const MERGES: [(&str, &str); 4] = [("d", "e"), ("de", "f"), ("Ġ", "x"), ("r", "e")];

pub fn vocab() -> Vec<String> {
    let mut v: Vec<String> = (0..=255u8).map(|b| byte_to_char(b).to_string()).collect();
    for (a, b) in MERGES {
        v.push(format!("{a}{b}"));
    }
    v.extend(SPECIAL.iter().map(|s| s.to_string()));
    v
}

const CHATML: &str = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

fn randn(shape: &[usize], scale: f64, seed: &mut u64) -> Result<Tensor> {
    // xorshift, so the same spec always gives the same weights (candle's randn is unseeded).
    let n: usize = shape.iter().product();
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        let u = (*seed >> 11) as f64 / (1u64 << 53) as f64;
        v.push(((u * 2.0 - 1.0) * scale * 1.7) as f32);
    }
    Ok(Tensor::from_vec(v, shape, &Device::Cpu)?)
}

/// The tensors of a tiny model, in GGUF naming and GGUF rope layout, all f32.
pub fn tiny_tensors(s: &TinySpec) -> Result<Vec<(String, Tensor)>> {
    let mut seed = s.seed.max(1);
    let hd = s.hidden / s.n_head;
    let nv = vocab().len();
    let mut t = vec![(
        "token_embd.weight".to_string(),
        randn(&[nv, s.hidden], 0.1, &mut seed)?,
    )];
    let ones_ish =
        |seed: &mut u64| -> Result<Tensor> { Ok((randn(&[s.hidden], 0.1, seed)? + 1.0)?) };
    for i in 0..s.n_layer {
        let p = |n: &str| format!("blk.{i}.{n}");
        let w = 1.0 / (s.hidden as f64).sqrt();
        t.push((p("attn_norm.weight"), ones_ish(&mut seed)?));
        t.push((
            p("attn_q.weight"),
            randn(&[s.n_head * hd, s.hidden], w, &mut seed)?,
        ));
        t.push((
            p("attn_k.weight"),
            randn(&[s.n_kv_head * hd, s.hidden], w, &mut seed)?,
        ));
        t.push((
            p("attn_v.weight"),
            randn(&[s.n_kv_head * hd, s.hidden], w, &mut seed)?,
        ));
        if s.arch == Arch::Qwen2 {
            t.push((p("attn_q.bias"), randn(&[s.n_head * hd], 0.1, &mut seed)?));
            t.push((
                p("attn_k.bias"),
                randn(&[s.n_kv_head * hd], 0.1, &mut seed)?,
            ));
            t.push((
                p("attn_v.bias"),
                randn(&[s.n_kv_head * hd], 0.1, &mut seed)?,
            ));
        }
        t.push((
            p("attn_output.weight"),
            randn(&[s.hidden, s.n_head * hd], w, &mut seed)?,
        ));
        t.push((p("ffn_norm.weight"), ones_ish(&mut seed)?));
        t.push((
            p("ffn_gate.weight"),
            randn(&[s.intermediate, s.hidden], w, &mut seed)?,
        ));
        t.push((
            p("ffn_up.weight"),
            randn(&[s.intermediate, s.hidden], w, &mut seed)?,
        ));
        let wd = 1.0 / (s.intermediate as f64).sqrt();
        t.push((
            p("ffn_down.weight"),
            randn(&[s.hidden, s.intermediate], wd, &mut seed)?,
        ));
    }
    t.push(("output_norm.weight".into(), ones_ish(&mut seed)?));
    if !s.tied {
        t.push((
            "output.weight".into(),
            randn(&[nv, s.hidden], 0.1, &mut seed)?,
        ));
    }
    Ok(t)
}

/// GGUF metadata for a tiny model.
pub fn tiny_metadata(s: &TinySpec) -> Vec<(String, Value)> {
    let a = s.arch.name();
    let k = |x: &str| format!("{a}.{x}");
    let vocab = vocab();
    let types: Vec<Value> = vocab
        .iter()
        .map(|t| Value::I32(if SPECIAL.contains(&t.as_str()) { 3 } else { 1 }))
        .collect();
    let eos = vocab
        .iter()
        .position(|t| t == "<|im_end|>")
        .expect("special token") as u32;
    vec![
        ("general.architecture".into(), Value::String(a.into())),
        ("general.name".into(), Value::String(format!("tiny-{a}"))),
        (k("block_count"), Value::U32(s.n_layer as u32)),
        (k("context_length"), Value::U32(4096)),
        (k("embedding_length"), Value::U32(s.hidden as u32)),
        (k("feed_forward_length"), Value::U32(s.intermediate as u32)),
        (k("attention.head_count"), Value::U32(s.n_head as u32)),
        (k("attention.head_count_kv"), Value::U32(s.n_kv_head as u32)),
        (k("rope.freq_base"), Value::F32(10_000.0)),
        (k("attention.layer_norm_rms_epsilon"), Value::F32(1e-6)),
        ("tokenizer.ggml.model".into(), Value::String("gpt2".into())),
        ("tokenizer.ggml.pre".into(), Value::String("gpt-2".into())),
        (
            "tokenizer.ggml.tokens".into(),
            Value::Array(vocab.iter().map(|t| Value::String(t.clone())).collect()),
        ),
        ("tokenizer.ggml.token_type".into(), Value::Array(types)),
        (
            "tokenizer.ggml.merges".into(),
            Value::Array(
                MERGES
                    .iter()
                    .map(|(a, b)| Value::String(format!("{a} {b}")))
                    .collect(),
            ),
        ),
        ("tokenizer.ggml.eos_token_id".into(), Value::U32(eos)),
        (
            "tokenizer.chat_template".into(),
            Value::String(CHATML.into()),
        ),
    ]
}

/// Writes a tiny random model as GGUF; linear weights stored as `spec.dtype`.
pub fn write_tiny_gguf(path: &Path, s: &TinySpec) -> Result<()> {
    let tensors = tiny_tensors(s)?
        .into_iter()
        .map(|(name, t)| {
            let is_linear =
                name.ends_with(".weight") && t.rank() == 2 && name != "token_embd.weight";
            let dtype = if is_linear { s.dtype } else { GgmlDType::F32 };
            Ok((name, QTensor::quantize(&t, dtype)?))
        })
        .collect::<Result<Vec<_>>>()?;
    crate::gguf::write(path, &tiny_metadata(s), tensors).map(|_| ())
}

/// Undoes llama.cpp's q/k row permutation (GGUF rope layout → Hugging Face layout).
pub fn unpermute_qk(w: &Tensor, n_head: usize) -> Result<Tensor> {
    let (rows, cols) = w.dims2()?;
    let hd = rows / n_head;
    Ok(w.reshape((n_head, hd / 2, 2, cols))?
        .transpose(1, 2)?
        .contiguous()?
        .reshape((rows, cols))?)
}

/// Writes the same tiny model as a Hugging Face folder (config.json, model.safetensors,
/// tokenizer.json, tokenizer_config.json).
pub fn write_tiny_hf(dir: &Path, s: &TinySpec) -> Result<()> {
    let io = |e: std::io::Error| crate::Error::Io {
        path: dir.to_path_buf(),
        source: e,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut map = std::collections::HashMap::new();
    for (name, t) in tiny_tensors(s)? {
        let t = match (s.arch, name.rsplit('.').nth(1)) {
            (Arch::Llama, Some("attn_q")) if name.ends_with(".weight") => {
                unpermute_qk(&t, s.n_head)?
            }
            (Arch::Llama, Some("attn_k")) if name.ends_with(".weight") => {
                unpermute_qk(&t, s.n_kv_head)?
            }
            _ => t,
        };
        let hf = crate::weights::hf_name(&name).expect("every tiny tensor has an HF name");
        map.insert(hf, t);
    }
    candle_core::safetensors::save(&map, dir.join("model.safetensors"))?;
    let tmp = dir.join("tokenizer-source.gguf");
    write_tiny_gguf(&tmp, s)?;
    let tok = crate::Tokenizer::from_gguf(&crate::gguf::Gguf::open(&tmp)?)?;
    std::fs::remove_file(&tmp).map_err(io)?;
    tok.save_json(&dir.join("tokenizer.json"))?;
    let arch = match s.arch {
        Arch::Llama => "LlamaForCausalLM",
        Arch::Qwen2 => "Qwen2ForCausalLM",
    };
    let config = serde_json::json!({
        "architectures": [arch],
        "vocab_size": vocab().len(),
        "hidden_size": s.hidden,
        "intermediate_size": s.intermediate,
        "num_hidden_layers": s.n_layer,
        "num_attention_heads": s.n_head,
        "num_key_value_heads": s.n_kv_head,
        "rope_theta": 10000.0,
        "rms_norm_eps": 1e-6,
        "max_position_embeddings": 4096,
        "tie_word_embeddings": s.tied,
    });
    std::fs::write(dir.join("config.json"), config.to_string()).map_err(io)?;
    let tcfg = serde_json::json!({ "eos_token": "<|im_end|>", "chat_template": CHATML });
    std::fs::write(dir.join("tokenizer_config.json"), tcfg.to_string()).map_err(io)?;
    Ok(())
}
