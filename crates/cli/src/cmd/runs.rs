//! `tradeoff runs list|show|diff|rm`: what the run store holds.

use anyhow::{Context, Result};
use clap::Subcommand;
use std::path::PathBuf;
use tradeoff_store::{format_unix, ExportOptions, Store};

/// Where the run store is.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct StoreArg {
    /// Run store (SQLite file) [default: $TRADEOFF_HOME/runs.sqlite, i.e.
    /// ~/.cache/tradeoff/runs.sqlite].
    #[arg(long, env = "TRADEOFF_STORE", value_name = "PATH")]
    pub store: Option<PathBuf>,
}

impl StoreArg {
    pub fn open(&self) -> Result<Store> {
        let path = self.store.clone().unwrap_or_else(Store::default_path);
        Ok(Store::open(&path)?)
    }
}

#[derive(Subcommand)]
pub enum RunsCmd {
    /// List the runs in the store, newest first.
    List {
        #[command(flatten)]
        store: StoreArg,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Show one run: machine, build, variants, results and their metrics (--json adds the
    /// variants' manifests).
    Show {
        /// Run id or name [default: the latest run].
        run: Option<String>,
        #[command(flatten)]
        store: StoreArg,
        /// Print JSON (run, variants with manifests, results with metrics).
        #[arg(long)]
        json: bool,
        /// Print only the run's sweep config, verbatim: `tradeoff sweep` on it resumes the run
        /// (an imported one too).
        #[arg(long, conflicts_with = "json")]
        config: bool,
    },
    /// Compare two runs metric by metric (matched by variant, result and metric name).
    Diff {
        /// Run id or name.
        a: String,
        /// Run id or name.
        b: String,
        #[command(flatten)]
        store: StoreArg,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Write a run as JSON lines (run, variants with manifests, metrics, per-problem outcomes),
    /// gzipped when FILE ends in .gz: `runs import` rebuilds it in another store. Prompts are
    /// stored as hashes, so an export holds model outputs, never benchmark text.
    Export {
        /// Run id or name.
        run: String,
        /// Output file (.jsonl, or .jsonl.gz to compress).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Leave the completions out (pass/fail, tokens and timings stay).
        #[arg(long)]
        no_completions: bool,
        /// Include results still running, with the samples they have: import the file on
        /// another machine and rerun the sweep there to finish them.
        #[arg(long)]
        unfinished: bool,
        #[command(flatten)]
        store: StoreArg,
    },
    /// Load a run written by `runs export` (gzipped or not) into the store. Variants and
    /// results keep their content hashes: importing again adds nothing twice.
    Import {
        /// The export file.
        file: PathBuf,
        /// Name the imported run [default: its name in the export].
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        store: StoreArg,
    },
    /// Remove runs, with the results and variants no other run uses. Artifact files on disk
    /// are not deleted; their paths are printed.
    Rm {
        /// Run ids or names.
        #[arg(required = true)]
        runs: Vec<String>,
        #[command(flatten)]
        store: StoreArg,
    },
}

pub fn run(c: RunsCmd) -> Result<()> {
    match c {
        RunsCmd::List { store, json } => list(&store.open()?, json),
        RunsCmd::Show {
            run,
            store,
            config: true,
            ..
        } => {
            print!(
                "{}",
                store
                    .open()?
                    .resolve_run(run.as_deref().unwrap_or("latest"))?
                    .config
            );
            Ok(())
        }
        RunsCmd::Show {
            run, store, json, ..
        } => show(&store.open()?, run.as_deref(), json),
        RunsCmd::Diff { a, b, store, json } => diff(&store.open()?, &a, &b, json),
        RunsCmd::Rm { runs, store } => rm(&mut store.open()?, &runs),
        RunsCmd::Export {
            run,
            out,
            no_completions,
            unfinished,
            store,
        } => export(
            &store.open()?,
            &run,
            &out,
            ExportOptions {
                completions: !no_completions,
                unfinished,
            },
        ),
        RunsCmd::Import { file, name, store } => import(&mut store.open()?, &file, name.as_deref()),
    }
}

fn is_gz(p: &std::path::Path) -> bool {
    p.extension().is_some_and(|e| e == "gz")
}

fn export(st: &Store, run: &str, out: &std::path::Path, opts: ExportOptions) -> Result<()> {
    let run = st.resolve_run(run)?;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    // Written beside the target and renamed, so an interrupted export leaves no half file.
    let tmp = out.with_extension("partial");
    let file =
        std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let mut w: Box<dyn std::io::Write> = if is_gz(out) {
        Box::new(flate2::write::GzEncoder::new(
            file,
            flate2::Compression::best(),
        ))
    } else {
        Box::new(std::io::BufWriter::new(file))
    };
    let rep = st.export_run(&run, opts, &mut w)?;
    w.flush()?;
    drop(w);
    std::fs::rename(&tmp, out).with_context(|| format!("writing {}", out.display()))?;
    println!(
        "exported run '{}': {} variants, {} results ({} unfinished), {} samples -> {}",
        run.name,
        rep.variants,
        rep.results,
        rep.unfinished,
        rep.samples,
        out.display()
    );
    Ok(())
}

fn import(st: &mut Store, file: &std::path::Path, name: Option<&str>) -> Result<()> {
    let f = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let mut r: Box<dyn std::io::BufRead> = if is_gz(file) {
        Box::new(std::io::BufReader::new(flate2::read::GzDecoder::new(f)))
    } else {
        Box::new(std::io::BufReader::new(f))
    };
    let rep = st
        .import_run(&mut r, name)
        .with_context(|| format!("importing {}", file.display()))?;
    println!(
        "imported run '{}' into {}: {} variants, {} results added ({} already present, {} unfinished: rerun the sweep to finish them), {} samples",
        rep.run,
        st.path().display(),
        rep.variants,
        rep.results_added,
        rep.results_present,
        rep.results_unfinished,
        rep.samples
    );
    Ok(())
}

fn list(st: &Store, json: bool) -> Result<()> {
    let runs = st.list_runs()?;
    if json {
        println!("{}", serde_json::to_string_pretty(&runs)?);
        return Ok(());
    }
    if runs.is_empty() {
        println!("no runs in {}", st.path().display());
        return Ok(());
    }
    println!(
        "{:>4}  {:<28} {:<8} {:<19}  {:>8} {:>8} {:>7}",
        "id", "name", "status", "started (UTC)", "variants", "results", "reused"
    );
    for r in runs {
        println!(
            "{:>4}  {:<28} {:<8} {:<19}  {:>8} {:>8} {:>7}",
            r.id,
            r.name,
            r.status.as_str(),
            format_unix(r.started_unix),
            r.variants,
            r.results,
            r.reused
        );
    }
    Ok(())
}

fn show(st: &Store, run: Option<&str>, json: bool) -> Result<()> {
    let run = st.resolve_run(run.unwrap_or("latest"))?;
    let variants = st.variants(run.id)?;
    let results = st.results(run.id)?;
    if json {
        let v = serde_json::json!({"run": run, "variants": variants, "results": results});
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let m = &run.machine;
    println!("run {} '{}' ({})", run.id, run.name, run.status.as_str());
    println!(
        "  started {} UTC{}",
        format_unix(run.started_unix),
        run.ended_unix
            .map(|e| format!(", ended {} UTC", format_unix(e)))
            .unwrap_or_default()
    );
    println!(
        "  tradeoff {} (git {})",
        run.tool_version,
        run.git_rev.as_deref().unwrap_or("unknown")
    );
    println!(
        "  machine: {} · {} threads · {:.1} GiB · GPU {} · {}",
        m.cpu,
        m.threads,
        m.ram_bytes as f64 / (1u64 << 30) as f64,
        m.gpu.as_deref().unwrap_or("none"),
        m.os
    );
    println!("  config sha256 {}", run.config_sha256);
    println!("variants:");
    for v in &variants {
        let x = &v.variant;
        println!(
            "  {:<10} {:<20} {}  {}  {}",
            v.role.as_str(),
            x.label,
            &x.id[..12],
            tradeoff_store::canonical_json(&x.recipe),
            x.artifact_path
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        );
        if let Some(n) = &x.note {
            println!("             note: {n}");
        }
    }
    println!("results:");
    let label = |id: &str| {
        variants
            .iter()
            .find(|v| v.variant.id == id)
            .map_or("?", |v| v.variant.label.as_str())
            .to_string()
    };
    for r in &results {
        println!(
            "  #{:<5} {:<20} {:<7} {:<16} {}{}",
            r.id,
            label(&r.variant),
            r.kind.as_str(),
            r.name,
            r.status.as_str(),
            if r.reused { " (reused)" } else { "" }
        );
        for mt in &r.metrics {
            let ci = mt
                .ci95
                .map(|(a, b)| format!(" [{a:.4}, {b:.4}]"))
                .unwrap_or_default();
            println!(
                "          {:<24} {:.4}{ci}{}",
                mt.name,
                mt.value,
                mt.unit
                    .as_ref()
                    .map(|u| format!(" {u}"))
                    .unwrap_or_default()
            );
        }
        if let Some(e) = &r.error {
            println!("          error: {e}");
        }
    }
    Ok(())
}

fn diff(st: &Store, a: &str, b: &str, json: bool) -> Result<()> {
    let (ra, rb) = (st.resolve_run(a)?, st.resolve_run(b)?);
    let d = st.diff(&ra, &rb)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&d)?);
        return Ok(());
    }
    println!("a = {} ({}), b = {} ({})", ra.name, ra.id, rb.name, rb.id);
    if d.same_config {
        println!("config: same");
    } else {
        println!("config differs:");
        for l in &d.config_lines {
            println!("  {l}");
        }
    }
    if !d.same_machine {
        println!("machine differs: perf numbers are not comparable");
    }
    let f = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x:.4}"));
    println!(
        "{:<20} {:<24} {:<24} {:>10} {:>10} {:>10}",
        "variant", "result", "metric", "a", "b", "b - a"
    );
    for r in &d.rows {
        let delta = match (r.a, r.b) {
            (Some(x), Some(y)) => format!("{:+.4}", y - x),
            _ => String::new(),
        };
        println!(
            "{:<20} {:<24} {:<24} {:>10} {:>10} {:>10}",
            r.label,
            format!("{} {}", r.kind.as_str(), r.result),
            r.metric,
            f(r.a),
            f(r.b),
            delta
        );
    }
    Ok(())
}

fn rm(st: &mut Store, runs: &[String]) -> Result<()> {
    for name in runs {
        let run = st.resolve_run(name)?;
        let r = st
            .rm_run(&run)
            .with_context(|| format!("removing run '{name}'"))?;
        println!(
            "removed run {} '{}': {} results and {} variants no other run uses",
            run.id, r.run, r.results_removed, r.variants_removed
        );
        for p in r.unreferenced_artifacts {
            println!("  artifact left on disk: {}", p.display());
        }
    }
    Ok(())
}
