//! How far a variant's predictions moved from its baseline's: perplexity on a held-out code
//! corpus, KL divergence, top-1 agreement, RMS Δp, and identical greedy continuations.
//!
//! The corpus is cut into windows of `ctx` tokens and, as llama.cpp's `llama-perplexity` does,
//! only the second half of each window is scored (every scored token has at least ctx/2 tokens
//! of context). The baseline's predictions are computed once and cached on disk as its top-k
//! log-probabilities per position; KL divergence is then computed over those k tokens plus
//! one bucket holding the rest of the vocabulary. Merging outcomes never increases a KL
//! divergence, so the figure is a lower bound of the full-vocabulary value (tight when the
//! top k hold nearly all the mass; the record states k).

use crate::stats::{bootstrap, mean, quantile_of};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use tradeoff_assets::corpus::Corpus;
use tradeoff_engine::{LoadOptions, LocalEngine, Model, ModelPath, Segment, Tokenizer};
use tradeoff_eval::Metric;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QualityOptions {
    /// Tokens per window.
    pub ctx: usize,
    /// Windows scored at most (from the start of the corpus).
    pub max_chunks: usize,
    /// Baseline log-probabilities kept per position.
    pub top_k: usize,
    /// Prompts (window starts) continued greedily by both models.
    pub continuations: usize,
    pub continuation_prompt: usize,
    pub continuation_tokens: usize,
    pub bootstrap: usize,
    pub seed: u64,
}

impl Default for QualityOptions {
    fn default() -> Self {
        Self {
            ctx: 512,
            max_chunks: 32,
            top_k: 128,
            continuations: 16,
            continuation_prompt: 128,
            continuation_tokens: 32,
            bootstrap: 1000,
            seed: 0,
        }
    }
}

/// What a baseline is: which model, on which text, scored how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineMeta {
    pub model: String,
    pub model_sha256: String,
    /// How the baseline's weights were obtained, e.g. "GGUF dequantized to f32".
    pub weights: String,
    pub corpus: String,
    pub corpus_sha256: String,
    pub corpus_files: Vec<String>,
    pub ctx: usize,
    pub chunks: usize,
    pub top_k: usize,
    pub continuations: usize,
    pub continuation_prompt: usize,
    pub continuation_tokens: usize,
    pub vocab_size: usize,
}

/// The baseline's predictions on the scored positions.
pub struct Baseline {
    pub meta: BaselineMeta,
    logp_correct: Vec<f32>,
    top_ids: Vec<u32>,
    top_logp: Vec<f32>,
    pub continuations: Vec<Vec<u32>>,
}

/// Tokens scored per window: positions ctx/2 .. ctx-2 predict tokens ctx/2+1 .. ctx-1.
fn first(ctx: usize) -> usize {
    ctx / 2
}
fn scored(ctx: usize) -> usize {
    ctx - 1 - first(ctx)
}

/// The corpus as windows of `ctx` tokens (a BOS replaces the first token of each window when
/// the model expects one, as llama-perplexity does).
pub fn windows(tok: &Tokenizer, corpus: &Corpus, ctx: usize, max: usize) -> Result<Vec<Vec<u32>>> {
    if ctx < 8 {
        return Err(Error::Options(format!(
            "context of {ctx} tokens is too short"
        )));
    }
    let ids = tok.encode(&corpus.text)?;
    let n = (ids.len() / ctx).min(max);
    if n == 0 {
        return Err(Error::Options(format!(
            "the corpus has {} tokens, less than one window of {ctx}",
            ids.len()
        )));
    }
    Ok((0..n)
        .map(|i| {
            let mut w = ids[i * ctx..(i + 1) * ctx].to_vec();
            if tok.add_bos {
                if let Some(b) = tok.bos {
                    w[0] = b;
                }
            }
            w
        })
        .collect())
}

/// Log-probability rows of the scored positions of one window: (row-major [scored, vocab]
/// logits, log-sum-exp per row).
fn scored_rows(model: &Model, window: &[u32]) -> Result<(Vec<f32>, Vec<f64>)> {
    let ctx = window.len();
    let logits = model.logits_all(window, None)?;
    let rows = logits
        .narrow(0, first(ctx), scored(ctx))?
        .flatten_all()?
        .to_vec1::<f32>()?;
    let v = model.cfg.vocab_size;
    let lse = rows
        .chunks_exact(v)
        .map(|r| {
            let m = r.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
            m + r.iter().map(|&x| (x as f64 - m).exp()).sum::<f64>().ln()
        })
        .collect();
    Ok((rows, lse))
}

