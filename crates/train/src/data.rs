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
    /// Ids of the documents the windows were cut from (distill: the MBPP task ids whose
    /// answers passed; sft: every training problem). A budget smaller than the text trains on
    /// a shuffled subset of the windows, so this is what the variant may have seen.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub documents: Vec<String>,
}

/// One training document: a prompt and its answer as the model sees them (chat template
/// applied), with the id of the problem it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Doc {
    /// `Mbpp/<task id>`.
    pub id: String,
    pub text: String,
}

/// MBPP task ids that training documents may come from: the validation (511-600) and train
/// (601-974) splits. The test split (11-510) is what `tradeoff eval --bench mbpp` scores, and
/// 1-10 are its few-shot examples.
pub const MBPP_TRAINABLE: std::ops::RangeInclusive<u32> = 511..=974;

/// Refuses documents from a problem that is evaluated (an MBPP id outside
/// [`MBPP_TRAINABLE`], any other benchmark's id) or whose text holds a HumanEval problem or a
/// passage of the quality corpus.
pub fn check_docs(docs: &[Doc]) -> Result<Vec<String>> {
    if docs.is_empty() {
        return Err(Error::Config("no training documents".into()));
    }
    for d in docs {
        let id =
            d.id.strip_prefix("Mbpp/")
                .and_then(|n| n.parse::<u32>().ok());
        if !id.is_some_and(|n| MBPP_TRAINABLE.contains(&n)) {
            return Err(Error::Contaminated(format!(
                "document {} is not an MBPP problem with task id 511-974 (11-510 are evaluated)",
                d.id
            )));
        }
    }
    let quality = tradeoff_assets::corpus::eval_corpus()?;
    let mut checks = check(&join_docs(docs), &quality)?;
    checks.push(format!(
        "{} documents, all MBPP task ids 511-974 (the evaluated test split is 11-510)",
        docs.len()
    ));
    Ok(checks)
}

/// The documents as one text, a blank line apart.
pub fn join_docs(docs: &[Doc]) -> String {
    docs.iter()
        .map(|d| d.text.as_str())
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// `per` windows of `a` for each window of `b`, `need` in all (fewer when both run out); each
/// window says whether it came from `a`.
pub fn interleave(
    a: Vec<Vec<u32>>,
    b: Vec<Vec<u32>>,
    per: usize,
    need: usize,
) -> Vec<(bool, Vec<u32>)> {
    let (mut a, mut b) = (a.into_iter(), b.into_iter());
    let mut out = Vec::with_capacity(need);
    while out.len() < need {
        let take_b = out.len() % (per + 1) == per;
        let next = if take_b {
            b.next()
                .map(|w| (false, w))
                .or_else(|| a.next().map(|w| (true, w)))
        } else {
            a.next()
                .map(|w| (true, w))
                .or_else(|| b.next().map(|w| (false, w)))
        };
        match next {
            Some(w) => out.push(w),
            None => break,
        }
    }
    out
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

    fn doc(id: &str) -> Doc {
        Doc {
            id: id.into(),
            text: format!("def f_{}(x):\n    return x\n", id.len()),
        }
    }

    #[test]
    fn documents_from_evaluated_problems_are_refused() {
        check_docs(&[doc("Mbpp/511"), doc("Mbpp/974")]).unwrap();
        for bad in [
            "Mbpp/510",
            "Mbpp/11",
            "Mbpp/2",
            "Mbpp/975",
            "HumanEval/0",
            "601",
        ] {
            let e = check_docs(&[doc("Mbpp/600"), doc(bad)]).unwrap_err();
            assert!(matches!(e, Error::Contaminated(_)), "{bad}: {e}");
        }
        assert!(check_docs(&[]).is_err());
    }

    #[test]
    fn interleave_keeps_the_ratio_then_fills_from_what_is_left() {
        let w = |n: u32| (0..n).map(|i| vec![i]).collect::<Vec<_>>();
        let from_a: Vec<bool> = interleave(w(10), w(10), 3, 8).iter().map(|p| p.0).collect();
        assert_eq!(from_a, [true, true, true, false, true, true, true, false]);
        let from_a: Vec<bool> = interleave(w(2), w(10), 3, 5).iter().map(|p| p.0).collect();
        assert_eq!(from_a, [true, true, false, false, false]);
        assert_eq!(interleave(w(2), w(1), 3, 10).len(), 3);
    }
}
