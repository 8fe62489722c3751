//! The in-process engine: a loaded [`Model`] plus tokenizer and chat template, generating for
//! many requests at once. Every step runs one forward pass over the weights for all active
//! sequences (continuous batching): new prompts are prefilled in the same pass as the running
//! sequences decode, and a finished sequence leaves at once, making room for the next.

use crate::api::*;
use crate::batch::Batch;
use crate::chat::ChatTemplate;
use crate::config::Config;
use crate::gguf::Gguf;
use crate::model::Model;
use crate::tokenizer::{read_json, Tokenizer};
use crate::weights::Source;
use crate::{Error, Result};
use candle_core::Device;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub device: Device,
    /// Sequences decoded together at most (the n samples of a request count one each);
    /// `None`: chosen from the model and the machine by [`auto_batch`] when a run starts.
    pub max_batch: Option<usize>,
    /// Prompt tokens prefilled per step, all prompts together; long prompts take several.
    pub prefill_chunk: usize,
    /// Expand quantized weights to f32: the float reference a quantized file is compared with
    /// when no original float weights exist.
    pub dequantize: bool,
    /// Draft tokens a greedy sequence may check per step when few sequences run (prompt
    /// lookup decoding; output unchanged); 0 turns drafts off.
    pub drafts: usize,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            device: Device::Cpu,
            max_batch: None,
            prefill_chunk: 512,
            dequantize: false,
            // A bad value is reported once by the binary (`drafts_from_env`), not here.
            drafts: drafts_from_env().unwrap_or(DRAFTS),
        }
    }
}

/// Draft tokens a greedy sequence may check per step unless `TRADEOFF_DRAFTS` says otherwise.
pub const DRAFTS: usize = 8;

/// Draft tokens per step from `TRADEOFF_DRAFTS` (for comparisons; 0 turns drafts off), else
/// [`DRAFTS`].
pub fn drafts_from_env() -> Result<usize> {
    match std::env::var("TRADEOFF_DRAFTS") {
        Err(_) => Ok(DRAFTS),
        Ok(v) => v.trim().parse().map_err(|_| {
            Error::Setting(format!(
                "TRADEOFF_DRAFTS={v} is not a whole number: set it to the draft tokens a \
                 sequence may check per step (0 turns drafts off), or unset it"
            ))
        }),
    }
}

/// Where a model spec points.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelPath {
    Gguf(PathBuf),
    HfDir(PathBuf),
}

impl ModelPath {
    pub fn path(&self) -> &Path {
        match self {
            ModelPath::Gguf(p) | ModelPath::HfDir(p) => p,
        }
    }
}

/// Resolves a catalog name (`smollm2-135m`), a GGUF file or a Hugging Face model folder.
pub fn resolve(spec: &str) -> Result<ModelPath> {
    let p = Path::new(spec);
    if p.is_dir() {
        if !p.join("config.json").is_file() {
            return Err(Error::model(
                p,
                "a model folder needs config.json, *.safetensors and tokenizer.json",
            ));
        }
        return Ok(ModelPath::HfDir(p.to_path_buf()));
    }
    if p.is_file() {
        return Ok(ModelPath::Gguf(p.to_path_buf()));
    }
    match tradeoff_assets::find(tradeoff_assets::Kind::Model, spec) {
        Ok(asset) => {
            let path = asset.require(&tradeoff_assets::cache_dir())?;
            if path.is_dir() {
                Ok(ModelPath::HfDir(path))
            } else {
                Ok(ModelPath::Gguf(path))
            }
        }
        Err(tradeoff_assets::AssetError::Unknown { known, .. }) => Err(Error::model(
            p,
            format!("no such file or folder, and not a catalog model (known: {known})"),
        )),
        Err(e) => Err(e.into()),
    }
}

/// Prompt tokens assumed per sequence when sizing the batch (prompts are tokenized later).
const PROMPT_ESTIMATE: usize = 512;