fn check_tokenizers(base_vocab: usize, model: &Model) -> Result<()> {
    if model.cfg.vocab_size != base_vocab {
        return Err(Error::Options(format!(
            "the variant's vocabulary ({}) differs from the baseline's ({base_vocab}): KL divergence needs the same tokenizer",
            model.cfg.vocab_size
        )));
    }
    Ok(())
}

/// Greedy continuations of the first `n` windows' first `prompt` tokens, decoded together.
fn greedy_continuations(
    model: &Model,
    wins: &[Vec<u32>],
    o: &QualityOptions,
) -> Result<Vec<Vec<u32>>> {
    let prompts: Vec<&[u32]> = wins
        .iter()
        .take(o.continuations)
        .map(|w| &w[..o.continuation_prompt.min(w.len())])
        .collect();
    let mut caches: Vec<_> = prompts.iter().map(|_| model.new_cache()).collect();
    let mut out: Vec<Vec<u32>> = vec![Vec::new(); prompts.len()];
    let mut next: Vec<u32> = Vec::new();
    for step in 0..o.continuation_tokens {
        let logits = {
            let mut segs: Vec<Segment> = caches
                .iter_mut()
                .enumerate()
                .map(|(i, c)| Segment {
                    tokens: if step == 0 {
                        prompts[i]
                    } else {
                        std::slice::from_ref(&next[i])
                    },
                    cache: c,
                    all_logits: false,
                })
                .collect();
            if segs.is_empty() {
                break;
            }
            model.forward(&mut segs, None)?
        };
        next = logits
            .to_vec2::<f32>()?
            .iter()
            .map(|r| tradeoff_engine::sampler::argmax(r))
            .collect();
        for (o, &t) in out.iter_mut().zip(&next) {
            o.push(t);
        }
    }
    Ok(out)
}

