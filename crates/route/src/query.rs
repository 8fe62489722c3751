//! What a router sees of a request: its text, its length in the model's tokens, and (when an
//! embedding policy is in use) its sentence embedding.

use serde::Serialize;
use std::sync::Arc;

#[derive(Debug, Clone, Default)]
pub struct Query {
    /// The user's message (for a benchmark problem: the instruction the model was given).
    pub text: String,
    /// The prompt's length in the cheapest tier's tokens, chat template applied.
    pub tokens: usize,
    /// Unit-length sentence embedding, filled in by the caller when a policy needs one.
    pub embedding: Option<Arc<[f32]>>,
}

impl Query {
    pub fn new(text: impl Into<String>, tokens: usize) -> Self {
        Self {
            text: text.into(),
            tokens,
            embedding: None,
        }
    }
}

/// A transparent 1–6 difficulty score: 1 plus one point for each sign of a harder problem,
/// capped at 6. Every point says why it was given.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Complexity {
    pub score: u8,
    pub reasons: Vec<&'static str>,
}

/// Words that promise loops, recursion or a known algorithm.
const ALGORITHM_WORDS: &[&str] = &[
    "recurs",
    "nested",
    "permutation",
    "combination",
    "subsequence",
    "substring",
    "prime",
    "fibonacci",
    "matrix",
    "palindrome",
    "dynamic",
    "graph",
    "tree",
    "sort",
    "binary",
    "iterate",
    "each",
    "every",
    "loop",
];
/// Words that add constraints on the answer.
const CONSTRAINT_WORDS: &[&str] = &[
    "must",
    "without",
    "only",
    "at most",
    "at least",
    "exactly",
    "assume",
    "guaranteed",
    "ignore",
    "case",
    "if ",
    "unless",
    "otherwise",
    "note",
    "empty",
    "negative",
];

/// Examples the query shows: doctest lines, asserts, and "f(x) ==/➞/=>/-> y" lines.
pub fn count_examples(text: &str) -> usize {
    text.lines()
        .map(str::trim)
        .filter(|l| {
            l.starts_with(">>>")
                || l.starts_with("assert ")
                || (l.contains('(') && ["==", "➞", "=>", "->"].iter().any(|a| l.contains(a)))
        })
        .count()
}

/// Parameters with container or union types in the signature, or more than two parameters.
fn rich_signature(text: &str) -> bool {
    let Some(def) = text.lines().find(|l| l.trim_start().starts_with("def ")) else {
        return false;
    };
    let params = def.split_once('(').map(|(_, r)| r).unwrap_or("");
    let typed = [
        "List[",
        "Dict[",
        "Tuple[",
        "Optional[",
        "Union[",
        "list[",
        "dict[",
        "tuple[",
    ]
    .iter()
    .any(|t| params.contains(t));
    typed || params.matches(',').count() >= 2
}

pub fn complexity(q: &Query) -> Complexity {
    let lower = q.text.to_lowercase();
    let count = |words: &[&str]| words.iter().filter(|w| lower.contains(*w)).count();
    let mut reasons = Vec::new();
    if q.tokens > 150 {
        reasons.push("long prompt (> 150 tokens)");
    }
    if q.tokens > 300 {
        reasons.push("very long prompt (> 300 tokens)");
    }
    if count(CONSTRAINT_WORDS) >= 3 {
        reasons.push("several constraints");
    }
    if count(ALGORITHM_WORDS) >= 2 {
        reasons.push("loops, recursion or a named algorithm");
    }
    if rich_signature(&q.text) {
        reasons.push("rich signature (container types or 3+ parameters)");
    }
    if count_examples(&q.text) < 2 {
        reasons.push("fewer than 2 examples");
    }
    Complexity {
        score: (1 + reasons.len()).min(6) as u8,
        reasons,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complexity_counts_its_reasons_and_stays_in_1_to_6() {
        let easy = Query::new(
            "def add(a, b):\n    \"\"\"Add.\n    >>> add(1, 2)\n    3\n    >>> add(2, 2)\n    4\n    \"\"\"",
            40,
        );
        let c = complexity(&easy);
        assert_eq!(c.score, 1, "{c:?}");
        let hard = Query::new(
            "def f(xs: List[int], k: int, m: int) -> int:\n  \"\"\"Return the number of nested \
             palindrome subsequence sorts; must ignore case, only positive, assume non-empty, \
             at most k.\"\"\"",
            400,
        );
        let c = complexity(&hard);
        assert_eq!(c.score, 6, "{c:?}");
        assert_eq!(c.reasons.len(), 6);
    }
}