/// Sequences per thread: a decode step reads every weight once whatever the batch, so total
/// tokens/s rises with the batch until the step's arithmetic is the limit. Qwen2.5-Coder-0.5B
/// Q4_K_M on 2 threads, full HumanEval, AMX tiles (which gain with more rows): batch 32 took
/// 295 s, 64 took 276 s. With AVX512-VNNI alone (first 64 problems) 16, 32 and 64 took 105,
/// 100 and 101 s.
const SEQS_PER_THREAD: usize = 32;

/// The batch limit when none is set: [`SEQS_PER_THREAD`] per thread, fewer when the KV caches
/// of that many sequences of `tokens_per_seq` tokens would not fit in half the free memory.
pub fn auto_batch(
    cfg: &Config,
    tokens_per_seq: usize,
    threads: usize,
    free_bytes: Option<u64>,
) -> usize {
    let compute = SEQS_PER_THREAD * threads.max(1);
    let Some(free) = free_bytes else {
        return compute;
    };
    let tokens = tokens_per_seq.min(cfg.context_length) as u64;
    // f32 keys and values for every layer, plus a row of logits and its softmax.
    let per_seq = 2 * 4 * (cfg.n_layer * cfg.n_kv_head * cfg.head_dim) as u64 * tokens
        + 2 * 4 * cfg.vocab_size as u64;
    let memory = (free / 2 / per_seq.max(1)) as usize;
    compute.min(memory).max(1)
}

pub struct LocalEngine {
    pub model: Model,
    pub tokenizer: Tokenizer,
    template: Option<ChatTemplate>,
    spec: String,
    sha256: Option<String>,
    pub opts: LoadOptions,
}

impl LocalEngine {
    /// Loads a model by catalog name or path.
    pub fn open(spec: &str, opts: LoadOptions) -> Result<Self> {
        let mp = resolve(spec)?;
        let sha256 = tradeoff_assets::CATALOG
            .iter()
            .find(|a| a.name == spec && a.files.len() == 1)
            .map(|a| a.files[0].sha256.to_string());
        let mut e = Self::load(&mp, opts)?;
        e.spec = spec.to_string();
        e.sha256 = sha256;
        Ok(e)
    }

    pub fn load(mp: &ModelPath, opts: LoadOptions) -> Result<Self> {
        let (model, tokenizer, template) = match mp {
            ModelPath::Gguf(path) => {
                let g = Gguf::open(path)?;
                let cfg = Config::from_gguf(&g)?;
                let tokenizer = Tokenizer::from_gguf(&g)?;
                let template = g.meta_str("tokenizer.chat_template").map(str::to_string);
                let mut src = Source::Gguf(Box::new(g));
                (
                    Model::load(&mut src, cfg, &opts.device, opts.dequantize)?,
                    tokenizer,
                    template,
                )
            }
            ModelPath::HfDir(dir) => {
                let cfg = Config::from_hf(&dir.join("config.json"))?;
                let tokenizer = Tokenizer::from_hf_dir(dir)?;
                let template = read_json(&dir.join("tokenizer_config.json"))
                    .and_then(|c| c.get("chat_template")?.as_str().map(str::to_string));
                let mut src = Source::open_safetensors(dir)?;
                let mut model = Model::load(&mut src, cfg, &opts.device, opts.dequantize)?;
                if !crate::config::hf_tied(&dir.join("config.json")) && !src.has("output.weight") {
                    return Err(Error::MissingTensor {
                        path: dir.clone(),
                        name: "lm_head.weight".into(),
                    });
                }
                model.tied = !src.has("output.weight");
                (model, tokenizer, template)
            }
        };
        let template = match template_parts(template, &tokenizer) {
            Some(t) => Some(ChatTemplate::new(&t.source, &t.bos, &t.eos)?),
            None => None,
        };
        Ok(Self {
            model,
            tokenizer,
            template,
            spec: mp.path().display().to_string(),
            sha256: None,
            opts,
        })
    }

