//! Scores corpora given as JSON, for the agreement check against the Python package
//! (`scripts/check-codebleu.sh`).
//!
//! Reads from stdin a JSON array of cases
//! `{"id": "...", "lang": "python", "references": [["ref", ...], ...], "hypotheses": ["hyp", ...]}`
//! and writes to stdout a JSON array with, per case, its `id` and either the scores
//! (`codebleu`, `ngram_match`, `weighted_ngram_match`, `syntax_match`, `dataflow_match`,
//! `reference_dataflow_edges`) or an `error`.

use std::io::Read;

use serde_json::{json, Value};
use tradeoff_codebleu::{codebleu_multi, Lang, Weights};

#[derive(serde::Deserialize)]
struct Case {
    id: String,
    lang: String,
    references: Vec<Vec<String>>,
    hypotheses: Vec<String>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input)?;
    let cases: Vec<Case> = serde_json::from_str(&input)?;
    let results: Vec<Value> = cases
        .iter()
        .map(|case| {
            let scored = case.lang.parse::<Lang>().and_then(|lang| {
                codebleu_multi(&case.references, &case.hypotheses, lang, Weights::default())
            });
            match scored {
                Ok(score) => {
                    let mut v = serde_json::to_value(score).expect("plain struct");
                    v["id"] = json!(case.id);
                    v
                }
                Err(e) => json!({"id": case.id, "error": e.to_string()}),
            }
        })
        .collect();
    println!("{}", serde_json::to_string(&results)?);
    Ok(())
}