fn progress(n: usize, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(n as u64).with_style(
        indicatif::ProgressStyle::with_template(
            "{msg} [{bar:30}] {pos}/{len} windows, {elapsed} (eta {eta})",
        )
        .expect("static template")
        .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

/// What identifies a model's weights in records: a GGUF file's sha256, a folder's path.
pub fn model_id(mp: &ModelPath) -> Result<String> {
    Ok(match mp {
        ModelPath::Gguf(p) => tradeoff_assets::sha256_cached(p)?,
        ModelPath::HfDir(p) => format!("dir:{}", p.display()),
    })
}

impl Baseline {
    /// Runs the baseline model over the corpus windows.
    pub fn compute(
        model: &Model,
        tok: &Tokenizer,
        corpus: &Corpus,
        o: &QualityOptions,
        id: (&str, &str, &str),
    ) -> Result<Self> {
        let wins = windows(tok, corpus, o.ctx, o.max_chunks)?;
        let v = model.cfg.vocab_size;
        let k = o.top_k.min(v);
        let s = scored(o.ctx);
        let (mut logp_correct, mut top_ids, mut top_logp) = (Vec::new(), Vec::new(), Vec::new());
        let bar = progress(wins.len(), "baseline");
        for w in &wins {
            let (rows, lse) = scored_rows(model, w)?;
            for j in 0..s {
                let r = &rows[j * v..(j + 1) * v];
                let target = w[first(o.ctx) + j + 1] as usize;
                logp_correct.push((r[target] as f64 - lse[j]) as f32);
                let mut idx: Vec<u32> = (0..v as u32).collect();
                let by =
                    |a: &u32, b: &u32| r[*b as usize].total_cmp(&r[*a as usize]).then(a.cmp(b));
                idx.select_nth_unstable_by(k - 1, by);
                idx.truncate(k);
                idx.sort_unstable_by(by);
                for &i in &idx {
                    top_ids.push(i);
                    top_logp.push((r[i as usize] as f64 - lse[j]) as f32);
                }
            }
            bar.inc(1);
        }
        bar.finish_and_clear();
        let continuations = greedy_continuations(model, &wins, o)?;
        Ok(Self {
            meta: BaselineMeta {
                model: id.0.to_string(),
                model_sha256: id.1.to_string(),
                weights: id.2.to_string(),
                corpus: corpus.name.clone(),
                corpus_sha256: corpus.sha256.clone(),
                corpus_files: corpus.files.clone(),
                ctx: o.ctx,
                chunks: wins.len(),
                top_k: k,
                continuations: continuations.len(),
                continuation_prompt: o.continuation_prompt,
                continuation_tokens: o.continuation_tokens,
                vocab_size: v,
            },
            logp_correct,
            top_ids,
            top_logp,
            continuations,
        })
    }

    /// The baseline of the model at `mp` (named `name` in records), from the on-disk cache
    /// under `cache_dir` or computed once and saved there. A quantized GGUF is dequantized to
    /// f32 first: the closest thing to the original weights when no f16 file exists.
    pub fn obtain(
        name: &str,
        mp: &ModelPath,
        corpus: &Corpus,
        o: &QualityOptions,
        cache_dir: &Path,
    ) -> Result<Self> {
        let sha = model_id(mp)?;
        let weights = match mp {
            ModelPath::Gguf(_) => "GGUF dequantized to f32 (no f16 original available offline)",
            ModelPath::HfDir(_) => "safetensors as stored",
        };
        let path = Self::cache_path(cache_dir, &sha, weights, corpus, o);
        if path.is_file() {
            tracing::info!("baseline: cached {}", path.display());
            return Self::load(&path);
        }
        tracing::info!(
            "baseline: {name} ({weights}) on {} windows of {} tokens",
            o.max_chunks,
            o.ctx
        );
        let e = LocalEngine::load(
            mp,
            LoadOptions {
                dequantize: true,
                ..Default::default()
            },
        )?;
        let b = Self::compute(&e.model, &e.tokenizer, corpus, o, (name, &sha, weights))?;
        b.save(&path)?;
        Ok(b)
    }

    /// Where a baseline with this identity is cached.
    pub fn cache_path(
        dir: &Path,
        model_sha256: &str,
        weights: &str,
        corpus: &Corpus,
        o: &QualityOptions,
    ) -> PathBuf {
        let key = format!(
            "{model_sha256}|{weights}|{}|{}|{}|{}|{}|{}|{}",
            corpus.sha256,
            o.ctx,
            o.max_chunks,
            o.top_k,
            o.continuations,
            o.continuation_prompt,
            o.continuation_tokens
        );
        let h = tradeoff_assets::sha256_hex(key.as_bytes());
        dir.join("baselines").join(format!("{}.bin", &h[..24]))
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let io = |e: std::io::Error| Error::Io(path.to_path_buf(), e);
        if let Some(d) = path.parent() {
            std::fs::create_dir_all(d).map_err(io)?;
        }
        let header = serde_json::to_vec(&(&self.meta, &self.continuations))?;
        let tmp = path.with_extension("partial");
        let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp).map_err(io)?);
        f.write_all(&(header.len() as u64).to_le_bytes())
            .map_err(io)?;
        f.write_all(&header).map_err(io)?;
        for x in &self.logp_correct {
            f.write_all(&x.to_le_bytes()).map_err(io)?;
        }
        for x in &self.top_ids {
            f.write_all(&x.to_le_bytes()).map_err(io)?;
        }
        for x in &self.top_logp {
            f.write_all(&x.to_le_bytes()).map_err(io)?;
        }
        f.flush().map_err(io)?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(io)
    }

    pub fn load(path: &Path) -> Result<Self> {
        let io = |e: std::io::Error| Error::Io(path.to_path_buf(), e);
        let mut f = std::io::BufReader::new(std::fs::File::open(path).map_err(io)?);
        let mut len = [0u8; 8];
        f.read_exact(&mut len).map_err(io)?;
        let mut header = vec![0u8; u64::from_le_bytes(len) as usize];
        f.read_exact(&mut header).map_err(io)?;
        let (meta, continuations): (BaselineMeta, Vec<Vec<u32>>) = serde_json::from_slice(&header)?;
        let n = meta.chunks * scored(meta.ctx);
        let mut read4 = |count: usize| -> Result<Vec<[u8; 4]>> {
            let mut buf = vec![0u8; count * 4];
            f.read_exact(&mut buf).map_err(io)?;
            Ok(buf
                .chunks_exact(4)
                .map(|c| [c[0], c[1], c[2], c[3]])
                .collect())
        };
        let logp_correct = read4(n)?.into_iter().map(f32::from_le_bytes).collect();
        let top_ids = read4(n * meta.top_k)?
            .into_iter()
            .map(u32::from_le_bytes)
            .collect();
        let top_logp = read4(n * meta.top_k)?
            .into_iter()
            .map(f32::from_le_bytes)
            .collect();
        Ok(Self {
            meta,
            logp_correct,
            top_ids,
            top_logp,
            continuations,
        })
    }
}

