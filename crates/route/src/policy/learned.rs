//! Policies that learn P(tier passes | query) from training problems: logistic regression over
//! hashed word n-grams or sentence embeddings, and k nearest problems in embedding space.

use super::{Example, Policy, Score};
use crate::query::Query;
use crate::{Error, Result};

/// Hashed n-gram buckets (a power of two).
const NGRAM_DIM: usize = 4096;
/// L2 penalty: strong, since a study has hundreds of problems, not thousands.
const L2: f64 = 0.01;
const STEPS: usize = 400;
const LEARNING_RATE: f64 = 0.5;

/// How a query becomes a feature vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Featurizer {
    /// Word 1- and 2-grams hashed into buckets, log counts, unit length; plus log length.
    Ngrams,
    /// The query's sentence embedding (all-MiniLM-L6-v2, unit length).
    Embedding,
}

fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Non-zero features as (index, value).
type Sparse = Vec<(usize, f64)>;

fn ngram_features(q: &Query) -> Sparse {
    let lower = q.text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .collect();
    let mut x = vec![0.0f64; NGRAM_DIM + 1];
    let mut add = |g: &str| x[(fnv1a(g) as usize) & (NGRAM_DIM - 1)] += 1.0;
    for w in &words {
        add(w);
    }
    for p in words.windows(2) {
        add(&format!("{} {}", p[0], p[1]));
    }
    for v in x.iter_mut() {
        *v = (1.0 + *v).ln();
    }
    let norm = x.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-12);
    x.iter_mut().for_each(|v| *v /= norm);
    x[NGRAM_DIM] = (1.0 + q.tokens as f64).ln() / 6.0;
    x.into_iter()
        .enumerate()
        .filter(|(_, v)| *v != 0.0)
        .collect()
}

impl Featurizer {
    fn dim(self, q: &Query) -> usize {
        match self {
            Featurizer::Ngrams => NGRAM_DIM + 1,
            Featurizer::Embedding => q.embedding.as_ref().map_or(0, |e| e.len()),
        }
    }

