//! The training loop: micro-batches of windows through the student with its adapters,
//! gradients accumulated, clipped and applied by AdamW on the warmup + cosine schedule;
//! validation each `eval_every` steps; a checkpoint each `checkpoint_every` steps that a
//! restarted run (after `kill -9`) resumes from.

use crate::error::io;
use crate::forward::{Base, Lora};
use crate::lora::Adapters;
use crate::objective::{cross_entropy, distill_loss, DistillConfig, EvalSums};
use crate::optim::{clip_global_norm, Accumulator, AdamW, OptimConfig};
use crate::teacher::TeacherCache;
use crate::{Error, Result};
use candle_core::Tensor;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Training tokens (the budget): steps = tokens / (seq · batch · accum).
    pub tokens: usize,
    #[serde(default = "default_seq")]
    pub seq: usize,
    /// Windows per micro-batch.
    #[serde(default = "default_batch")]
    pub batch: usize,
    /// Micro-batches per optimizer step.
    #[serde(default = "one")]
    pub accum: usize,
    #[serde(default = "default_every")]
    pub eval_every: usize,
    #[serde(default = "default_val")]
    pub val_windows: usize,
    #[serde(default = "default_every")]
    pub checkpoint_every: usize,
}

fn default_seq() -> usize {
    256
}
fn default_batch() -> usize {
    4
}
fn one() -> usize {
    1
}
fn default_every() -> usize {
    10
}
fn default_val() -> usize {
    4
}

impl TrainConfig {
    pub fn steps(&self) -> usize {
        (self.tokens / (self.seq * self.batch * self.accum)).max(1)
    }

    pub fn validate(&self) -> Result<()> {
        if self.seq < 2 || self.batch == 0 || self.accum == 0 || self.eval_every == 0 {
            return Err(Error::Config(
                "key `train`: seq ≥ 2, batch, accum and eval_every ≥ 1".into(),
            ));
        }
        Ok(())
    }
}

/// One optimizer step of the loss curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepPoint {
    pub step: usize,
    pub tokens: usize,
    pub loss: f64,
    pub lr: f64,
    pub grad_norm: f64,
}

/// Validation on the held-out windows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalPoint {
    pub step: usize,
    /// Mean cross-entropy of the windows' next tokens (the data itself), nats.
    #[serde(default)]
    pub ce: f64,
    /// Against the teacher; absent when training has none (SFT).
    #[serde(flatten)]
    pub teacher: Option<Agreement>,
}

/// The student against the teacher's top-k: KL(teacher ‖ student) at T = 1, and how often
/// the teacher's top token is the student's top-1 / among its top 5.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Agreement {
    pub kl: f64,
    pub top1: f64,
    pub top5: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct History {
    pub curve: Vec<StepPoint>,
    pub evals: Vec<EvalPoint>,
    /// Seconds spent training, over every run that contributed (resumes included).
    pub train_s: f64,
    /// Steps done before this process started (0 unless resumed).
    pub resumed_at: usize,
}

/// Windows, teacher targets and settings of one training run.
pub struct Job<'a> {
    pub train: &'a [Vec<u32>],
    pub val: &'a [Vec<u32>],
    /// The teacher's targets of `train` and `val`; without them the loss is cross-entropy.
    pub teacher: Option<(&'a TeacherCache, &'a TeacherCache)>,
    pub cfg: &'a TrainConfig,
    pub optim: &'a OptimConfig,
    pub distill: &'a DistillConfig,
    pub seed: u64,
    /// Folder of the checkpoint; `key` must match for a checkpoint to be resumed.
    pub checkpoint: Option<(&'a Path, String)>,
    pub progress: bool,
}