/// Per-window sums, the units of the bootstrap.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WindowStats {
    pub scored: usize,
    pub nll: f64,
    pub base_nll: f64,
    pub same_top: usize,
    pub dp2: f64,
    #[serde(skip)]
    pub kld: Vec<f32>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QualityResult {
    pub schema: u32,
    pub tradeoff_version: String,
    pub model: String,
    pub model_sha256: Option<String>,
    pub baseline: BaselineMeta,
    pub kld_method: String,
    pub options: QualityOptions,
    pub metrics: Vec<Metric>,
    pub windows: Vec<WindowStats>,
    pub greedy_matching_prefix: Vec<usize>,
    pub started_unix_s: u64,
    pub duration_s: f64,
}

impl QualityResult {
    pub fn metric(&self, name: &str) -> Option<&Metric> {
        self.metrics.iter().find(|m| m.name == name)
    }
}

/// Scores `model` against `base` on the same windows.
pub fn measure(
    model: &Model,
    tok: &Tokenizer,
    corpus: &Corpus,
    base: &Baseline,
    o: &QualityOptions,
    id: (&str, Option<&str>),
) -> Result<QualityResult> {
    let started = std::time::SystemTime::now();
    let t0 = std::time::Instant::now();
    let m = &base.meta;
    check_tokenizers(m.vocab_size, model)?;
    if corpus.sha256 != m.corpus_sha256 {
        return Err(Error::Options(
            "the corpus differs from the one the baseline was computed on".into(),
        ));
    }
    let wins = windows(tok, corpus, m.ctx, m.chunks)?;
    if wins.len() != m.chunks {
        return Err(Error::Options(
            "the variant's tokenizer cuts the corpus differently from the baseline's".into(),
        ));
    }
    let (v, k, s) = (m.vocab_size, m.top_k, scored(m.ctx));
    let mut stats = Vec::with_capacity(wins.len());
    let bar = progress(wins.len(), "variant");
    for (c, w) in wins.iter().enumerate() {
        let (rows, lse) = scored_rows(model, w)?;
        let mut ws = WindowStats {
            scored: s,
            nll: 0.0,
            base_nll: 0.0,
            same_top: 0,
            dp2: 0.0,
            kld: Vec::with_capacity(s),
        };
        for j in 0..s {
            let p = c * s + j;
            let r = &rows[j * v..(j + 1) * v];
            let target = w[first(m.ctx) + j + 1] as usize;
            let lq_t = r[target] as f64 - lse[j];
            let lp_t = base.logp_correct[p] as f64;
            ws.nll -= lq_t;
            ws.base_nll -= lp_t;
            ws.dp2 += (lq_t.exp() - lp_t.exp()).powi(2);
            let ids = &base.top_ids[p * k..(p + 1) * k];
            let lps = &base.top_logp[p * k..(p + 1) * k];
            let (mut kl, mut p_top, mut q_top) = (0.0f64, 0.0f64, 0.0f64);
            for (&i, &lp) in ids.iter().zip(lps) {
                let lp = lp as f64;
                let lq = r[i as usize] as f64 - lse[j];
                let pp = lp.exp();
                kl += pp * (lp - lq);
                p_top += pp;
                q_top += lq.exp();
            }
            let (p_rest, q_rest) = ((1.0 - p_top).max(0.0), (1.0 - q_top).max(1e-30));
            if p_rest > 1e-12 {
                kl += p_rest * (p_rest.ln() - q_rest.ln());
            }
            ws.kld.push(kl.max(0.0) as f32);
            if tradeoff_engine::sampler::argmax(r) == ids[0] {
                ws.same_top += 1;
            }
        }
        stats.push(ws);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let same_shape = QualityOptions {
        continuations: m.continuations,
        continuation_prompt: m.continuation_prompt,
        continuation_tokens: m.continuation_tokens,
        ..o.clone()
    };
    let cont = greedy_continuations(model, &wins, &same_shape)?;
    let prefix: Vec<usize> = cont
        .iter()
        .zip(&base.continuations)
        .map(|(a, b)| a.iter().zip(b).take_while(|(x, y)| x == y).count())
        .collect();
    let metrics = summarize(&stats, &prefix, m.continuation_tokens, o);
    Ok(QualityResult {
        schema: 1,
        tradeoff_version: env!("CARGO_PKG_VERSION").to_string(),
        model: id.0.to_string(),
        model_sha256: id.1.map(str::to_string),
        baseline: m.clone(),
        kld_method: format!(
            "KL(baseline || variant) over the baseline's top {k} tokens plus one bucket for the rest of the vocabulary (a lower bound of the full-vocabulary value); second half of each {}-token window scored, as llama-perplexity",
            m.ctx
        ),
        options: o.clone(),
        metrics,
        windows: stats,
        greedy_matching_prefix: prefix,
        started_unix_s: started.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
        duration_s: t0.elapsed().as_secs_f64(),
    })
}

fn summarize(
    st: &[WindowStats],
    prefix: &[usize],
    cont_len: usize,
    o: &QualityOptions,
) -> Vec<Metric> {
    let ppl = |w: &[&WindowStats], base: bool| {
        let n: usize = w.iter().map(|x| x.scored).sum();
        let nll: f64 = w
            .iter()
            .map(|x| if base { x.base_nll } else { x.nll })
            .sum();
        (nll / n as f64).exp()
    };
    let all: Vec<&WindowStats> = st.iter().collect();
    let klds = |w: &[&WindowStats]| -> Vec<f64> {
        w.iter()
            .flat_map(|x| x.kld.iter().map(|&k| k as f64))
            .collect()
    };
    let n_tok: usize = st.iter().map(|x| x.scored).sum();
    let mk =
        |name: &str, f: &dyn Fn(&[&WindowStats]) -> f64, hib: bool, unit: Option<&str>| Metric {
            ci95: bootstrap(st, o.bootstrap, o.seed, |w| f(w)),
            n: Some(n_tok),
            unit: unit.map(str::to_string),
            ..Metric::new(name, f(&all), hib)
        };
    let mut out = vec![
        mk("ppl", &|w| ppl(w, false), false, None),
        mk("ppl_base", &|w| ppl(w, true), false, None),
        mk(
            "ln_ppl_ratio",
            &|w| ppl(w, false).ln() - ppl(w, true).ln(),
            false,
            None,
        ),
        mk("kld_mean", &|w| mean(&klds(w)), false, Some("nats")),
        mk(
            "kld_median",
            &|w| quantile_of(&klds(w), 0.5),
            false,
            Some("nats"),
        ),
        mk(
            "kld_p99",
            &|w| quantile_of(&klds(w), 0.99),
            false,
            Some("nats"),
        ),
        mk(
            "kld_max",
            &|w| klds(w).into_iter().fold(0.0, f64::max),
            false,
            Some("nats"),
        ),
        mk(
            "top1_agreement",
            &|w| {
                w.iter().map(|x| x.same_top).sum::<usize>() as f64
                    / w.iter().map(|x| x.scored).sum::<usize>() as f64
            },
            true,
            None,
        ),
        mk(
            "rms_dp",
            &|w| {
                (w.iter().map(|x| x.dp2).sum::<f64>()
                    / w.iter().map(|x| x.scored).sum::<usize>() as f64)
                    .sqrt()
            },
            false,
            None,
        ),
    ];
    if !prefix.is_empty() {
        let same: Vec<f64> = prefix
            .iter()
            .map(|&p| if p == cont_len { 1.0 } else { 0.0 })
            .collect();
        let pre: Vec<f64> = prefix.iter().map(|&p| p as f64).collect();
        out.push(Metric {
            ci95: bootstrap(&same, o.bootstrap, o.seed, |v| {
                mean(&v.iter().map(|x| **x).collect::<Vec<_>>())
            }),
            n: Some(same.len()),
            ..Metric::new("greedy_identical", mean(&same), true)
        });
        out.push(Metric {
            ci95: bootstrap(&pre, o.bootstrap, o.seed, |v| {
                mean(&v.iter().map(|x| **x).collect::<Vec<_>>())
            }),
            n: Some(pre.len()),
            unit: Some("tokens".into()),
            ..Metric::new("greedy_matching_prefix", mean(&pre), true)
        });
    }
    out
}
