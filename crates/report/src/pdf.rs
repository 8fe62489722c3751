//! PDF through a headless Chromium, when one is installed.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BROWSERS: &[&str] = &[
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
];

/// What became of the PDF.
#[derive(Debug, Clone, PartialEq)]
pub enum Pdf {
    Written(PathBuf),
    /// Not written, and why (no browser, or it failed).
    Skipped(String),
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The first headless-capable browser on PATH.
pub fn find_browser() -> Option<PathBuf> {
    BROWSERS.iter().find_map(|b| on_path(b))
}

/// Prints `html` to `pdf` with `browser`; gives up after `timeout`.
pub fn print(browser: &Path, html: &Path, pdf: &Path, timeout: Duration) -> Pdf {
    let html = match html.canonicalize() {
        Ok(p) => p,
        Err(e) => return Pdf::Skipped(format!("{}: {e}", html.display())),
    };
    let child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-pdf-header-footer",
        ])
        .arg(format!("--print-to-pdf={}", pdf.display()))
        .arg(format!("file://{}", html.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return Pdf::Skipped(format!("{} did not start: {e}", browser.display())),
    };
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(st)) if st.success() && pdf.is_file() => {
                return Pdf::Written(pdf.to_path_buf())
            }
            Ok(Some(st)) => return Pdf::Skipped(format!("{} exited with {st}", browser.display())),
            Ok(None) if start.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Pdf::Skipped(format!(
                    "{} took over {}s",
                    browser.display(),
                    timeout.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => return Pdf::Skipped(format!("{}: {e}", browser.display())),
        }
    }
}
