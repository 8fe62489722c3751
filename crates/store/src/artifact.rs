//! Content hashes of artifacts on disk: a file, or a folder (a Hugging Face model directory).

use crate::{Error, Result};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// sha256 and size in bytes of a file, or of a folder: the sha256 of its sorted
/// `relative/path <TAB> sha256` lines, and the total size of its files.
pub fn hash_artifact(path: &Path) -> Result<(String, u64)> {
    let meta = std::fs::metadata(path).map_err(io(path))?;
    if meta.is_file() {
        let mut f = std::fs::File::open(path).map_err(io(path))?;
        let mut h = Sha256::new();
        std::io::copy(&mut f, &mut h).map_err(io(path))?;
        return Ok((hex::encode(h.finalize()), meta.len()));
    }
    let mut files = Vec::new();
    walk(path, &mut files)?;
    files.sort();
    let mut h = Sha256::new();
    let mut size = 0;
    for f in &files {
        let (sha, n) = hash_artifact(f)?;
        let rel = f.strip_prefix(path).unwrap_or(f);
        h.update(format!("{}\t{sha}\n", rel.to_string_lossy()).as_bytes());
        size += n;
    }
    Ok((hex::encode(h.finalize()), size))
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for e in std::fs::read_dir(dir).map_err(io(dir))? {
        let p = e.map_err(io(dir))?.path();
        if p.is_dir() {
            walk(&p, out)?;
        } else {
            out.push(p);
        }
    }
    Ok(())
}
