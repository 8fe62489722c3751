//! The code corpora tradeoff measures with: pinned files of the CPython standard library that
//! ships with python3. One list is held out for perplexity / KL divergence, the other feeds
//! calibration (imatrix, GPTQ, Wanda, SparseGPT); they never overlap.

use crate::{io_err, AssetError, Result};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Held out: perplexity and KL divergence against the baseline.
pub const EVAL_FILES: &[&str] = &[
    "argparse.py",
    "difflib.py",
    "enum.py",
    "fractions.py",
    "heapq.py",
    "ipaddress.py",
    "pprint.py",
    "shutil.py",
    "statistics.py",
    "textwrap.py",
    "tokenize.py",
    "traceback.py",
];

/// Calibration data for compression recipes.
pub const CALIBRATION_FILES: &[&str] = &[
    "ast.py",
    "calendar.py",
    "configparser.py",
    "contextlib.py",
    "dataclasses.py",
    "datetime.py",
    "functools.py",
    "inspect.py",
    "pathlib.py",
    "pickle.py",
    "random.py",
    "subprocess.py",
    "tarfile.py",
    "threading.py",
    "typing.py",
    "zipfile.py",
];

/// A corpus as text, with what identifies it in result records.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Corpus {
    pub name: String,
    /// Files joined with a blank line, in list order.
    #[serde(skip)]
    pub text: String,
    /// sha256 of `text`: results computed on different Python versions are not comparable.
    pub sha256: String,
    pub files: Vec<String>,
    pub root: PathBuf,
}

/// The standard library folder of `python3` (or `$TRADEOFF_PYTHON`).
pub fn stdlib_root() -> Result<PathBuf> {
    let python = std::env::var("TRADEOFF_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(&python)
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['stdlib'])",
        ])
        .output()
        .map_err(io_err(Path::new(&python)))?;
    if !out.status.success() {
        return Err(AssetError::Io {
            path: PathBuf::from(&python),
            source: std::io::Error::other("could not ask python3 for its standard library path"),
        });
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// Reads one of the pinned lists ("eval" or "calibration") from the standard library.
pub fn stdlib_corpus(name: &str, files: &[&str]) -> Result<Corpus> {
    let root = stdlib_root()?;
    let mut text = String::new();
    for f in files {
        let p = root.join(f);
        let t = std::fs::read_to_string(&p).map_err(io_err(&p))?;
        if !text.is_empty() {
            text.push_str("\n\n");
        }
        text.push_str(&t);
    }
    Ok(Corpus {
        name: name.to_string(),
        sha256: hex::encode(Sha256::digest(text.as_bytes())),
        text,
        files: files.iter().map(|s| s.to_string()).collect(),
        root,
    })
}

pub fn eval_corpus() -> Result<Corpus> {
    stdlib_corpus("cpython-stdlib-eval", EVAL_FILES)
}

pub fn calibration_corpus() -> Result<Corpus> {
    stdlib_corpus("cpython-stdlib-calibration", CALIBRATION_FILES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_disjoint_and_readable() {
        assert!(EVAL_FILES.iter().all(|f| !CALIBRATION_FILES.contains(f)));
        let e = eval_corpus().unwrap();
        let c = calibration_corpus().unwrap();
        assert!(
            e.text.len() > 200_000 && c.text.len() > 400_000,
            "{} {}",
            e.text.len(),
            c.text.len()
        );
        assert_ne!(e.sha256, c.sha256);
    }
}
