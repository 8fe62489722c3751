pub mod compress;
pub mod dashboard;
pub mod eval;
pub mod export;
pub mod generate;
pub mod measure;
pub mod models;
pub mod report;
pub mod route;
pub mod runs;
pub mod serve;
pub mod store_log;
pub mod sweep;
pub mod train;

/// A bar for long loops, on stderr, hidden when it is not a terminal.
pub fn progress_bar(len: u64, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({eta})")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}
