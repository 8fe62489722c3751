//! Picking the next token: greedy, or temperature / top-k / top-p with a seeded generator.

use crate::api::GenParams;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub struct Sampler {
    rng: ChaCha8Rng,
    temperature: f32,
    top_k: Option<usize>,
    top_p: Option<f32>,
}

impl Sampler {
    pub fn new(p: &GenParams, seed: u64) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
            temperature: p.temperature,
            top_k: p.top_k.filter(|&k| k > 0),
            top_p: p.top_p.filter(|&p| p > 0.0 && p < 1.0),
        }
    }

    pub fn sample(&mut self, logits: &[f32]) -> u32 {
        if self.temperature <= 0.0 {
            return argmax(logits);
        }
        let mut cand: Vec<(u32, f32)> = logits
            .iter()
            .enumerate()
            .filter(|(_, l)| l.is_finite())
            .map(|(i, &l)| (i as u32, l / self.temperature))
            .collect();
        if cand.is_empty() {
            return argmax(logits);
        }
        let by_logit = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        if let Some(k) = self.top_k {
            if k < cand.len() {
                cand.select_nth_unstable_by(k - 1, by_logit);
                cand.truncate(k);
            }
        }
        cand.sort_unstable_by(by_logit);
        let max = cand[0].1;
        let mut probs: Vec<f32> = cand.iter().map(|c| (c.1 - max).exp()).collect();
        let sum: f32 = probs.iter().sum();
        probs.iter_mut().for_each(|p| *p /= sum);
        if let Some(top_p) = self.top_p {
            let mut acc = 0.0;
            let mut keep = probs.len();
            for (i, p) in probs.iter().enumerate() {
                acc += p;
                if acc >= top_p {
                    keep = i + 1;
                    break;
                }
            }
            probs.truncate(keep);
        }
        let total: f32 = probs.iter().sum();
        let mut r = self.rng.random::<f32>() * total;
        for (i, p) in probs.iter().enumerate() {
            r -= p;
            if r <= 0.0 {
                return cand[i].0;
            }
        }
        cand[probs.len() - 1].0
    }
}

/// Index of the largest logit; the lowest index wins a tie.
pub fn argmax(logits: &[f32]) -> u32 {
    // Lane-wise maxima first (the loop vectorises), then the first index holding the largest.
    const LANES: usize = 16;
    let mut lanes = [f32::NEG_INFINITY; LANES];
    let chunks = logits.chunks_exact(LANES);
    let rest = chunks.remainder();
    for c in chunks {
        for (m, &l) in lanes.iter_mut().zip(c) {
            *m = if l > *m { l } else { *m };
        }
    }
    let max = lanes
        .iter()
        .chain(rest)
        .fold(f32::NEG_INFINITY, |m, &l| if l > m { l } else { m });
    logits.iter().position(|&l| l == max).unwrap_or(0) as u32
}

#[cfg(test)]
mod tests {
    use super::argmax;

    #[test]
    fn argmax_finds_the_first_largest_anywhere() {
        // Lengths around the lane width; the largest value in the body, the tail, or twice.
        for len in [1, 15, 16, 17, 40, 151_936] {
            for at in [0, len / 2, len - 1] {
                let mut v: Vec<f32> = (0..len).map(|i| ((i * 37 % 101) as f32) - 50.0).collect();
                v[at] = 100.0;
                assert_eq!(argmax(&v), at as u32, "len {len}, max at {at}");
                if at + 1 < len {
                    v[len - 1] = 100.0;
                    assert_eq!(argmax(&v), at as u32, "len {len}: ties go to the first");
                }
            }
        }
        assert_eq!(argmax(&[f32::NEG_INFINITY; 20]), 0);
        assert_eq!(argmax(&[]), 0);
    }
}
