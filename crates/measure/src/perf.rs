//! What a variant buys: time to first token, prefill and decode speed, end-to-end latency over a
//! fixed workload of real prompts (HumanEval), peak memory, size, load time, energy where the
//! machine exposes it, and cost per 1,000 queries at a given price per machine-hour.

use crate::machine::{peak_rss_bytes, Machine, Rapl, ENERGY_UNAVAILABLE};
use crate::stats::{bootstrap, mean, quantile_of};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::time::Instant;
use tradeoff_engine::{Engine, EngineInfo, GenParams, GenRequest};
use tradeoff_eval::prompt::Prompt;
use tradeoff_eval::{Metric, Style};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PerfOptions {
    /// The first N HumanEval problems are the workload.
    pub prompts: usize,
    pub max_new_tokens: usize,
    /// Generate exactly `max_new_tokens` per request, so variants are timed on equal work.
    pub ignore_eos: bool,
    /// Requests run (and discarded) before timing, to fault in weights and caches.
    pub warmup: usize,
    /// When > 1, also run the whole workload at once through batched generation.
    pub concurrency: usize,
    /// Price of the machine per hour (any currency), for cost per 1,000 queries.
    pub price_per_hour: f64,
    pub style: Style,
    pub bootstrap: usize,
    pub seed: u64,
}

impl Default for PerfOptions {
    fn default() -> Self {
        Self {
            prompts: 20,
            max_new_tokens: 128,
            ignore_eos: true,
            warmup: 1,
            concurrency: 8,
            price_per_hour: 1.0,
            style: Style::Instruct,
            bootstrap: 1000,
            seed: 0,
        }
    }
}

