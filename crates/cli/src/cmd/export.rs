//! `tradeoff export mlflow`: a stored run into an MLflow tracking server.

use super::runs::StoreArg;
use anyhow::Result;
use clap::Subcommand;
use tradeoff_report::mlflow::{export, Artifacts, Client};
use tradeoff_report::{analyse, Options};

#[derive(Subcommand)]
pub enum ExportCmd {
    /// Log a run to MLflow through its REST API: one parent run (config, machine, report as
    /// artifacts) and one child run per variant (recipe as params; every metric with its CI,
    /// Δ and McNemar p vs the baseline as metrics; manifest and records as artifacts).
    #[command(after_help = "\
Artifacts are uploaded through the server's mlflow-artifacts proxy (the default of \
`mlflow server`); a server without it gets their locations as tags, and the command says so. \
A bearer token is read from $MLFLOW_TRACKING_TOKEN.

Example:
  mlflow server --host 127.0.0.1 --port 5000 &
  tradeoff export mlflow --tracking-uri http://127.0.0.1:5000 my-sweep")]
    Mlflow(MlflowArgs),
}

#[derive(clap::Args, Debug)]
pub struct MlflowArgs {
    /// Run id or name [default: the latest run].
    pub run: Option<String>,
    /// The tracking server's base URL.
    #[arg(long, env = "MLFLOW_TRACKING_URI", value_name = "URL")]
    pub tracking_uri: String,
    /// Experiment to log into (created if missing).
    #[arg(long, default_value = "tradeoff")]
    pub experiment: String,
    #[command(flatten)]
    pub store: StoreArg,
}

pub fn run(c: ExportCmd) -> Result<()> {
    let ExportCmd::Mlflow(a) = c;
    let store = a.store.open()?;
    let run = store.resolve_run(a.run.as_deref().unwrap_or("latest"))?;
    let report = analyse(&store, &run, &Options::default())?;
    let client = Client::new(&a.tracking_uri);
    let e = export(&client, &store, &report, &a.experiment)?;
    println!(
        "exported run '{}' to experiment '{}' ({}): MLflow run {}",
        run.name, a.experiment, e.experiment_id, e.parent_run_id
    );
    for (label, id) in &e.variant_runs {
        println!("  {label}: {id}");
    }
    match e.artifacts {
        Artifacts::Uploaded(n) => println!("  {n} artifacts uploaded through mlflow-artifacts"),
        Artifacts::LoggedAsTags(why) => println!("  artifacts not uploaded: {why}"),
    }
    Ok(())
}
