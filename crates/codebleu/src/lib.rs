//! CodeBLEU, BLEU-4 and exact match for generated code.
//!
//! [`codebleu`] reimplements `calc_codebleu` of the `codebleu` Python package, version
//! 0.7.0, component by component, and agrees with it (checked by
//! `scripts/check-codebleu.sh` against the package itself):
//!
//! - **n-gram match**: corpus BLEU-4 over whitespace tokens, NLTK's smoothing method 1
//!   and brevity penalty ([`bleu4`] on its own);
//! - **weighted n-gram match**: unigrams weighted 1 for the language's keywords and 0.2
//!   otherwise, as a recall over the reference's n-grams;
//! - **syntax match**: share of the reference's tree-sitter subtrees present in the
//!   hypothesis;
//! - **data-flow match**: share of the reference's normalised data-flow edges present in
//!   the hypothesis.
//!
//! Snippets are stripped, and for the two tree components comments (and Python
//! docstrings) are removed first, as the package does. Results keep the package's
//! quirks, documented where they apply; the ones that change numbers:
//!
//! - with no data-flow edge in any reference the package returns 0 for the data-flow
//!   match ([`CodeBleu::reference_dataflow_edges`] is then 0, so a caller can tell);
//! - the total takes a data-flow match of 0 as 1 (`dataflow or 1` in the package), whether
//!   the references had no edges or none of them matched;
//! - the weighted n-gram match's brevity penalty compares the hypothesis length with 2
//!   per hypothesis rather than with the reference length, and its unigram total has a
//!   floor of 1, so identical snippets of fewer than 5 non-keyword tokens score below 1
//!   there (and BLEU's smoothing keeps identical snippets under 4 tokens below 1);
//! - a snippet whose data-flow extraction raises in the package (a malformed tree, or one
//!   deeper than Python's recursion limit allows) contributes no data-flow edges.
//!
//! Python comments and docstrings are found with a port of CPython 3.11's `tokenize`, the
//! version the check runs the package on (3.12 tokenizes f-strings differently). Parsing
//! uses the tree-sitter core and grammar versions that codebleu 0.7.0 works with,
//! pinned in the workspace manifest, since subtrees are compared as S-expressions.
//!
//! Where the package's own output is not reproducible (it lists the parents of a merged
//! data-flow node in Python's per-process randomised set order, which changes the
//! data-flow match of some pairs from run to run) this crate uses first occurrence, and
//! agrees exactly with the package run with that order; `scripts/check-codebleu.sh`
//! reports the package's spread as shipped.

mod bleu;
mod comments;
mod dataflow;
mod error;
mod exact;
mod keywords;
mod lang;
mod syntax;
mod text;

use serde::{Deserialize, Serialize};

pub use error::{Error, Result};
pub use exact::{exact_match, ExactMatch};
pub use lang::Lang;

/// Weights of the four components in the total, in codebleu's order (alpha, beta, gamma,
/// theta). They are used as given, not normalised.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Weights {
    pub ngram: f64,
    pub weighted_ngram: f64,
    pub syntax: f64,
    pub dataflow: f64,
}

impl Default for Weights {
    /// 0.25 each, codebleu's default.
    fn default() -> Self {
        Weights {
            ngram: 0.25,
            weighted_ngram: 0.25,
            syntax: 0.25,
            dataflow: 0.25,
        }
    }
}

impl Weights {
    fn check(self) -> Result<Self> {
        let all = [self.ngram, self.weighted_ngram, self.syntax, self.dataflow];
        if all.iter().all(|w| w.is_finite()) {
            Ok(self)
        } else {
            Err(Error::Weights(all))
        }
    }
}

/// A corpus-level CodeBLEU score and its components, each in [0, 1].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CodeBleu {
    /// The weighted sum of the components, with a data-flow match of 0 counted as 1 (see
    /// the crate docs).
    pub codebleu: f64,
    pub ngram_match: f64,
    pub weighted_ngram_match: f64,
    pub syntax_match: f64,
    /// 0 when the references have no data-flow edge at all, as in the package.
    pub dataflow_match: f64,
    /// Data-flow edges found in the references: the data-flow match's denominator. 0 means
    /// that component says nothing about this corpus.
    pub reference_dataflow_edges: usize,
}

