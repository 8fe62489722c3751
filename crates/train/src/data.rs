//! Training text and its windows. The default source is the pinned CPython calibration files
//! (disjoint from the held-out quality corpus `tradeoff quality` scores); any source is
//! refused when it holds a HumanEval problem's signature or passages of the quality corpus.

use crate::{Error, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use tradeoff_assets::corpus::Corpus;
use tradeoff_engine::Tokenizer;

/// What was trained on, for the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataRecord {
    pub name: String,
    /// sha256 of the text trained on (after scrubbing).
    pub sha256: String,
    pub files: Vec<String>,
    /// Checks the text passed before training.
    pub checks: Vec<String>,
    pub train_windows: usize,
    pub val_windows: usize,
    pub seq: usize,
}

/// Non-blank lines (trimmed, 8+ chars) with their line numbers.
fn content_lines(text: &str) -> Vec<(usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i, l.trim()))
        .filter(|(_, l)| l.len() >= 8)
        .collect()
}

/// Runs of four consecutive content lines (a run shared with the quality corpus means its
/// text was copied, not that both use `return None`).
fn shingles(text: &str) -> HashSet<String> {
    let lines: Vec<&str> = content_lines(text).into_iter().map(|(_, l)| l).collect();
    lines.windows(4).map(|w| w.join("\n")).collect()
}

/// Removes every line of a four-line run that also occurs in the quality corpus (the standard
/// library repeats a few helpers between modules). Returns the text and the lines removed.
pub fn scrub(text: &str, quality: &Corpus) -> (String, usize) {
    let held_out = shingles(&quality.text);
    let lines = content_lines(text);
    let mut drop = HashSet::new();
    for w in lines.windows(4) {
        let run: Vec<&str> = w.iter().map(|(_, l)| *l).collect();
        if held_out.contains(&run.join("\n")) {
            drop.extend(w.iter().map(|(i, _)| *i));
        }
    }
    let kept: Vec<&str> = text
        .lines()
        .enumerate()
        .filter(|(i, _)| !drop.contains(i))
        .map(|(_, l)| l)
        .collect();
    (kept.join("\n"), drop.len())
}

/// Refuses text containing evaluation problems or passages of the held-out quality corpus.
pub fn check(text: &str, quality: &Corpus) -> Result<Vec<String>> {
    tradeoff_compress::check_contamination(text).map_err(|e| Error::Contaminated(e.to_string()))?;
    let held_out = shingles(&quality.text);
    if let Some(s) = shingles(text).iter().find(|s| held_out.contains(*s)) {
        return Err(Error::Contaminated(format!(
            "it shares a passage with the held-out quality corpus ({}): `{}`",
            quality.name,
            s.lines().next().unwrap_or("")
        )));
    }
    Ok(vec![
        "no HumanEval problem signature (when the data set is pulled)".into(),
        format!(
            "no run of 4 lines shared with the quality corpus {} ({})",
            quality.name, quality.sha256
        ),
    ])
}

/// Non-overlapping windows of `seq` tokens, shuffled with `seed`; the first `val` are held
/// out for validation.
pub struct Windows {
    pub train: Vec<Vec<u32>>,
    pub val: Vec<Vec<u32>>,
}

impl Windows {
    pub fn cut(tok: &Tokenizer, text: &str, seq: usize, val: usize, seed: u64) -> Result<Self> {
        let ids = tok.encode(text)?;
        let mut w: Vec<Vec<u32>> = ids.chunks_exact(seq).map(|c| c.to_vec()).collect();
        if w.len() <= val {
            return Err(Error::Config(format!(
                "training text has {} windows of {seq} tokens; {val} are held out for validation",
                w.len()
            )));
        }
        w.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        let train = w.split_off(val);
        Ok(Self { train, val: w })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quality_corpus_passages_are_refused_until_scrubbed() {
        let q = tradeoff_assets::corpus::eval_corpus().unwrap();
        let c = tradeoff_assets::corpus::calibration_corpus().unwrap();
        let mut leaked = c.text.clone();
        leaked.push_str(&q.text[q.text.len() / 2..q.text.len() / 2 + 2000]);
        let e = check(&leaked, &q).unwrap_err();
        assert!(matches!(e, Error::Contaminated(_)), "{e}");
        // The calibration files share a few helpers with the held-out ones: scrubbed, they pass.
        let (clean, removed) = scrub(&c.text, &q);
        assert!(removed > 0 && removed < 200, "{removed} lines removed");
        check(&clean, &q).unwrap();
        let (clean, more) = scrub(&leaked, &q);
        assert!(more > removed);
        check(&clean, &q).unwrap();
    }
}