    /// The batch limit for this set of requests: the one set in the options, else
    /// [`auto_batch`] for the longest sequence these requests can grow to.
    fn batch_for(&self, reqs: &[GenRequest]) -> usize {
        if let Some(n) = self.opts.max_batch {
            return n.max(1);
        }
        let longest = reqs
            .iter()
            .map(|r| r.params.max_new_tokens)
            .max()
            .unwrap_or(0);
        let n = auto_batch(
            &self.model.cfg,
            longest + PROMPT_ESTIMATE,
            rayon::current_num_threads(),
            tradeoff_record::proc::mem_available_bytes(),
        );
        tracing::debug!("batch limit {n} (auto; --batch sets it)");
        n
    }

    pub fn has_chat_template(&self) -> bool {
        self.template.is_some()
    }

    fn run(
        &mut self,
        reqs: &[GenRequest],
        mut on_text: Option<&mut OnText<'_>>,
        on_done: &mut dyn FnMut(usize, Result<Generation>),
    ) -> Result<()> {
        let mut batch = Batch::new(
            self.batch_for(reqs),
            self.opts.prefill_chunk,
            self.model.cfg.context_length,
        )
        .with_drafts(self.opts.drafts);
        for r in reqs {
            batch.push(r.clone());
        }
        while !batch.is_idle() {
            batch.step(
                &self.model,
                &self.tokenizer,
                on_text.as_deref_mut(),
                on_done,
            )?;
        }
        Ok(())
    }
}

pub(crate) fn render_chat(
    template: Option<&ChatTemplate>,
    spec: &str,
    messages: &[ChatMessage],
    add_generation_prompt: bool,
) -> Result<String> {
    match template {
        Some(t) => t.render(messages, add_generation_prompt),
        None => Err(Error::Template(format!(
            "{spec} has no chat template (a base model?): use a plain completion prompt"
        ))),
    }
}

/// What a [`Scheduler`](crate::Scheduler) takes over from an engine.
pub(crate) struct Parts {
    pub(crate) model: Model,
    pub(crate) tokenizer: Tokenizer,
    pub(crate) template: Option<ChatTemplate>,
    pub(crate) spec: String,
    pub(crate) info: EngineInfo,
    pub(crate) max_batch: usize,
    pub(crate) prefill_chunk: usize,
    pub(crate) drafts: usize,
}

impl LocalEngine {
    /// Splits the engine for a long-lived batch whose requests may ask for up to
    /// `max_new_tokens` tokens each (it sizes the batch when the options do not).
    pub(crate) fn into_parts(self, max_new_tokens: usize) -> Parts {
        let probe = GenRequest::new(
            "",
            GenParams {
                max_new_tokens,
                ..GenParams::default()
            },
        );
        let max_batch = self.batch_for(std::slice::from_ref(&probe));
        let info = self.info();
        Parts {
            max_batch,
            prefill_chunk: self.opts.prefill_chunk,
            drafts: self.opts.drafts,
            info,
            model: self.model,
            tokenizer: self.tokenizer,
            template: self.template,
            spec: self.spec,
        }
    }
}

impl Engine for LocalEngine {
    fn info(&self) -> EngineInfo {
        EngineInfo {
            engine: match self.model.device {
                Device::Cpu => format!("in-process: {}", crate::kernels::describe()),
                _ => "in-process: candle".into(),
            },
            model: self.spec.clone(),
            model_sha256: self.sha256.clone(),
            architecture: Some(self.model.cfg.arch.name().into()),
            context_length: Some(self.model.cfg.context_length),
            device: match &self.model.device {
                Device::Cpu => "cpu".into(),
                d => format!("{d:?}"),
            },
            threads: Some(rayon::current_num_threads()),
        }
    }

