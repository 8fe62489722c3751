//! Counters and latency histograms, written in Prometheus' text format at `/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

/// Upper bounds of the latency buckets, seconds.
const BUCKETS: [f64; 10] = [0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0];

#[derive(Default)]
struct Hist {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct Inner {
    requests: BTreeMap<(String, u16), u64>,
    decisions: BTreeMap<String, u64>,
    answered: BTreeMap<String, u64>,
    fallbacks: u64,
    prompt_tokens: BTreeMap<String, u64>,
    completion_tokens: BTreeMap<String, u64>,
    latency: BTreeMap<String, Hist>,
}

/// Shared by every request; each update holds the lock for a few map operations.
#[derive(Default)]
pub struct Metrics(Mutex<Inner>);

impl Metrics {
    fn with(&self, f: impl FnOnce(&mut Inner)) {
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn request(&self, endpoint: &str, status: u16) {
        self.with(|m| *m.requests.entry((endpoint.into(), status)).or_default() += 1);
    }

    pub fn decision(&self, tier: &str) {
        self.with(|m| *m.decisions.entry(tier.into()).or_default() += 1);
    }

    pub fn answered(
        &self,
        tier: &str,
        prompt: usize,
        completion: usize,
        latency_s: f64,
        fallbacks: usize,
    ) {
        self.with(|m| {
            *m.answered.entry(tier.into()).or_default() += 1;
            *m.prompt_tokens.entry(tier.into()).or_default() += prompt as u64;
            *m.completion_tokens.entry(tier.into()).or_default() += completion as u64;
            m.fallbacks += fallbacks as u64;
            let h = m.latency.entry(tier.into()).or_default();
            for (c, b) in h.counts.iter_mut().zip(BUCKETS) {
                if latency_s <= b {
                    *c += 1;
                }
            }
            h.count += 1;
            h.sum += latency_s;
        });
    }

    pub fn render(&self) -> String {
        let m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut o = String::new();
        let counter = |o: &mut String, name: &str, help: &str| {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} counter");
        };
        counter(
            &mut o,
            "tradeoff_requests_total",
            "HTTP requests by endpoint and status.",
        );
        for ((e, s), n) in &m.requests {
            let _ = writeln!(
                o,
                "tradeoff_requests_total{{endpoint=\"{e}\",status=\"{s}\"}} {n}"
            );
        }
        let per_tier = [
            (
                "tradeoff_decisions_total",
                "Routing decisions by chosen variant.",
                &m.decisions,
            ),
            (
                "tradeoff_answered_total",
                "Requests answered by variant.",
                &m.answered,
            ),
            (
                "tradeoff_prompt_tokens_total",
                "Prompt tokens by answering variant.",
                &m.prompt_tokens,
            ),
            (
                "tradeoff_completion_tokens_total",
                "Generated tokens by answering variant.",
                &m.completion_tokens,
            ),
        ];
        for (name, help, map) in per_tier {
            counter(&mut o, name, help);
            for (t, n) in map {
                let _ = writeln!(o, "{name}{{variant=\"{t}\"}} {n}");
            }
        }
        counter(
            &mut o,
            "tradeoff_fallbacks_total",
            "Requests moved to another variant after an error, timeout or overload.",
        );
        let _ = writeln!(o, "tradeoff_fallbacks_total {}", m.fallbacks);
        let _ = writeln!(
            o,
            "# HELP tradeoff_request_seconds Time to answer, by variant.\n# TYPE tradeoff_request_seconds histogram"
        );
        for (t, h) in &m.latency {
            for (c, b) in h.counts.iter().zip(BUCKETS) {
                let _ = writeln!(
                    o,
                    "tradeoff_request_seconds_bucket{{variant=\"{t}\",le=\"{b}\"}} {c}"
                );
            }
            let _ = writeln!(
                o,
                "tradeoff_request_seconds_bucket{{variant=\"{t}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                o,
                "tradeoff_request_seconds_sum{{variant=\"{t}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                o,
                "tradeoff_request_seconds_count{{variant=\"{t}\"}} {}",
                h.count
            );
        }
        o
    }
}
