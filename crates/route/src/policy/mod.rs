//! Routing policies behind one trait, registered in one table.
//!
//! A policy turns a query into a [`Score`]: a difficulty (higher = harder: tokens, complexity,
//! random) or an estimated pass probability for each tier (learned policies). A threshold
//! turns the score into a tier ([`choose`]): a difficulty at or under it goes to the cheapest
//! tier and above it to the last; with pass probabilities, the cheapest tier whose estimate
//! reaches the threshold answers, else the last. Sweeping the threshold draws the policy's
//! cost–quality curve.

mod heuristic;
mod learned;

pub use heuristic::{Always, Complexity, RandomPolicy, Tokens};
pub use learned::{Featurizer, Knn, LogReg};

use crate::embed::Embedder;
use crate::query::Query;
use crate::{Error, Result};
use serde::Serialize;
use std::sync::Arc;

/// What a policy says about a query.
#[derive(Debug, Clone, PartialEq)]
pub enum Score {
    /// Higher is harder; routed up when above the threshold.
    Difficulty(f64),
    /// Estimated P(tier answers correctly), one per tier, cheapest first.
    PassProb(Vec<f64>),
    /// A fixed tier (`always:<tier>`).
    Tier(usize),
}

/// A training problem: the query and which tiers solved it (cheapest first).
#[derive(Debug, Clone, Copy)]
pub struct Example<'a> {
    pub query: &'a Query,
    pub passed: &'a [bool],
}

