//! Exact match: the share of hypotheses equal to their reference.

use serde::{Deserialize, Serialize};

use crate::text::py_split;
use crate::{Error, Result};

/// How two snippets are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExactMatch {
    /// Byte-for-byte equal.
    Strict,
    /// Equal as sequences of whitespace-separated tokens (the tokens CodeBLEU's n-gram
    /// match sees): differences in spacing, indentation and line breaks are ignored, even
    /// where, as in Python, indentation changes the meaning.
    Whitespace,
}

/// The share of hypotheses that match their reference under `mode`, in [0, 1].
pub fn exact_match<R: AsRef<str>, H: AsRef<str>>(
    references: &[R],
    hypotheses: &[H],
    mode: ExactMatch,
) -> Result<f64> {
    if references.len() != hypotheses.len() {
        return Err(Error::LengthMismatch {
            references: references.len(),
            hypotheses: hypotheses.len(),
        });
    }
    if hypotheses.is_empty() {
        return Err(Error::EmptyCorpus);
    }
    let same = |r: &str, h: &str| match mode {
        ExactMatch::Strict => r == h,
        ExactMatch::Whitespace => py_split(r) == py_split(h),
    };
    let matches = references
        .iter()
        .zip(hypotheses)
        .filter(|(r, h)| same(r.as_ref(), h.as_ref()))
        .count();
    Ok(matches as f64 / hypotheses.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_and_whitespace() {
        let refs = ["a = 1\nb = 2", "x"];
        let hyps = ["a  = 1\n\n  b = 2 ", "x"];
        assert_eq!(exact_match(&refs, &hyps, ExactMatch::Strict).unwrap(), 0.5);
        assert_eq!(
            exact_match(&refs, &hyps, ExactMatch::Whitespace).unwrap(),
            1.0
        );
        assert!(exact_match(&refs, &hyps[..1], ExactMatch::Strict).is_err());
    }
}