/// Trains `ad` in place; returns the loss curve and validation points.
pub fn train(base: &Base, ad: &Adapters, job: &Job) -> Result<History> {
    let steps = job.cfg.steps();
    let vars = ad.vars();
    let mut opt = AdamW::new(job.optim, &vars)?;
    let mut hist = History::default();
    if let Some((dir, key)) = &job.checkpoint {
        if let Some(h) = load_checkpoint(dir, key, ad, &mut opt)? {
            tracing::info!("resuming at step {}", opt.t);
            hist = h;
            hist.resumed_at = opt.t;
        }
    }
    let bar = bar(steps, job.progress);
    bar.set_position(opt.t as u64);
    let mut acc = Accumulator::new(vars.len());
    let t0 = Instant::now();
    let (train_s0, start) = (hist.train_s, opt.t);
    let per_step = job.cfg.seq * job.cfg.batch * job.cfg.accum;
    if start == 0 {
        hist.evals.push(evaluate(base, ad, job, 0)?);
    }
    for step in start..steps {
        let mut rng = ChaCha8Rng::seed_from_u64(job.seed ^ (step as u64).wrapping_mul(0x9E37_79B9));
        let mut loss_sum = 0.0;
        for micro in 0..job.cfg.accum {
            let idx: Vec<usize> = (0..job.cfg.batch)
                .map(|i| ((step * job.cfg.accum + micro) * job.cfg.batch + i) % job.train.len())
                .collect();
            let toks: Vec<u32> = idx
                .iter()
                .flat_map(|&i| job.train[i].iter().copied())
                .collect();
            let lora = Lora {
                adapters: ad,
                grad: true,
                dropout: Some(&mut rng),
            };
            let logits = base.forward(&toks, idx.len(), Some(lora))?;
            let loss = match job.teacher {
                Some((t, _)) => {
                    let tb = t.batch(&idx);
                    distill_loss(&logits, &toks, idx.len(), &t.view(&tb), job.distill)?
                }
                None => cross_entropy(&logits, &toks, idx.len())?,
            };
            loss_sum += loss.to_dtype(candle_core::DType::F64)?.to_scalar::<f64>()?;
            acc.add(&vars, &loss.backward()?)?;
        }
        let loss = loss_sum / job.cfg.accum as f64;
        let mut grads = acc.take(&vars)?;
        let norm = clip_global_norm(&mut grads, job.optim.clip)?;
        if !loss.is_finite() || !norm.is_finite() {
            return Err(Error::Diverged {
                step,
                what: format!("loss {loss}, gradient norm {norm}"),
            });
        }
        let lr = job.optim.lr_at(step, steps);
        opt.step(&vars, &grads, lr)?;
        let done = step + 1;
        hist.curve.push(StepPoint {
            step: done,
            tokens: done * per_step,
            loss,
            lr,
            grad_norm: norm,
        });
        let rate = (done - start) as f64 * per_step as f64 / t0.elapsed().as_secs_f64();
        bar.set_message(format!("loss {loss:.4}, {rate:.0} tok/s"));
        bar.set_position(done as u64);
        if done % job.cfg.eval_every == 0 || done == steps {
            let e = evaluate(base, ad, job, done)?;
            tracing::info!("step {done}: validation {e:?}");
            hist.evals.push(e);
        }
        hist.train_s = train_s0 + t0.elapsed().as_secs_f64();
        if let Some((dir, key)) = &job.checkpoint {
            if done % job.cfg.checkpoint_every == 0 && done < steps {
                save_checkpoint(dir, key, ad, &opt, &hist)?;
            }
        }
    }
    bar.finish();
    Ok(hist)
}

fn bar(steps: usize, show: bool) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let b = indicatif::ProgressBar::new(steps as u64);
    if let Ok(s) = indicatif::ProgressStyle::with_template(
        "train [{bar:30}] {pos}/{len} steps, {msg}, {elapsed} (eta {eta})",
    ) {
        b.set_style(s.progress_chars("=> "));
    }
    b
}

