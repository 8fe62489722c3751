#!/usr/bin/env bash
# LoRA training speed: tradeoff's trainer (crates/train/examples/train_speed.rs) against
# PyTorch + PEFT on CPU (scripts/peft-train-bench.py), on the same GGUF, token ids, rank,
# sequence length, batch and threads, alternated so both see the same machine. Prints each
# one's median tokens/s and the ratio tradeoff / PyTorch (above 1: tradeoff is faster).
#   MODEL    catalog name (default smollm2-135m)
#   BATCH SEQ R STEPS   (defaults 4 256 16 3)
#   ROUNDS   alternations (default 2)
#   THREADS  (default: all cores)
set -euo pipefail
cd "$(dirname "$0")/.."
model=${MODEL:-smollm2-135m}
batch=${BATCH:-4} seq=${SEQ:-256} r=${R:-16} steps=${STEPS:-3}
rounds=${ROUNDS:-2}
threads=${THREADS:-$(nproc)}
bin=${TRAIN_SPEED_BIN:-target/release/examples/train_speed}
[[ -x $bin ]] || cargo build --release --locked -p tradeoff-train --example train_speed
python=$(scripts/peft-venv)
home=${TRADEOFF_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/tradeoff}
src=$(ls "$home/models/$model"/*.gguf | head -n1)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Ids below every vocabulary's size, the same for both.
awk -v n=$((batch * seq)) 'BEGIN { for (i = 0; i < n; i++) printf "%d ", (i * 7919 + 17) % 30000 }' > "$work/tokens"

median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
field() { python3 -c "import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])['$1'])"; }

echo "model: $model ($src); batch $batch x seq $seq, LoRA r $r on all 7 linears; $threads threads; $rounds rounds of $steps timed steps; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
ours=() theirs=()
for _ in $(seq "$rounds"); do
    o=$(RAYON_NUM_THREADS=$threads TRADEOFF_THREADS=$threads "$bin" "$model" --steps "$steps" --batch "$batch" --seq "$seq" --r "$r" --tokens "$work/tokens")
    t=$("$python" scripts/peft-train-bench.py "$src" "$work/tokens" --batch "$batch" --seq "$seq" --r "$r" --steps "$steps" --threads "$threads" 2>/dev/null)
    echo "  tradeoff: $o"
    echo "  pytorch:  $t"
    ours+=("$(echo "$o" | field tokens_per_s)")
    theirs+=("$(echo "$t" | field tokens_per_s)")
done
a=$(printf '%s\n' "${ours[@]}" | median)
b=$(printf '%s\n' "${theirs[@]}" | median)
printf 'tokens/s: tradeoff %.1f, pytorch+peft %.1f, ratio %.2f\n' "$a" "$b" "$(echo "$a / $b" | bc -l)"
