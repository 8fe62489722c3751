use anyhow::{bail, Result};
use clap::Args;
use std::collections::BTreeMap;
use std::path::PathBuf;
use tradeoff_compress::{Bars, Calibration, Options, Recipe};

#[derive(Args)]
pub struct CompressArgs {
    /// Base model: catalog name (e.g. smollm2-135m) or GGUF file.
    #[arg(long, short, required_unless_present = "list")]
    pub model: Option<String>,
    /// Built-in recipe name (see --list) or a TOML recipe file.
    #[arg(long, short, required_unless_present = "list")]
    pub recipe: Option<String>,
    /// Output folder: model.gguf and manifest.json are written there.
    #[arg(long, short, required_unless_present = "list")]
    pub out: Option<PathBuf>,
    /// Calibration text: JSONL with a "text" field, or a folder of files (default: the
    /// pinned CPython standard-library files, disjoint from the evaluation corpus).
    #[arg(long)]
    pub calibration: Option<PathBuf>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// List the built-in recipes.
    #[arg(long)]
    pub list: bool,
}

pub fn run(a: CompressArgs) -> Result<()> {
    if a.list {
        for (name, desc) in Recipe::builtin() {
            println!("{name:<16} {desc}");
        }
        return Ok(());
    }
    let (Some(model), Some(recipe), Some(out)) = (a.model, a.recipe, a.out) else {
        bail!("--model, --recipe and --out are required");
    };
    let recipe = Recipe::load(&recipe)?;
    let m = tradeoff_compress::compress(&Options {
        model: &model,
        recipe: &recipe,
        out_dir: &out,
        calibration: a.calibration.map_or(Calibration::Stdlib, Calibration::Path),
        seed: a.seed,
        progress: &Bars::new(),
    })?;
    println!("recipe      {} ({})", recipe.name, recipe.short_hash());
    println!(
        "size        {:.1} MB, {:.2} bits/weight, {} params",
        m.size_bytes as f64 / 1e6,
        m.bits_per_weight,
        m.n_params
    );
    println!(
        "wall time   {:.1} s, peak RSS {}",
        m.wall_s,
        m.peak_rss_bytes
            .map_or("?".into(), |b| format!("{:.0} MB", b as f64 / 1e6))
    );
    if !m.fallbacks.is_empty() {
        let mut kinds: BTreeMap<(&str, &str), usize> = BTreeMap::new();
        for f in &m.fallbacks {
            *kinds.entry((&f.wanted, &f.used)).or_default() += 1;
        }
        let kinds: Vec<String> = kinds
            .iter()
            .map(|((w, u), n)| format!("{n} {w} → {u}"))
            .collect();
        println!(
            "fallbacks   {} (rows not a multiple of the block; manifest.json lists them)",
            kinds.join(", ")
        );
    }
    if !m.dropped_layers.is_empty() {
        println!("dropped     layers {:?}", m.dropped_layers);
    }
    if let Some(nz) = m.nonzero_fraction {
        println!(
            "nonzero     {:.1}% of pruned weights; zstd {:.1} MB",
            nz * 100.0,
            m.zstd_size_bytes.unwrap_or(0) as f64 / 1e6
        );
    }
    for n in &m.notes {
        println!("note        {n}");
    }
    println!("{}", out.join(&m.artifact).display());
    Ok(())
}
