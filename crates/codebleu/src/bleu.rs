//! The two n-gram components of CodeBLEU, as codebleu 0.7.0's `bleu.corpus_bleu` (NLTK's
//! corpus BLEU) and `weighted_ngram_match.corpus_bleu` compute them: uniform weights over
//! 1- to 4-grams, smoothing method 1 (a zero match count becomes 0.1) and the brevity
//! penalty over the summed lengths.

use std::collections::HashMap;

/// The n-gram orders, each weighted 1/4.
const ORDERS: usize = 4;
/// Chen & Cherry smoothing method 1, as NLTK's `SmoothingFunction()` defaults it.
const EPSILON: f64 = 0.1;
/// Weight of a reference token that is not a keyword in the weighted n-gram match.
const NON_KEYWORD_WEIGHT: f64 = 0.2;

/// Tokens of one snippet.
pub(crate) type Tokens<'a> = Vec<&'a str>;

/// The n-grams of `tokens` with their counts, in order of first occurrence (Python's
/// `Counter(ngrams(...))`); the order fixes the order of float sums.
fn ngram_counts<'a>(tokens: &'a [&'a str], n: usize) -> Vec<(&'a [&'a str], usize)> {
    let mut index: HashMap<&[&str], usize> = HashMap::new();
    let mut counts: Vec<(&[&str], usize)> = Vec::new();
    if tokens.len() >= n {
        for gram in tokens.windows(n) {
            match index.get(gram) {
                Some(&i) => counts[i].1 += 1,
                None => {
                    index.insert(gram, counts.len());
                    counts.push((gram, 1));
                }
            }
        }
    }
    counts
}

fn count_map<'a>(counts: &[(&'a [&'a str], usize)]) -> HashMap<&'a [&'a str], usize> {
    counts.iter().copied().collect()
}

/// The length of the reference closest to `hyp_len`, the shorter one on a tie.
fn closest_ref_length(ref_lens: impl Iterator<Item = usize>, hyp_len: usize) -> usize {
    ref_lens
        .min_by_key(|&r| (r.abs_diff(hyp_len), r))
        .expect("every hypothesis has a reference")
}

fn brevity_penalty(ref_len: usize, hyp_len: usize) -> f64 {
    if hyp_len > ref_len {
        1.0
    } else if hyp_len == 0 {
        0.0
    } else {
        (1.0 - ref_len as f64 / hyp_len as f64).exp()
    }
}

/// The n-gram counts BLEU is computed from, for one hypothesis or summed over a corpus.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct NgramStats {
    numerators: [f64; ORDERS],
    denominators: [f64; ORDERS],
    hyp_len: usize,
    ref_len: usize,
}

impl NgramStats {
    /// Adds another hypothesis's counts (in corpus order, so float sums are the package's).
    pub(crate) fn add(&mut self, other: &NgramStats) {
        for n in 0..ORDERS {
            self.numerators[n] += other.numerators[n];
            self.denominators[n] += other.denominators[n];
        }
        self.hyp_len += other.hyp_len;
        self.ref_len += other.ref_len;
    }

    /// Combines the totals into the score.
    pub(crate) fn score(&self) -> f64 {
        // No unigram match at all: the package returns 0 before smoothing.
        if self.numerators[0] == 0.0 {
            return 0.0;
        }
        let log_sum: f64 = self
            .numerators
            .iter()
            .zip(self.denominators)
            .map(|(&num, den)| {
                let num = if num == 0.0 { EPSILON } else { num };
                (num / den).ln() / ORDERS as f64
            })
            .sum();
        brevity_penalty(self.ref_len, self.hyp_len) * log_sum.exp()
    }
}

/// BLEU's counts for one tokenized hypothesis against its tokenized references (clipped
/// precision against the most generous reference).
pub(crate) fn bleu_stats(refs: &[Tokens], hyp: &Tokens) -> NgramStats {
    let mut s = NgramStats::default();
    for n in 1..=ORDERS {
        let counts = ngram_counts(hyp, n);
        let ref_counts: Vec<_> = refs
            .iter()
            .map(|r| count_map(&ngram_counts(r, n)))
            .collect();
        let mut clipped = 0usize;
        let mut total = 0usize;
        for (gram, count) in &counts {
            let max_ref = ref_counts
                .iter()
                .map(|rc| rc.get(gram).copied().unwrap_or(0))
                .max()
                .unwrap_or(0);
            clipped += (*count).min(max_ref);
            total += count;
        }
        s.numerators[n - 1] += clipped as f64;
        s.denominators[n - 1] += total.max(1) as f64;
    }
    s.hyp_len = hyp.len();
    s.ref_len = closest_ref_length(refs.iter().map(Vec::len), hyp.len());
    s
}

/// codebleu's weighted n-gram match counts for one hypothesis: like BLEU but a recall over
/// each reference's n-grams (summed over references), with unigrams weighted 1 for keywords
/// and 0.2 otherwise.
///
/// Mirrors two quirks of the package: the "reference length" of the brevity penalty is 2
/// for every hypothesis (it measures the `[tokens, weights]` pair, not the tokens), and
/// the unigram weights apply always (its guard compares two sizes that are always equal).
pub(crate) fn weighted_stats(refs: &[Tokens], hyp: &Tokens, keywords: &[&str]) -> NgramStats {
    let weight = |token: &str| {
        if keywords.binary_search(&token).is_ok() {
            1.0
        } else {
            NON_KEYWORD_WEIGHT
        }
    };
    let mut s = NgramStats::default();
    for n in 1..=ORDERS {
        let counts = count_map(&ngram_counts(hyp, n));
        let (mut numerator, mut denominator) = (0.0, 0.0);
        for reference in refs {
            let ref_counts = ngram_counts(reference, n);
            let (mut clipped, mut total) = (0.0, 0.0);
            for (gram, count) in &ref_counts {
                let hyp_count = counts.get(gram).copied().unwrap_or(0);
                let w = if n == 1 { weight(gram[0]) } else { 1.0 };
                clipped += (*count).min(hyp_count) as f64 * w;
                total += *count as f64 * w;
            }
            numerator += clipped;
            denominator += f64::max(1.0, total);
        }
        s.numerators[n - 1] += numerator;
        s.denominators[n - 1] += denominator;
    }
    s.hyp_len = hyp.len();
    s.ref_len = 2;
    s
}

/// Corpus BLEU-4 (NLTK's `corpus_bleu`): the counts summed over the corpus, then scored.
#[cfg(test)]
fn corpus_bleu(references: &[Vec<Tokens>], hypotheses: &[Tokens]) -> f64 {
    let mut total = NgramStats::default();
    for (refs, hyp) in references.iter().zip(hypotheses) {
        total.add(&bleu_stats(refs, hyp));
    }
    total.score()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Tokens<'_> {
        s.split_whitespace().collect()
    }

    /// NLTK's corpus_bleu doctest, which codebleu's copy keeps: 0.5920...
    #[test]
    fn nltk_doctest_value() {
        let hyp1 = toks("It is a guide to action which ensures that the military always obeys the commands of the party");
        let ref1a = toks("It is a guide to action that ensures that the military will forever heed Party commands");
        let ref1b = toks("It is the guiding principle which guarantees the military forces always being under the command of the Party");
        let ref1c = toks(
            "It is the practical guide for the army always to heed the directions of the party",
        );
        let hyp2 = toks("he read the book because he was interested in world history");
        let ref2a = toks("he was interested in world history because he read the book");
        let got = corpus_bleu(&[vec![ref1a, ref1b, ref1c], vec![ref2a]], &[hyp1, hyp2]);
        assert!((got - 0.5920778868801042).abs() < 1e-12, "{got}");
    }

    #[test]
    fn no_unigram_match_is_zero() {
        assert_eq!(corpus_bleu(&[vec![toks("a b")]], &[toks("c d")]), 0.0);
        assert_eq!(
            weighted_stats(&[toks("a b")], &toks("c d"), &[]).score(),
            0.0
        );
    }
}
