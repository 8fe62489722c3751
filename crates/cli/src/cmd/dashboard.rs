//! `tradeoff dashboard`: the run store in the browser (runs, comparisons, Pareto, per-problem
//! outcomes, live progress, routing log), served on loopback by this binary.

use super::runs::StoreArg;
use anyhow::{Context, Result};
use std::path::PathBuf;
use tradeoff_serve::dashboard::{self, Dashboard};
use tradeoff_store::Store;

#[derive(clap::Args)]
#[command(after_help = "Examples:
  tradeoff dashboard --open
  tradeoff dashboard --store runs.sqlite --port 9000
  tradeoff serve --tier q4=demo:q4_0 --tier orig=demo:original   # the API and the dashboard")]
pub struct DashboardArgs {
    /// Port to listen on (0: any free one).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Address to listen on; anything but loopback shows the store to the network.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Open the page in the default browser (xdg-open).
    #[arg(long)]
    open: bool,
    #[command(flatten)]
    store: StoreArg,
}

pub fn run(a: DashboardArgs) -> Result<()> {
    let store = a.store.store.clone().unwrap_or_else(Store::default_path);
    serve(store, &format!("{}:{}", a.host, a.port), a.open)
}

/// Serves the dashboard alone (`tradeoff dashboard`, or `tradeoff serve` without variants).
pub fn serve(store: PathBuf, bind: &str, open: bool) -> Result<()> {
    // Fail now on a store that cannot be opened, not on the first page.
    Store::open(&store)?;
    let router = dashboard::router(Dashboard {
        store: store.clone(),
        app: None,
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .with_context(|| format!("cannot listen on {bind}: is another server there?"))?;
        let url = format!("http://{}/", listener.local_addr()?);
        println!("dashboard of {} on {url}", store.display());
        if open {
            open_browser(&url);
        }
        tradeoff_serve::serve_router(router, listener, super::serve::shutdown_signal()).await?;
        Ok::<_, anyhow::Error>(())
    })
}

/// Best effort: the page is printed anyway.
fn open_browser(url: &str) {
    let r = std::process::Command::new("xdg-open")
        .arg(url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if let Err(e) = r {
        eprintln!("could not open a browser (xdg-open: {e}): open {url} yourself");
    }
}