/// Validation cross-entropy and agreement with the teacher, one window at a time (no
/// gradients).
pub fn evaluate(base: &Base, ad: &Adapters, job: &Job, step: usize) -> Result<EvalPoint> {
    let mut s = EvalSums::default();
    let mut ce = 0.0;
    for (i, w) in job.val.iter().enumerate() {
        let lora = Lora {
            adapters: ad,
            grad: false,
            dropout: None,
        };
        let logits = base.forward(w, 1, Some(lora))?;
        ce += cross_entropy(&logits, w, 1)?
            .to_dtype(candle_core::DType::F64)?
            .to_scalar::<f64>()?;
        if let Some((_, t)) = job.teacher {
            let tb = t.batch(&[i]);
            s.add(&logits, &t.view(&tb))?;
        }
    }
    let (kl, top1, top5) = s.means();
    Ok(EvalPoint {
        step,
        ce: ce / job.val.len().max(1) as f64,
        teacher: job.teacher.map(|_| Agreement { kl, top1, top5 }),
    })
}

#[derive(Serialize, Deserialize)]
struct CheckpointMeta {
    key: String,
    t: usize,
    history: History,
}

/// Adapters and AdamW moments (safetensors) and the step and history (JSON), each written
/// through a temporary name; the JSON last, so a kill mid-save leaves the older checkpoint.
fn save_checkpoint(dir: &Path, key: &str, ad: &Adapters, opt: &AdamW, h: &History) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mut map: HashMap<String, Tensor> = HashMap::new();
    for (i, (name, v)) in ad.named().into_iter().enumerate() {
        map.insert(format!("{name}.m"), opt.m[i].clone());
        map.insert(format!("{name}.v"), opt.v[i].clone());
        map.insert(name, v.as_tensor().clone());
    }
    let st = dir.join(format!("step-{}.safetensors", opt.t));
    candle_core::safetensors::save(&map, &st)?;
    let meta = CheckpointMeta {
        key: key.into(),
        t: opt.t,
        history: h.clone(),
    };
    let p = dir.join("checkpoint.json");
    let tmp = dir.join("checkpoint.json.partial");
    let text = serde_json::to_string(&meta).map_err(|e| Error::Config(e.to_string()))?;
    std::fs::write(&tmp, text).map_err(io(&tmp))?;
    std::fs::rename(&tmp, &p).map_err(io(&p))?;
    // Older step files are no longer referenced.
    for e in std::fs::read_dir(dir).map_err(io(dir))?.flatten() {
        let n = e.file_name().to_string_lossy().to_string();
        if n.starts_with("step-") && n != format!("step-{}.safetensors", opt.t) {
            let _ = std::fs::remove_file(e.path());
        }
    }
    Ok(())
}

/// Restores the checkpoint in `dir` if its key matches; returns its history.
fn load_checkpoint(
    dir: &Path,
    key: &str,
    ad: &Adapters,
    opt: &mut AdamW,
) -> Result<Option<History>> {
    let p = dir.join("checkpoint.json");
    let Ok(text) = std::fs::read_to_string(&p) else {
        return Ok(None);
    };
    let meta: CheckpointMeta =
        serde_json::from_str(&text).map_err(|e| Error::Config(format!("{}: {e}", p.display())))?;
    if meta.key != key {
        tracing::warn!(
            "{}: made by another recipe or data; starting over",
            p.display()
        );
        return Ok(None);
    }
    let st = candle_core::safetensors::load(
        dir.join(format!("step-{}.safetensors", meta.t)),
        &candle_core::Device::Cpu,
    )?;
    let get = |n: &str| {
        st.get(n)
            .cloned()
            .ok_or_else(|| Error::Config(format!("checkpoint lacks {n}")))
    };
    for (i, (name, v)) in ad.named().into_iter().enumerate() {
        v.set(&get(&name)?)?;
        opt.m[i] = get(&format!("{name}.m"))?;
        opt.v[i] = get(&format!("{name}.v"))?;
    }
    opt.t = meta.t;
    Ok(Some(meta.history))
}