    fn features(self, q: &Query) -> Result<Sparse> {
        match self {
            Featurizer::Ngrams => Ok(ngram_features(q)),
            Featurizer::Embedding => q
                .embedding
                .as_ref()
                .map(|e| e.iter().map(|&v| v as f64).enumerate().collect())
                .ok_or_else(|| Error::Study("query has no embedding (embed queries first)".into())),
        }
    }
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// One logistic regression per tier, fitted by full-batch gradient descent on the mean log
/// loss plus an L2 penalty (bias unpenalised).
pub struct LogReg {
    featurizer: Featurizer,
    tiers: usize,
    /// Per tier: weights, then the bias last.
    weights: Vec<Vec<f64>>,
}

impl LogReg {
    pub fn new(featurizer: Featurizer, tiers: usize) -> Self {
        Self {
            featurizer,
            tiers,
            weights: Vec::new(),
        }
    }
}

fn dot(x: &Sparse, w: &[f64]) -> f64 {
    x.iter().map(|&(j, v)| v * w[j]).sum()
}

fn fit_logistic(xs: &[Sparse], dim: usize, ys: &[bool]) -> Vec<f64> {
    let n = xs.len().max(1) as f64;
    let rate = ys.iter().filter(|&&y| y).count() as f64 / n;
    let mut w = vec![0.0; dim + 1];
    // Start at the base rate so a tier everyone passes or fails needs no steps.
    w[dim] = (rate.clamp(1e-3, 1.0 - 1e-3) / (1.0 - rate.clamp(1e-3, 1.0 - 1e-3))).ln();
    let mut grad = vec![0.0; dim + 1];
    for _ in 0..STEPS {
        grad.iter_mut().for_each(|g| *g = 0.0);
        for (x, &y) in xs.iter().zip(ys) {
            let e = sigmoid(w[dim] + dot(x, &w)) - y as u8 as f64;
            for &(j, v) in x {
                grad[j] += e * v;
            }
            grad[dim] += e;
        }
        for j in 0..dim {
            w[j] -= LEARNING_RATE * (grad[j] / n + L2 * w[j]);
        }
        w[dim] -= LEARNING_RATE * grad[dim] / n;
    }
    w
}

impl Policy for LogReg {
    fn name(&self) -> String {
        match self.featurizer {
            Featurizer::Ngrams => "ngram-logreg".into(),
            Featurizer::Embedding => "embed-logreg".into(),
        }
    }
    fn threshold_unit(&self) -> &'static str {
        "P(pass)"
    }
    fn learns(&self) -> bool {
        true
    }
    fn fit(&mut self, train: &[Example<'_>]) -> Result<()> {
        let xs = train
            .iter()
            .map(|e| self.featurizer.features(e.query))
            .collect::<Result<Vec<_>>>()?;
        let dim = train.first().map_or(0, |e| self.featurizer.dim(e.query));
        self.weights = (0..self.tiers)
            .map(|t| {
                let ys: Vec<bool> = train.iter().map(|e| e.passed[t]).collect();
                fit_logistic(&xs, dim, &ys)
            })
            .collect();
        Ok(())
    }
    fn score(&self, q: &Query) -> Score {
        let Ok(x) = self.featurizer.features(q) else {
            return Score::PassProb(vec![f64::NAN; self.tiers]);
        };
        Score::PassProb(
            self.weights
                .iter()
                .map(|w| sigmoid(w[w.len() - 1] + dot(&x, w)))
                .collect(),
        )
    }
}

/// P(tier passes) = how often the k most similar training problems (cosine of embeddings)
/// were solved by that tier, smoothed towards the tier's base rate by one pseudo-neighbour.
pub struct Knn {
    k: usize,
    tiers: usize,
    train: Vec<(std::sync::Arc<[f32]>, Vec<bool>)>,
    base: Vec<f64>,
}

impl Knn {
    pub fn new(k: usize, tiers: usize) -> Self {
        Self {
            k,
            tiers,
            train: Vec::new(),
            base: vec![0.5; tiers],
        }
    }
}

impl Policy for Knn {
    fn name(&self) -> String {
        "embed-knn".into()
    }
    fn threshold_unit(&self) -> &'static str {
        "P(pass)"
    }
    fn learns(&self) -> bool {
        true
    }
    fn fit(&mut self, train: &[Example<'_>]) -> Result<()> {
        self.train = train
            .iter()
            .map(|e| {
                e.query
                    .embedding
                    .clone()
                    .map(|v| (v, e.passed.to_vec()))
                    .ok_or_else(|| Error::Study("query has no embedding".into()))
            })
            .collect::<Result<_>>()?;
        let n = self.train.len().max(1) as f64;
        self.base = (0..self.tiers)
            .map(|t| self.train.iter().filter(|(_, p)| p[t]).count() as f64 / n)
            .collect();
        Ok(())
    }
    fn score(&self, q: &Query) -> Score {
        let Some(e) = &q.embedding else {
            return Score::PassProb(self.base.clone());
        };
        let mut sims: Vec<(f32, usize)> = self
            .train
            .iter()
            .enumerate()
            .map(|(i, (v, _))| (v.iter().zip(e.iter()).map(|(a, b)| a * b).sum(), i))
            .collect();
        let k = self.k.min(sims.len());
        if k > 0 {
            sims.select_nth_unstable_by(k - 1, |a, b| b.0.total_cmp(&a.0));
        }
        Score::PassProb(
            (0..self.tiers)
                .map(|t| {
                    let hits = sims[..k]
                        .iter()
                        .filter(|(_, i)| self.train[*i].1[t])
                        .count();
                    (hits as f64 + self.base[t]) / (k as f64 + 1.0)
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ngram_logreg_learns_a_word_that_predicts_failure() {
        let texts: Vec<Query> = (0..60)
            .map(|i| {
                let hard = i % 2 == 0;
                Query::new(
                    format!(
                        "task {i} {}",
                        if hard {
                            "recursive tree walk"
                        } else {
                            "add numbers"
                        }
                    ),
                    20,
                )
            })
            .collect();
        let passed: Vec<Vec<bool>> = (0..60).map(|i| vec![i % 2 == 1, true]).collect();
        let train: Vec<Example> = texts
            .iter()
            .zip(&passed)
            .map(|(q, p)| Example {
                query: q,
                passed: p,
            })
            .collect();
        let mut m = LogReg::new(Featurizer::Ngrams, 2);
        m.fit(&train).unwrap();
        let p = |t: &str| match m.score(&Query::new(t, 20)) {
            Score::PassProb(p) => p[0],
            s => panic!("{s:?}"),
        };
        assert!(
            p("task 99 add numbers") > 0.7,
            "{}",
            p("task 99 add numbers")
        );
        assert!(p("task 98 recursive tree walk") < 0.3);
    }
}