/// CodeBLEU of a corpus with one reference per hypothesis: `calc_codebleu(references,
/// hypotheses, lang, weights)`.
pub fn codebleu<R: AsRef<str>, H: AsRef<str>>(
    references: &[R],
    hypotheses: &[H],
    lang: Lang,
    weights: Weights,
) -> Result<CodeBleu> {
    let references: Vec<[&str; 1]> = references.iter().map(|r| [r.as_ref()]).collect();
    codebleu_multi(&references, hypotheses, lang, weights)
}

/// CodeBLEU of a corpus where each hypothesis has one or more references.
pub fn codebleu_multi<RS, R, H>(
    references: &[RS],
    hypotheses: &[H],
    lang: Lang,
    weights: Weights,
) -> Result<CodeBleu>
where
    RS: AsRef<[R]>,
    R: AsRef<str>,
    H: AsRef<str>,
{
    let weights = weights.check()?;
    let (references, hypotheses) = prepare(references, hypotheses)?;
    let ref_tokens: Vec<Vec<bleu::Tokens>> = references
        .iter()
        .map(|refs| refs.iter().map(|r| text::py_split(r)).collect())
        .collect();
    let hyp_tokens: Vec<bleu::Tokens> = hypotheses.iter().map(|h| text::py_split(h)).collect();

    let ngram_match = bleu::corpus_bleu(&ref_tokens, &hyp_tokens);
    let weighted_ngram_match =
        bleu::corpus_weighted_bleu(&ref_tokens, &hyp_tokens, lang.keywords());
    let syntax_match = syntax::corpus_syntax_match(&references, &hypotheses, lang)?;
    let (dataflow_match, reference_dataflow_edges) =
        dataflow::corpus_dataflow_match(&references, &hypotheses, lang)?;

    let dataflow_in_total = if dataflow_match == 0.0 {
        1.0
    } else {
        dataflow_match
    };
    let codebleu = weights.ngram * ngram_match
        + weights.weighted_ngram * weighted_ngram_match
        + weights.syntax * syntax_match
        + weights.dataflow * dataflow_in_total;
    Ok(CodeBleu {
        codebleu,
        ngram_match,
        weighted_ngram_match,
        syntax_match,
        dataflow_match,
        reference_dataflow_edges,
    })
}

/// CodeBLEU of one hypothesis against one reference, default weights.
pub fn codebleu_pair(reference: &str, hypothesis: &str, lang: Lang) -> Result<CodeBleu> {
    codebleu(&[reference], &[hypothesis], lang, Weights::default())
}

/// Corpus BLEU-4 over whitespace tokens, exactly CodeBLEU's n-gram match component (and
/// so independent of the language).
pub fn bleu4<R: AsRef<str>, H: AsRef<str>>(references: &[R], hypotheses: &[H]) -> Result<f64> {
    let references: Vec<[&str; 1]> = references.iter().map(|r| [r.as_ref()]).collect();
    let (references, hypotheses) = prepare(&references, hypotheses)?;
    let ref_tokens: Vec<Vec<bleu::Tokens>> = references
        .iter()
        .map(|refs| refs.iter().map(|r| text::py_split(r)).collect())
        .collect();
    let hyp_tokens: Vec<bleu::Tokens> = hypotheses.iter().map(|h| text::py_split(h)).collect();
    Ok(bleu::corpus_bleu(&ref_tokens, &hyp_tokens))
}

/// Checks the corpus shape and strips every snippet, as `calc_codebleu` does first.
#[allow(clippy::type_complexity)]
fn prepare<'a, RS, R, H>(
    references: &'a [RS],
    hypotheses: &'a [H],
) -> Result<(Vec<Vec<&'a str>>, Vec<&'a str>)>
where
    RS: AsRef<[R]>,
    R: AsRef<str> + 'a,
    H: AsRef<str>,
{
    if references.len() != hypotheses.len() {
        return Err(Error::LengthMismatch {
            references: references.len(),
            hypotheses: hypotheses.len(),
        });
    }
    if hypotheses.is_empty() {
        return Err(Error::EmptyCorpus);
    }
    let references: Vec<Vec<&str>> = references
        .iter()
        .map(|refs| {
            refs.as_ref()
                .iter()
                .map(|r| text::py_strip(r.as_ref()))
                .collect()
        })
        .collect();
    if let Some(i) = references.iter().position(Vec::is_empty) {
        return Err(Error::NoReference(i));
    }
    let hypotheses = hypotheses
        .iter()
        .map(|h| text::py_strip(h.as_ref()))
        .collect();
    Ok((references, hypotheses))
}