pub trait Policy: Send + Sync {
    /// As in tables and on the command line ("tokens", "ngram-logreg").
    fn name(&self) -> String;
    /// What the threshold is ("prompt tokens", "P(pass)").
    fn threshold_unit(&self) -> &'static str;
    /// Learns from the training problems; fixed rules keep this no-op.
    fn fit(&mut self, _train: &[Example<'_>]) -> Result<()> {
        Ok(())
    }
    /// Whether `fit` uses the training data (the report says what each policy saw).
    fn learns(&self) -> bool {
        false
    }
    fn score(&self, q: &Query) -> Score;
    /// Why, in a few words, for the routing log.
    fn explain(&self, q: &Query) -> String {
        match self.score(q) {
            Score::Difficulty(d) => format!("{} {d:.3}", self.threshold_unit()),
            Score::PassProb(p) => format!(
                "P(pass) per tier [{}]",
                p.iter()
                    .map(|x| format!("{x:.2}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Score::Tier(t) => format!("always tier {t}"),
        }
    }
}

/// The tier a score goes to at `threshold`, among `tiers` tiers ordered by cost.
pub fn choose(score: &Score, threshold: f64, tiers: usize) -> usize {
    let last = tiers.saturating_sub(1);
    match score {
        Score::Difficulty(d) => {
            if *d <= threshold {
                0
            } else {
                last
            }
        }
        Score::PassProb(p) => p
            .iter()
            .position(|&x| x >= threshold)
            .unwrap_or(last)
            .min(last),
        Score::Tier(t) => (*t).min(last),
    }
}

/// What a router decided for one query.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub tier: usize,
    /// The policy's number for this query (difficulty, or the chosen tier's P(pass)).
    pub score: f64,
    pub reason: String,
}

/// Query in, tier out: what a server asks.
pub trait Router: Send + Sync {
    fn name(&self) -> String;
    fn route(&self, q: &Query) -> Decision;
}

/// A policy at one threshold.
pub struct Routed {
    pub policy: Box<dyn Policy>,
    pub threshold: f64,
    pub tiers: usize,
}

impl Router for Routed {
    fn name(&self) -> String {
        format!("{}@{}", self.policy.name(), self.threshold)
    }
    fn route(&self, q: &Query) -> Decision {
        let s = self.policy.score(q);
        let tier = choose(&s, self.threshold, self.tiers);
        let score = match &s {
            Score::Difficulty(d) => *d,
            Score::PassProb(p) => p.get(tier).copied().unwrap_or(f64::NAN),
            Score::Tier(_) => f64::NAN,
        };
        let cmp = match &s {
            Score::Difficulty(d) if *d <= self.threshold => "<=",
            Score::Difficulty(_) => ">",
            _ => "vs",
        };
        Decision {
            tier,
            score,
            reason: format!(
                "{}: {} {cmp} threshold {}",
                self.policy.name(),
                self.policy.explain(q),
                self.threshold
            ),
        }
    }
}

/// What a policy's constructor may need.
#[derive(Clone, Default)]
pub struct PolicyArgs {
    /// Tier labels, cheapest first.
    pub tiers: Vec<String>,
    /// The text after `name:` (`always:<tier>`).
    pub arg: Option<String>,
    pub seed: u64,
    /// Sentence embedder, for the embedding policies.
    pub embedder: Option<Arc<Embedder>>,
}

type Ctor = fn(&PolicyArgs) -> Result<Box<dyn Policy>>;

/// Every policy: name, what it does, constructor.
pub const POLICIES: &[(&str, &str, Ctor)] = &[
    (
        "always",
        "always:<tier>: every query to one tier (label or index)",
        |a| Ok(Box::new(Always::new(a)?)),
    ),
    (
        "random",
        "a uniform draw per query (hash of the text): the floor",
        |a| Ok(Box::new(RandomPolicy { seed: a.seed })),
    ),
    (
        "tokens",
        "prompt length in the model's tokens (the seed rule: <= 150 to the small tier)",
        |_| Ok(Box::new(Tokens)),
    ),
    (
        "complexity",
        "a transparent 1-6 score: length, examples, constraints, algorithm words, signature",
        |_| Ok(Box::new(Complexity)),
    ),
    (
        "ngram-logreg",
        "logistic regression over hashed word 1-2-grams: P(tier passes | query)",
        |a| Ok(Box::new(LogReg::new(Featurizer::Ngrams, a.tiers.len()))),
    ),
    (
        "embed-logreg",
        "logistic regression over all-MiniLM-L6-v2 sentence embeddings",
        |a| {
            need_embedder(a)?;
            Ok(Box::new(LogReg::new(Featurizer::Embedding, a.tiers.len())))
        },
    ),
    (
        "embed-knn",
        "the 10 nearest training problems in embedding space vote",
        |a| {
            need_embedder(a)?;
            Ok(Box::new(Knn::new(10, a.tiers.len())))
        },
    ),
];

fn need_embedder(a: &PolicyArgs) -> Result<()> {
    a.embedder.as_ref().map(|_| ()).ok_or_else(|| {
        Error::Study(
            "this policy needs the sentence embedder: `tradeoff models pull all-minilm-l6-v2`"
                .into(),
        )
    })
}

/// Whether a policy needs query embeddings.
pub fn needs_embedding(name: &str) -> bool {
    name.starts_with("embed-")
}

/// A policy by name (`always:1.5b` passes `1.5b` on).
pub fn policy(spec: &str, args: &PolicyArgs) -> Result<Box<dyn Policy>> {
    let (name, arg) = match spec.split_once(':') {
        Some((n, a)) => (n, Some(a.to_string())),
        None => (spec, None),
    };
    let (_, _, ctor) = POLICIES
        .iter()
        .find(|(n, _, _)| *n == name)
        .ok_or_else(|| Error::UnknownPolicy(spec.to_string()))?;
    ctor(&PolicyArgs {
        arg,
        ..args.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_pick_tiers() {
        assert_eq!(choose(&Score::Difficulty(150.0), 150.0, 2), 0);
        assert_eq!(choose(&Score::Difficulty(151.0), 150.0, 2), 1);
        assert_eq!(choose(&Score::Difficulty(151.0), 150.0, 3), 2);
        let p = Score::PassProb(vec![0.3, 0.6, 0.9]);
        assert_eq!(choose(&p, 0.5, 3), 1);
        assert_eq!(choose(&p, 0.2, 3), 0);
        assert_eq!(choose(&p, 0.95, 3), 2);
        assert_eq!(choose(&Score::Tier(5), 0.0, 2), 1);
    }

    #[test]
    fn registry_builds_every_policy_it_lists() {
        let args = PolicyArgs {
            tiers: vec!["small".into(), "large".into()],
            ..Default::default()
        };
        for (name, _, _) in POLICIES {
            let spec = if *name == "always" {
                "always:large"
            } else {
                name
            };
            match policy(spec, &args) {
                Ok(p) => assert!(p.name().starts_with(name)),
                Err(e) => assert!(needs_embedding(name), "{name}: {e}"),
            }
        }
        assert!(matches!(
            policy("nope", &args),
            Err(Error::UnknownPolicy(_))
        ));
    }
}
