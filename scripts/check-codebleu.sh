#!/usr/bin/env bash
# Agreement check of tradeoff-codebleu against the codebleu 0.7.0 Python package.
#
#   scripts/check-codebleu.sh [--tolerance 0.01] [--dump DIR] [--seed N] [--hash-seeds 0,1,...]
#
# Creates (once) a virtual environment at ${TRADEOFF_HOME:-~/.cache/tradeoff}/venv-codebleu
# with codebleu==0.7.0 and the tree-sitter wheels it works with (py-tree-sitter 0.22 takes
# a grammar as an integer pointer, which the 0.21/0.22 grammar wheels give and later ones
# do not), builds reference/hypothesis pairs from the benchmark data, scores them with both
# implementations (Rust via `cargo run -p tradeoff-codebleu --example codebleu_json`) and
# prints the largest difference per component. Exits non-zero when any component of any
# pair or corpus differs by more than the tolerance. See scripts/check_codebleu.py.
#
# Data (mbpp/, quixbugs/, codexglue-code-to-code-trans/): $TRADEOFF_DATA, else shared/data
# beside or inside the repository, or beside its parent for a git worktree.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${TRADEOFF_HOME:-$HOME/.cache/tradeoff}/venv-codebleu"
packages=(
  codebleu==0.7.0 tree-sitter==0.22.3
  tree-sitter-python==0.21.0 tree-sitter-java==0.21.0 tree-sitter-c-sharp==0.21.3
  tree-sitter-cpp==0.22.3 tree-sitter-c==0.21.4
)

data="${TRADEOFF_DATA:-}"
if [[ -z "$data" ]]; then
  for candidate in "$repo/../shared/data" "$repo/shared/data" "$repo/../../shared/data"; do
    if [[ -d "$candidate/mbpp" ]]; then data="$candidate"; break; fi
  done
fi
if [[ -z "$data" || ! -d "$data/mbpp" ]]; then
  echo "check-codebleu: benchmark data not found; set TRADEOFF_DATA to the shared data folder" >&2
  exit 2
fi

# Reinstall when the pinned set changes, not on every run.
stamp="$venv/.tradeoff-packages"
if [[ ! -x "$venv/bin/python" || "$(cat "$stamp" 2>/dev/null)" != "${packages[*]}" ]]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "${packages[@]}"
  echo "${packages[*]}" > "$stamp"
fi

cargo build --quiet --manifest-path "$repo/Cargo.toml" -p tradeoff-codebleu --example codebleu_json
exec "$venv/bin/python" "$repo/scripts/check_codebleu.py" --repo "$repo" --data "$data" "$@"
