//! The teacher's top-k log-probabilities of every window position, computed once by the
//! engine's own (forward-only) model and cached on disk beside the artifact.

use crate::error::io;
use crate::objective::TopK;
use crate::Result;
use std::io::{Read, Write};
use std::path::Path;
use tradeoff_engine::Model;

/// Top-k ids (sorted, most likely first) and log-probs of each position of each window.
pub struct TeacherCache {
    pub k: usize,
    pub seq: usize,
    ids: Vec<u32>,
    logp: Vec<f32>,
}

impl TeacherCache {
    /// Runs `model` over `windows` (each `seq` tokens); `tick` is called per window.
    pub fn compute(
        model: &Model,
        windows: &[Vec<u32>],
        k: usize,
        mut tick: impl FnMut(),
    ) -> Result<Self> {
        let v = model.cfg.vocab_size;
        let k = k.min(v);
        let seq = windows.first().map_or(0, |w| w.len());
        let (mut ids, mut logp) = (Vec::new(), Vec::new());
        for w in windows {
            let rows = model.logits_all(w, None)?.flatten_all()?.to_vec1::<f32>()?;
            for r in rows.chunks_exact(v) {
                top_k(r, k, &mut ids, &mut logp);
            }
            tick();
        }
        Ok(Self { k, seq, ids, logp })
    }

    /// The rows of windows `idx` (in that order), as one batch.
    pub fn batch(&self, idx: &[usize]) -> (Vec<u32>, Vec<f32>) {
        let n = self.seq * self.k;
        let mut ids = Vec::with_capacity(idx.len() * n);
        let mut logp = Vec::with_capacity(idx.len() * n);
        for &i in idx {
            ids.extend_from_slice(&self.ids[i * n..(i + 1) * n]);
            logp.extend_from_slice(&self.logp[i * n..(i + 1) * n]);
        }
        (ids, logp)
    }

    pub fn view<'a>(&self, b: &'a (Vec<u32>, Vec<f32>)) -> TopK<'a> {
        TopK {
            k: self.k,
            ids: &b.0,
            logp: &b.1,
        }
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let tmp = path.with_extension("partial");
        let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp).map_err(io(&tmp))?);
        let mut w = |b: &[u8]| f.write_all(b).map_err(io(&tmp));
        w(&(self.k as u64).to_le_bytes())?;
        w(&(self.seq as u64).to_le_bytes())?;
        w(&(self.ids.len() as u64).to_le_bytes())?;
        for x in &self.ids {
            w(&x.to_le_bytes())?;
        }
        for x in &self.logp {
            w(&x.to_le_bytes())?;
        }
        f.flush().map_err(io(&tmp))?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(io(path))
    }

    pub fn load(path: &Path) -> Result<Self> {
        let mut b = Vec::new();
        std::fs::File::open(path)
            .and_then(|mut f| f.read_to_end(&mut b))
            .map_err(io(path))?;
        let word = |i: usize| u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
        let (k, seq, n) = (word(0) as usize, word(1) as usize, word(2) as usize);
        let body = &b[24..];
        if body.len() != n * 8 {
            return Err(crate::Error::Config(format!(
                "{}: truncated teacher cache",
                path.display()
            )));
        }
        let four = |c: &[u8]| -> [u8; 4] { c.try_into().expect("4 bytes") };
        let ids = body[..n * 4]
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(four(c)))
            .collect();
        let logp = body[n * 4..]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(four(c)))
            .collect();
        Ok(Self { k, seq, ids, logp })
    }
}

/// Appends the k largest entries of one logits row as (id, log-prob), most likely first.
fn top_k(r: &[f32], k: usize, ids: &mut Vec<u32>, logp: &mut Vec<f32>) {
    let m = r.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let lse = m + r.iter().map(|&x| (x as f64 - m).exp()).sum::<f64>().ln();
    let mut idx: Vec<u32> = (0..r.len() as u32).collect();
    let by = |a: &u32, b: &u32| r[*b as usize].total_cmp(&r[*a as usize]).then(a.cmp(b));
    idx.select_nth_unstable_by(k - 1, by);
    idx.truncate(k);
    idx.sort_unstable_by(by);
    for i in idx {
        ids.push(i);
        logp.push((r[i as usize] as f64 - lse) as f32);
    }
}
