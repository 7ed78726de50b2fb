#!/usr/bin/env bash
# Training throughput: LibTorch (our trainer's step) against Python PyTorch with the same
# model, batch and optimizer, on this machine. Runs each side 3 times, alternating, and
# reports the medians and their ratio. Reports; never fails on timing.
#   tools/bench_train.sh [--batch B] [--steps N]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
tools/setup.sh >/dev/null
cmake --preset release >/dev/null
cmake --build --preset release --target dreamforge_bench_train >/dev/null
python=/usr/bin/python3  # Debian's, with python3-torch
for policy in mlp flow; do
  cpp=() py=()
  for _ in 1 2 3; do
    cpp+=("$(build/release/tools/dreamforge_bench_train --policy "$policy" "$@" | sed -n 's/.*"samples_per_s":\([0-9.e+]*\).*/\1/p')")
    py+=("$("$python" tools/bench_train.py --policy "$policy" "$@" | sed -n 's/.*"samples_per_s": \([0-9.e+]*\).*/\1/p')")
  done
  "$python" - "$policy" "${cpp[@]}" "${py[@]}" <<'PY'
import json, statistics, sys
policy, v = sys.argv[1], [float(x) for x in sys.argv[2:]]
cpp, py = statistics.median(v[:3]), statistics.median(v[3:])
print(f"train {policy:4s}: libtorch {cpp:9.0f} samples/s, pytorch {py:9.0f} samples/s, ratio {cpp / py:.2f}")
print(json.dumps({"bench": "train", "policy": policy, "libtorch_samples_per_s": cpp,
                  "pytorch_samples_per_s": py, "ratio": cpp / py}))
PY
done
