//! Fixed rules: one tier, a coin, prompt length, the complexity score.

use super::{Policy, PolicyArgs, Score};
use crate::query::{complexity, Query};
use crate::{Error, Result};
use sha2::{Digest, Sha256};

/// Every query to one tier.
pub struct Always {
    tier: usize,
    label: String,
}

impl Always {
    pub fn new(a: &PolicyArgs) -> Result<Self> {
        let want = a
            .arg
            .as_deref()
            .ok_or_else(|| Error::Study("always needs a tier: always:<label or index>".into()))?;
        let tier = a
            .tiers
            .iter()
            .position(|t| t == want)
            .or_else(|| want.parse::<usize>().ok().filter(|&i| i < a.tiers.len()))
            .ok_or_else(|| {
                Error::Study(format!(
                    "always:{want}: no such tier (tiers: {})",
                    a.tiers.join(", ")
                ))
            })?;
        Ok(Self {
            tier,
            label: a.tiers[tier].clone(),
        })
    }
}

impl Policy for Always {
    fn name(&self) -> String {
        format!("always:{}", self.label)
    }
    fn threshold_unit(&self) -> &'static str {
        "none"
    }
    fn score(&self, _: &Query) -> Score {
        Score::Tier(self.tier)
    }
}

/// A uniform number per query from a hash of its text: at threshold t, a share t of the
/// queries go to the cheapest tier. Deterministic, so reruns agree.
pub struct RandomPolicy {
    pub seed: u64,
}

impl Policy for RandomPolicy {
    fn name(&self) -> String {
        "random".into()
    }
    fn threshold_unit(&self) -> &'static str {
        "uniform draw"
    }
    fn score(&self, q: &Query) -> Score {
        let mut h = Sha256::new();
        h.update(self.seed.to_le_bytes());
        h.update(q.text.as_bytes());
        let d = h.finalize();
        let x = u64::from_le_bytes(d[..8].try_into().expect("8 bytes"));
        Score::Difficulty((x >> 11) as f64 / (1u64 << 53) as f64)
    }
}

/// The seed rule: short prompts to the small tier.
pub struct Tokens;

impl Policy for Tokens {
    fn name(&self) -> String {
        "tokens".into()
    }
    fn threshold_unit(&self) -> &'static str {
        "prompt tokens"
    }
    fn score(&self, q: &Query) -> Score {
        Score::Difficulty(q.tokens as f64)
    }
}

/// The 1–6 complexity score of [`crate::query::complexity`].
pub struct Complexity;

impl Policy for Complexity {
    fn name(&self) -> String {
        "complexity".into()
    }
    fn threshold_unit(&self) -> &'static str {
        "complexity (1-6)"
    }
    fn score(&self, q: &Query) -> Score {
        Score::Difficulty(complexity(q).score as f64)
    }
    fn explain(&self, q: &Query) -> String {
        let c = complexity(q);
        format!("complexity {} ({})", c.score, c.reasons.join("; "))
    }
}