    fn render_chat(&self, messages: &[ChatMessage], add_generation_prompt: bool) -> Result<String> {
        render_chat(
            self.template.as_ref(),
            &self.spec,
            messages,
            add_generation_prompt,
        )
    }

    fn generate(&mut self, req: &GenRequest, on_text: &mut OnText<'_>) -> Result<Generation> {
        let mut out = None;
        self.run(std::slice::from_ref(req), Some(on_text), &mut |_, g| {
            out = Some(g)
        })?;
        out.unwrap_or_else(|| Err(Error::Request("request produced no result".into())))
    }

    fn generate_many(
        &mut self,
        reqs: &[GenRequest],
        on_done: &mut dyn FnMut(usize, Result<Generation>),
    ) -> Result<()> {
        self.run(reqs, None, on_done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Arch;

    /// Qwen2.5-Coder-0.5B's shape: 24 layers × 2 KV heads × 64 dims, 151,936 tokens.
    fn qwen_05b() -> Config {
        Config {
            arch: Arch::Qwen2,
            vocab_size: 151_936,
            hidden_size: 896,
            intermediate_size: 4864,
            n_layer: 24,
            n_head: 14,
            n_kv_head: 2,
            head_dim: 64,
            rope_theta: 1e6,
            rms_eps: 1e-6,
            context_length: 32_768,
            rope_interleaved: false,
        }
    }

    #[test]
    fn auto_batch_is_per_thread_until_kv_caches_outgrow_half_the_free_memory() {
        let cfg = qwen_05b();
        assert_eq!(auto_batch(&cfg, 1280, 2, None), 2 * SEQS_PER_THREAD);
        assert_eq!(
            auto_batch(&cfg, 1280, 4, Some(64 << 30)),
            4 * SEQS_PER_THREAD
        );
        // 24 × 2 × 64 × 8 bytes = 24 KiB per token: 1280 tokens are 30 MiB, plus two
        // rows of logits.
        let per_seq = 24 * 1024 * 1280 + 8 * 151_936;
        assert_eq!(auto_batch(&cfg, 1280, 2, Some(2 * 5 * per_seq + 1)), 5);
        assert_eq!(auto_batch(&cfg, 1280, 2, Some(2 * 5 * per_seq - 1)), 4);
        assert_eq!(auto_batch(&cfg, 1280, 2, Some(1)), 1);
        // Sequences cannot outgrow the context.
        assert_eq!(
            auto_batch(
                &cfg,
                10_000_000,
                2,
                Some(2 * 3 * (24 * 1024 * 32_768 + 8 * 151_936))
            ),
            3
        );
    }
}

/// A chat template's text and the BOS/EOS token texts it refers to.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateParts {
    pub source: String,
    pub bos: String,
    pub eos: String,
}

fn template_parts(template: Option<String>, tokenizer: &Tokenizer) -> Option<TemplateParts> {
    let tok_str = |id: Option<u32>| {
        id.and_then(|i| tokenizer.id_to_token(i))
            .unwrap_or_default()
    };
    Some(TemplateParts {
        source: template?,
        bos: tok_str(tokenizer.bos),
        eos: tok_str(tokenizer.eos.first().copied()),
    })
}

/// The chat template a model carries, read without loading its weights: for a server that runs
/// the same model but does not publish its template (vLLM, TGI).
pub fn chat_template_of(mp: &ModelPath) -> Result<Option<TemplateParts>> {
    let (tokenizer, template) = match mp {
        ModelPath::Gguf(path) => {
            let g = Gguf::open(path)?;
            let t = g.meta_str("tokenizer.chat_template").map(str::to_string);
            (Tokenizer::from_gguf(&g)?, t)
        }
        ModelPath::HfDir(dir) => (
            Tokenizer::from_hf_dir(dir)?,
            read_json(&dir.join("tokenizer_config.json"))
                .and_then(|c| c.get("chat_template")?.as_str().map(str::to_string)),
        ),
    };
    Ok(template_parts(template, &tokenizer))
}
