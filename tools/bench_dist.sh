#!/usr/bin/env bash
# Training throughput on 1 and on 2 processes (policy/distributed.h) on this machine, and
# the all-reduce's share of a training step, from metrics.jsonl (medians over epochs).
#
#   tools/bench_dist.sh [DREAMS.hdf5] [EPOCHS]     (default: 200 fresh dreams, 5 epochs)
#
# One process uses every core (LibTorch threads); two processes use cores / 2 each, so the
# same cores do the same arithmetic either way: what 2 processes add is the all-reduce.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bin=build/release/tools/dreamforge
[[ -x "$bin" ]] || { echo "bench_dist: build first (tools/test.sh --build-only)" >&2; exit 2; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
data="${1:-}"
epochs="${2:-5}"
if [[ -z "$data" ]]; then
  data="$work/dreams.hdf5"
  "$bin" dream --demo datasets/demos/bottle_place.hdf5 --count 200 --seed 1 --out "$data" >/dev/null 2>&1
fi
common=(--data "$data" --policy mlp --epochs "$epochs" --batch 256 --seed 1)
port=$((29600 + RANDOM % 1000))
"$bin" train "${common[@]}" --out "$work/one" >/dev/null 2>&1
for r in 1 0; do
  RANK=$r WORLD_SIZE=2 MASTER_PORT=$port "$bin" train "${common[@]}" --out "$work/two" >"$work/two.$r.log" 2>&1 &
done
wait
/usr/bin/python3 - "$work/one/metrics.jsonl" "$work/two/metrics.jsonl" <<'PY'
import json, statistics, sys
one = [json.loads(l) for l in open(sys.argv[1])]
two = [json.loads(l) for l in open(sys.argv[2])]
s1 = statistics.median(m["samples_per_s"] for m in one)
s2 = statistics.median(m["samples_per_s"] for m in two)
share = statistics.median(m["allreduce_seconds"] / m["train_seconds"] for m in two)
steps = two[-1]["step"] / len(two)
per_step = statistics.median(m["allreduce_seconds"] for m in two) / steps * 1e3
print(f"bench_dist: 1 process {s1:,.0f} samples/s; 2 processes {s2:,.0f} samples/s "
      f"(x{s2 / s1:.2f}); all-reduce {100 * share:.0f}% of a training step "
      f"({per_step:.2f} ms per step, {steps:.0f} steps per epoch); medians over {len(two)} epochs")
PY