/// The model file, when there is one.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileInfo {
    pub path: String,
    pub bytes: u64,
    pub n_params: u64,
    pub bits_per_weight: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RequestPerf {
    pub task_id: String,
    pub prompt_tokens: usize,
    pub generated_tokens: usize,
    pub ttft_s: f64,
    pub prefill_s: f64,
    pub decode_s: f64,
    pub latency_s: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PerfResult {
    pub schema: u32,
    pub tradeoff_version: String,
    pub model: EngineInfo,
    pub file: Option<FileInfo>,
    pub machine: Machine,
    pub workload: String,
    pub options: PerfOptions,
    pub load_s: Option<f64>,
    pub metrics: Vec<Metric>,
    pub requests: Vec<RequestPerf>,
    /// Why a figure is missing (energy on machines without counters).
    pub notes: Vec<String>,
    pub started_unix_s: u64,
    pub duration_s: f64,
}

impl PerfResult {
    pub fn metric(&self, name: &str) -> Option<&Metric> {
        self.metrics.iter().find(|m| m.name == name)
    }
}

/// Renders the workload's prompts for `engine`: the instruct style needs a chat template.
pub fn workload(engine: &dyn Engine, o: &PerfOptions) -> Result<Vec<(String, String)>> {
    let bench = tradeoff_eval::bench::load(
        "humaneval",
        &tradeoff_eval::LoadOptions {
            cache_dir: tradeoff_assets::cache_dir(),
            data: None,
            split: None,
        },
    )?;
    let n = o.prompts.min(bench.len());
    if n == 0 {
        return Err(Error::Options(
            "the workload needs at least one prompt".into(),
        ));
    }
    (0..n)
        .map(|i| {
            let text = match bench.prompt(i, o.style) {
                Prompt::Completion { text, .. } => text,
                Prompt::Chat {
                    messages, prefill, ..
                } => engine.render_chat(&messages, true)? + &prefill,
            };
            Ok((bench.task_id(i).to_string(), text))
        })
        .collect()
}

/// Times `engine` on the workload. `load_s` and `file` come from whoever loaded the model.
pub fn run(
    engine: &mut dyn Engine,
    o: &PerfOptions,
    load_s: Option<f64>,
    file: Option<FileInfo>,
) -> Result<PerfResult> {
    let started = std::time::SystemTime::now();
    let t_all = Instant::now();
    let prompts = workload(engine, o)?;
    let params = GenParams {
        max_new_tokens: o.max_new_tokens,
        ignore_eos: o.ignore_eos,
        ..GenParams::default()
    };
    for (_, p) in prompts.iter().cycle().take(o.warmup) {
        engine.generate(
            &GenRequest::new(p.clone(), params.clone()),
            &mut |_, _, _| {},
        )?;
    }
    let rapl = Rapl::open();
    let e0 = rapl.as_ref().map(|r| r.read());
    let t0 = Instant::now();
    let bar = indicatif::ProgressBar::new(prompts.len() as u64).with_style(
        indicatif::ProgressStyle::with_template(
            "timing [{bar:30}] {pos}/{len} requests, {elapsed} (eta {eta})",
        )
        .expect("static template")
        .progress_chars("=> "),
    );
    let mut reqs = Vec::with_capacity(prompts.len());
    for (id, p) in &prompts {
        let t = Instant::now();
        let g = engine.generate(
            &GenRequest::new(p.clone(), params.clone()),
            &mut |_, _, _| {},
        )?;
        let tm = &g.timing;
        reqs.push(RequestPerf {
            task_id: id.clone(),
            prompt_tokens: tm.prompt_tokens,
            generated_tokens: tm.generated_tokens,
            ttft_s: tm.ttft_s,
            prefill_s: tm.prefill_s,
            decode_s: tm.decode_s,
            latency_s: t.elapsed().as_secs_f64(),
        });
        bar.inc(1);
    }
    bar.finish_and_clear();
    let seq_wall = t0.elapsed().as_secs_f64();
    let joules = rapl
        .as_ref()
        .zip(e0.as_ref())
        .map(|(r, e)| r.joules_since(e));
    let mut notes = Vec::new();
    let mut metrics = request_metrics(&reqs, o);
    match joules {
        Some(j) => {
            metrics.push(Metric {
                n: Some(reqs.len()),
                unit: Some("J".into()),
                ..Metric::new("energy_j_per_query", j / reqs.len() as f64, false)
            });
            metrics.push(Metric {
                unit: Some("W".into()),
                ..Metric::new("power_w", j / seq_wall, false)
            });
        }
        None => notes.push(format!("energy: {ENERGY_UNAVAILABLE}")),
    }
    let per_query = seq_wall / reqs.len() as f64;
    metrics.push(Metric {
        n: Some(reqs.len()),
        unit: Some(format!(
            "per 1k queries at {} per machine-hour",
            o.price_per_hour
        )),
        ..Metric::new(
            "cost_per_1k_queries",
            o.price_per_hour * per_query * 1000.0 / 3600.0,
            false,
        )
    });
    if o.concurrency > 1 {
        let batch: Vec<GenRequest> = prompts
            .iter()
            .map(|(_, p)| GenRequest::new(p.clone(), params.clone()))
            .collect();
        let t = Instant::now();
        let mut tokens = 0usize;
        let mut failed = None;
        engine.generate_many(&batch, &mut |_, g| match g {
            Ok(g) => tokens += g.timing.generated_tokens,
            Err(e) => failed = Some(e),
        })?;
        if let Some(e) = failed {
            return Err(e.into());
        }
        metrics.push(Metric {
            n: Some(batch.len()),
            unit: Some("tok/s".into()),
            ..Metric::new(
                "batch_decode_tok_s",
                tokens as f64 / t.elapsed().as_secs_f64(),
                true,
            )
        });
    }
    if let Some(rss) = peak_rss_bytes() {
        metrics.push(Metric {
            unit: Some("bytes".into()),
            ..Metric::new("peak_rss_bytes", rss as f64, false)
        });
    }
    if let Some(s) = load_s {
        metrics.push(Metric {
            unit: Some("s".into()),
            ..Metric::new("load_s", s, false)
        });
    }
    if let Some(f) = &file {
        metrics.push(Metric {
            unit: Some("bytes".into()),
            ..Metric::new("size_bytes", f.bytes as f64, false)
        });
        metrics.push(Metric::new("bits_per_weight", f.bits_per_weight, false));
    }
    let info = engine.info();
    Ok(PerfResult {
        schema: 1,
        tradeoff_version: env!("CARGO_PKG_VERSION").to_string(),
        machine: Machine::detect(),
        model: info,
        file,
        workload: format!(
            "first {} HumanEval prompts ({} style), {} new tokens each{}, one request at a time; batched run of all at once",
            reqs.len(),
            o.style.as_str(),
            o.max_new_tokens,
            if o.ignore_eos { " (end-of-sequence ignored)" } else { "" }
        ),
        options: o.clone(),
        load_s,
        metrics,
        requests: reqs,
        notes,
        started_unix_s: started.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
        duration_s: t_all.elapsed().as_secs_f64(),
    })
}

fn request_metrics(r: &[RequestPerf], o: &PerfOptions) -> Vec<Metric> {
    let n = r.len();
    let m = |name: &str, unit: &str, hib: bool, f: &dyn Fn(&[&RequestPerf]) -> f64| {
        let all: Vec<&RequestPerf> = r.iter().collect();
        Metric {
            ci95: bootstrap(r, o.bootstrap, o.seed, |w| f(w)),
            n: Some(n),
            unit: Some(unit.into()),
            ..Metric::new(name, f(&all), hib)
        }
    };
    let lat = |w: &[&RequestPerf], q: f64| {
        quantile_of(&w.iter().map(|x| x.latency_s).collect::<Vec<_>>(), q)
    };
    vec![
        m("ttft_s", "s", false, &|w| {
            mean(&w.iter().map(|x| x.ttft_s).collect::<Vec<_>>())
        }),
        m("prefill_tok_s", "tok/s", true, &|w| {
            w.iter().map(|x| x.prompt_tokens).sum::<usize>() as f64
                / w.iter().map(|x| x.prefill_s).sum::<f64>()
        }),
        m("decode_tok_s", "tok/s", true, &|w| {
            w.iter()
                .map(|x| x.generated_tokens.saturating_sub(1))
                .sum::<usize>() as f64
                / w.iter().map(|x| x.decode_s).sum::<f64>()
        }),
        m("latency_p50_s", "s", false, &|w| lat(w, 0.5)),
        m("latency_p90_s", "s", false, &|w| lat(w, 0.9)),
        m("latency_p99_s", "s", false, &|w| lat(w, 0.99)),
    ]
}
