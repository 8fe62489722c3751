//! Trade-off analysis of a stored run and its outputs.
//!
//! [`analyse`] turns a run from the store into a [`Report`]: every variant × metric with its
//! 95% CI, paired comparisons against the baseline (Δpass@1 with Newcombe's paired CI for one
//! sample per problem or a paired-bootstrap CI, exact McNemar on each problem's first sample
//! with Holm's correction across the report), Pareto frontiers for each quality × cost pair
//! with the area under the cost–quality hull, and the per-problem outcome matrix. [`write`]
//! renders it as self-contained HTML, CSV and JSON (and PDF when a headless Chromium is
//! installed); [`mlflow`] exports the run to an MLflow tracking server.

mod analysis;
mod export;
pub mod fmt;
mod html;
pub mod mlflow;
pub mod pdf;
pub mod routing;
pub mod stats;
pub mod svg;

pub use analysis::{
    analyse, Comparison, Frontier, Heatmap, Options, Point, Rate, Report, Row, VariantInfo,
    SIZE_METRIC,
};
pub use export::{csv, json, CSV_COLUMNS};
pub use html::render as html;

use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] tradeoff_store::Error),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("MLflow at {url}: {msg}")]
    Mlflow { url: String, msg: String },
}

pub type Result<T> = std::result::Result<T, Error>;

/// The files [`write`] produced.
#[derive(Debug, Clone)]
pub struct Written {
    pub html: PathBuf,
    pub csv: PathBuf,
    pub json: PathBuf,
    pub pdf: pdf::Pdf,
}

/// Writes `<dir>/<stem>.html`, `.csv`, `.json`, and `.pdf` when `pdf` and a browser is found.
pub fn write(report: &Report, dir: &Path, stem: &str, want_pdf: bool) -> Result<Written> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let put = |ext: &str, text: String| -> Result<PathBuf> {
        let path = dir.join(format!("{stem}.{ext}"));
        std::fs::write(&path, text).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        Ok(path)
    };
    let html = put("html", html::render(report))?;
    let csv = put("csv", export::csv(report))?;
    let json = put("json", export::json(report))?;
    let pdf = if !want_pdf {
        pdf::Pdf::Skipped("not asked for".into())
    } else {
        match pdf::find_browser() {
            Some(b) => pdf::print(&b, &html, &dir.join(format!("{stem}.pdf")), Duration::from_secs(120)),
            None => pdf::Pdf::Skipped(
                "no headless Chromium on PATH (chromium, chromium-browser, google-chrome); `apt-get install chromium` adds one".into(),
            ),
        }
    };
    Ok(Written {
        html,
        csv,
        json,
        pdf,
    })
}
