//! GPTQ and SparseGPT one decoder layer at a time, as in the GPTQ paper: the calibration
//! windows' hidden states go through the model layer by layer; each layer's four input
//! Hessians are gathered, its linears compressed, and the windows then move on through the
//! layer: the compressed one (`sequential`, the paper's way: each layer sees what the
//! compressed layers before it compute) or the original. Memory holds one layer in f32 and
//! its Hessians, never the whole model's.

use crate::{calib, linalg, obs, quant, Calibration, Error, Method, Progress, Recipe, Result};
use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Device, Tensor};
use std::collections::HashMap;
use std::path::Path;
use tradeoff_engine::gguf::Gguf;
use tradeoff_engine::kernels::Weight;
use tradeoff_engine::model::LINEARS;
use tradeoff_engine::{Hook, LoadOptions, LocalEngine, Model, ModelPath, Site};

/// What the layer pass made: the compressed linears by GGUF name, and what was measured.
pub struct Done {
    pub tensors: HashMap<String, QTensor>,
    /// Weights in the pruned linears, and how many of them stayed nonzero (SparseGPT).
    pub pruned_total: u64,
    pub pruned_nonzero: u64,
    pub calibration_sha256: String,
    pub calibration_tokens: usize,
}

/// The GGML type a linear is written as (given its name, shape and stored type), or None when
/// the method leaves it to the plain path (a type GPTQ has no grid for).
pub type TargetOf<'a> = dyn Fn(&str, &[usize], GgmlDType) -> Option<GgmlDType> + 'a;

/// Runs the method over every layer of the GGUF model at `path`.
pub fn run(
    path: &Path,
    r: &Recipe,
    calibration: &Calibration,
    seed: u64,
    target_of: &TargetOf,
    progress: &dyn Progress,
) -> Result<Done> {
    let c = r.calibration.clone().unwrap_or_default();
    let text = calib::load_text(calibration)?;
    // Stored types for the layers not reached yet; each layer runs in f32 when its turn comes.
    let eng = LocalEngine::load(&ModelPath::Gguf(path.to_path_buf()), LoadOptions::default())?;
    let ctx = c.ctx.min(eng.model.cfg.context_length);
    let wins = calib::windows(&eng.tokenizer, &text.text, c.samples, ctx, seed)?;
    let mut model = eng.model;
    let mut hidden = wins
        .iter()
        .map(|w| model.embed_tokens(w))
        .collect::<tradeoff_engine::Result<Vec<_>>>()?;
    let mut g = Gguf::open(path)?;
    let settings = r.gptq.clone().unwrap_or_default();
    let mut done = Done {
        tensors: HashMap::new(),
        pruned_total: 0,
        pruned_nonzero: 0,
        calibration_sha256: text.sha256,
        calibration_tokens: wins.len() * ctx,
    };
    progress.stage("layers", model.layers.len() as u64);
    for li in 0..model.layers.len() {
        let id = model.layers[li].id;
        let mut originals = HashMap::new();
        for name in LINEARS {
            let qt = g.tensor(&format!("blk.{id}.{name}.weight"), &Device::Cpu)?;
            set_dense(&mut model, li, name, qt.dequantize(&Device::Cpu)?)?;
            originals.insert(name, qt);
        }
        let mut hook = Hessians::default();
        let outputs = hidden
            .iter()
            .map(|x| model.layer_alone(li, x.clone(), Some(&mut hook)))
            .collect::<tradeoff_engine::Result<Vec<_>>>()?;
        for (site, (acc, tokens, n)) in hook.0 {
            // H = 2XᵀX / tokens.
            let k = 2.0 / tokens.max(1) as f64;
            let h: Vec<f64> = acc.iter().map(|&v| v as f64 * k).collect();
            drop(acc);
            // SparseGPT picks masks in the original column order.
            let ao = r.method == Method::Gptq && settings.act_order;
            let hi = obs::prepare(h, n, settings.damp, ao)?;
            for &name in site.linears() {
                let qt = &originals[name];
                let dims = qt.shape().dims().to_vec();
                let Some(t) = target_of(&format!("blk.{id}.{name}.weight"), &dims, qt.dtype())
                else {
                    continue;
                };
                let w = qt.dequantize(&Device::Cpu)?;
                let new = compress_one(r, &settings, &hi, &w, &dims, t, ao, &mut done)?;
                if settings.sequential {
                    set_dense(&mut model, li, name, new.dequantize(&Device::Cpu)?)?;
                }
                done.tensors.insert(format!("blk.{id}.{name}.weight"), new);
            }
        }
        hidden = if settings.sequential {
            hidden
                .into_iter()
                .map(|x| model.layer_alone(li, x, None))
                .collect::<tradeoff_engine::Result<Vec<_>>>()?
        } else {
            outputs
        };
        // The layer is done with: back to its stored form, not f32.
        for (name, qt) in originals {
            model.layers[li]
                .linear_mut(name)
                .expect("a linear's name")
                .weight = Weight::from_qtensor(qt, &Device::Cpu)?;
        }
        progress.inc(1);
    }
    progress.finish();
    Ok(done)
}

/// GPTQ onto the grid of `t`, or SparseGPT's pruning followed by rounding to `t`.
#[allow(clippy::too_many_arguments)]
fn compress_one(
    r: &Recipe,
    settings: &crate::GptqSettings,
    hi: &obs::HInv,
    w: &Tensor,
    dims: &[usize],
    t: GgmlDType,
    act_order: bool,
    done: &mut Done,
) -> Result<QTensor> {
    let mut wv = w.flatten_all()?.to_vec1::<f32>()?;
    if r.method == Method::Gptq {
        let qz = obs::run(&mut wv, hi, &obs::Target::Grid(t), act_order)?
            .expect("grid target returns integers");
        return quant::encode(t, dims, &qz.d, &qz.q);
    }
    let sp = r
        .sparsity()
        .ok_or_else(|| Error::Other("SparseGPT without sparsity".into()))?;
    obs::run(&mut wv, hi, &obs::Target::Prune(sp, settings.block), false)?;
    let q = quant::rtn(&Tensor::from_vec(wv, dims, &Device::Cpu)?, t)?;
    let back = q
        .dequantize(&Device::Cpu)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    done.pruned_total += back.len() as u64;
    done.pruned_nonzero += back.iter().filter(|v| **v != 0.0).count() as u64;
    Ok(q)
}

fn set_dense(model: &mut Model, li: usize, name: &str, w: Tensor) -> Result<()> {
    model.layers[li]
        .linear_mut(name)
        .ok_or_else(|| Error::Other(format!("layer {li} has no {name}")))?
        .weight = Weight::Candle(QMatMul::Tensor(w));
    Ok(())
}

/// XᵀX of each site's input, summed over the windows in f32 (as GPTQ's reference does), with
/// the token count and the width.
#[derive(Default)]
struct Hessians(HashMap<Site, (Vec<f32>, usize, usize)>);

impl Hook for Hessians {
    fn linear_input(
        &mut self,
        _layer: usize,
        site: Site,
        x: &Tensor,
    ) -> tradeoff_engine::Result<()> {
        let (t, n) = x.dims2()?;
        let xs = x.flatten_all()?.to_vec1::<f32>()?;
        let e = self
            .0
            .entry(site)
            .or_insert_with(|| (vec![0.0; n * n], 0, n));
        linalg::add_gram(&mut e.0, &xs, n);
        e.1 += t;
        Ok(())
    }
}
