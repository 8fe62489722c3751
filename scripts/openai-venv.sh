#!/usr/bin/env bash
# Installs the official openai Python client (pinned) into a venv under tradeoff's cache dir
# (once) and prints the venv's python. The serve tests drive `tradeoff serve` with it, as users'
# code would. Nothing of it is committed.
set -euo pipefail
version=${OPENAI_CLIENT_VERSION:-1.109.1}
cache="${TRADEOFF_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/tradeoff}"
venv="$cache/eval/openai-venv-$version"
if ! "$venv/bin/python" -c "import openai" 2>/dev/null; then
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet "openai==$version" >&2
fi
echo "$venv/bin/python"
