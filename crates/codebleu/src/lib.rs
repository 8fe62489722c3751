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
    Stats::sum(&stats_multi(references, hypotheses, lang)?).codebleu(weights)
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
    let mut total = bleu::NgramStats::default();
    for (refs, hyp) in references.iter().zip(&hypotheses) {
        let refs: Vec<bleu::Tokens> = refs.iter().map(|r| text::py_split(r)).collect();
        total.add(&bleu::bleu_stats(&refs, &text::py_split(hyp)));
    }
    Ok(total.score())
}

/// What every corpus-level score of this crate is computed from, for one hypothesis
/// ([`stats`]): summed over any subset of a corpus ([`Stats::sum`]) they give that subset's
/// scores exactly as scoring it afresh would, so bootstrap resamples of a corpus cost a sum
/// each instead of parsing again.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Stats {
    ngram: bleu::NgramStats,
    weighted: bleu::NgramStats,
    /// Matched and all reference subtrees.
    syntax: (usize, usize),
    /// Matched and all reference data-flow edges.
    dataflow: (usize, usize),
}

impl Stats {
    /// Adds another hypothesis's statistics (float sums in the order added, as the package
    /// sums its corpus).
    pub fn add(&mut self, other: &Stats) {
        self.ngram.add(&other.ngram);
        self.weighted.add(&other.weighted);
        self.syntax.0 += other.syntax.0;
        self.syntax.1 += other.syntax.1;
        self.dataflow.0 += other.dataflow.0;
        self.dataflow.1 += other.dataflow.1;
    }

    /// The statistics of a corpus: its hypotheses' summed in order.
    pub fn sum<'a>(items: impl IntoIterator<Item = &'a Stats>) -> Stats {
        let mut total = Stats::default();
        for s in items {
            total.add(s);
        }
        total
    }

    /// Corpus BLEU-4 ([`bleu4`]).
    pub fn bleu4(&self) -> f64 {
        self.ngram.score()
    }

    /// CodeBLEU and its components ([`codebleu_multi`]).
    pub fn codebleu(&self, weights: Weights) -> Result<CodeBleu> {
        let weights = weights.check()?;
        let ngram_match = self.ngram.score();
        let weighted_ngram_match = self.weighted.score();
        let syntax_match = self.syntax.0 as f64 / self.syntax.1 as f64;
        let (dataflow_match, reference_dataflow_edges) = match self.dataflow {
            (_, 0) => (0.0, 0),
            (matched, total) => (matched as f64 / total as f64, total),
        };
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
}

/// [`Stats`] of each hypothesis against its one reference.
pub fn stats<R: AsRef<str>, H: AsRef<str>>(
    references: &[R],
    hypotheses: &[H],
    lang: Lang,
) -> Result<Vec<Stats>> {
    let references: Vec<[&str; 1]> = references.iter().map(|r| [r.as_ref()]).collect();
    stats_multi(&references, hypotheses, lang)
}

/// [`Stats`] of each hypothesis against its one or more references.
pub fn stats_multi<RS, R, H>(references: &[RS], hypotheses: &[H], lang: Lang) -> Result<Vec<Stats>>
where
    RS: AsRef<[R]>,
    R: AsRef<str>,
    H: AsRef<str>,
{
    let (references, hypotheses) = prepare(references, hypotheses)?;
    let keywords = lang.keywords();
    dataflow::with_deep_stack(|| {
        let (mut syntax_parser, mut dataflow_parser) = (lang.parser()?, lang.parser()?);
        references
            .iter()
            .zip(&hypotheses)
            .map(|(refs, hyp)| {
                let ref_tokens: Vec<bleu::Tokens> =
                    refs.iter().map(|r| text::py_split(r)).collect();
                let hyp_tokens = text::py_split(hyp);
                Ok(Stats {
                    ngram: bleu::bleu_stats(&ref_tokens, &hyp_tokens),
                    weighted: bleu::weighted_stats(&ref_tokens, &hyp_tokens, keywords),
                    syntax: syntax::syntax_stats(&mut syntax_parser, refs, hyp, lang)?,
                    dataflow: dataflow::dataflow_stats(&mut dataflow_parser, refs, hyp, lang)?,
                })
            })
            .collect()
    })
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

/// Whether `code` parses without a syntax error (no error or missing node) by the language's
/// tree-sitter grammar.
pub fn parses(code: &str, lang: Lang) -> Result<bool> {
    let mut parser = lang.parser()?;
    Ok(!syntax::parse(&mut parser, code, lang)?
        .root_node()
        .has_error())
}

/// The code's tokens as the language's tree-sitter grammar lexes them (every leaf, a literal
/// whole, comments left out), so that layout (spaces, line breaks, indentation) cannot change
/// a whitespace-token score: `a+b` and `a + b` give the same tokens. Text the grammar cannot
/// parse still gives its leaves (inside error nodes).
pub fn code_tokens(code: &str, lang: Lang) -> Result<Vec<String>> {
    let mut parser = lang.parser()?;
    let tree = syntax::parse(&mut parser, code, lang)?;
    let mut out = Vec::new();
    let mut stack = vec![tree.root_node()];
    while let Some(node) = stack.pop() {
        let kind = node.kind();
        if kind.contains("comment") {
            continue;
        }
        if node.child_count() == 0 || kind.ends_with("_literal") {
            let text = &code[node.byte_range()];
            if !text.trim().is_empty() {
                out.push(text.to_string());
            }
            continue;
        }
        let mut cursor = node.walk();
        let children: Vec<_> = node.children(&mut cursor).collect();
        stack.extend(children.into_iter().rev());
    }
    Ok(out)
}
