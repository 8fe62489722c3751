#!/usr/bin/env bash
# Round-to-nearest quantization time: `tradeoff compress` against llama.cpp's llama-quantize
# (scripts/llama-cpp.sh) on the same GGUF, same threads, alternated so both see the same machine.
# Prints each tool's median wall time per type and the ratio tradeoff / llama-quantize (below 1:
# tradeoff is faster).
#   MODEL    catalog name of the source (default qwen2.5-coder-0.5b)
#   TYPES    recipe names (default "q4_0 q8_0 q4_k_m")
#   ROUNDS   alternations per type (default 3)
#   THREADS  worker threads for both (default: all cores)
set -euo pipefail
cd "$(dirname "$0")/.."
model=${MODEL:-qwen2.5-coder-0.5b}
types=${TYPES:-q4_0 q8_0 q4_k_m}
rounds=${ROUNDS:-3}
threads=${THREADS:-$(nproc)}
bin=${TRADEOFF_BIN:-target/release/tradeoff}
[[ -x $bin ]] || cargo build --release --locked -p tradeoff
llama=$(scripts/llama-cpp.sh)
home=${TRADEOFF_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/tradeoff}
"$bin" models pull "$model" >/dev/null
src=$(ls "$home/models/$model"/*.gguf | head -n1)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

seconds() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null 2>&1; t1=$(date +%s.%N); echo "$t1 - $t0" | bc -l; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

echo "source: $model ($src), $threads threads, $rounds rounds, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
printf '%-8s %14s %16s %8s\n' type "tradeoff s" "llama-quantize s" ratio
for t in $types; do
    ours=() theirs=()
    for _ in $(seq "$rounds"); do
        ours+=("$(seconds env TRADEOFF_THREADS="$threads" "$bin" compress -m "$model" -r "$t" -o "$work/ours")")
        theirs+=("$(seconds "$llama/llama-quantize" --allow-requantize "$src" "$work/theirs.gguf" "${t^^}" "$threads")")
    done
    a=$(printf '%s\n' "${ours[@]}" | median)
    b=$(printf '%s\n' "${theirs[@]}" | median)
    printf '%-8s %14.2f %16.2f %8.2f\n' "$t" "$a" "$b" "$(echo "$a / $b" | bc -l)"
done
