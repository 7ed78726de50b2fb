#!/usr/bin/env bash
# Measures the README's policy table: bottle_place, default perturbation spec, 200
# held-out evaluation scenes per row (seed 0; no evaluation scene is a dream scene).
#
#   tools/policy_table.sh [--dreams FILE] [--mlp-10000 RUN] [--flow-epochs E] [--out DIR]
#                         [--episodes N] [--no-readme]
#
# --dreams FILE  reuse a 10,000-dream file of the shipped demo (default: DIR/dreams_10000.hdf5,
#                generated when missing; ~20-40 min on 2 cores)
# --mlp-10000 RUN  use RUN (a finished `train --data FILE --policy mlp --epochs 20` of the same
#                dreams, e.g. tools/run.sh's runs/default/policy) as the 10,000-dream mlp row
# --flow-epochs E  epochs of the flow row (default 8, as tools/run.sh --policy flow)
# --out DIR      working folder (default: runs/table); finished stages are skipped on a rerun
# --episodes N   evaluation scenes per row (default 200)
# --no-readme    print the table without writing it into README.md
#
# The 1,000 dreams are dreams 0..999 of the same seed, so they are the first 1,000 of the
# 10,000 (dream i depends only on the demo, the spec, the seed and i).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

out=runs/table dreams10k="" episodes=200 readme=1 mlp10k="" flow_epochs=8
while (($#)); do
  case "$1" in
    --dreams) dreams10k="$2"; shift 2 ;;
    --mlp-10000) mlp10k="$2"; shift 2 ;;
    --flow-epochs) flow_epochs="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --episodes) episodes="$2"; shift 2 ;;
    --no-readme) readme=0; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "policy_table.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

tools/setup.sh >/dev/null
cmake --preset release >/dev/null
cmake --build --preset release --target dreamforge >/dev/null
df=build/release/tools/dreamforge
demo=datasets/demos/bottle_place.hdf5
mkdir -p "$out"
[[ -n "$dreams10k" ]] || dreams10k="$out/dreams_10000.hdf5"

stage() { printf '\n== %s (%s)\n' "$1" "$(date +%H:%M:%S)"; }

if [[ ! -f "$dreams10k" ]]; then
  stage "dream 10,000"
  "$df" dream --demo "$demo" --count 10000 --out "$dreams10k"
fi
if [[ ! -f "$out/dreams_1000.hdf5" ]]; then
  stage "dream 1,000"
  "$df" dream --demo "$demo" --count 1000 --out "$out/dreams_1000.hdf5"
fi

# train NAME DATA POLICY EPOCHS: trains into $out/NAME unless it finished before.
train() {
  local run="$out/$1"
  if [[ -f "$run/train.done" ]]; then return; fi
  stage "train $1"
  local resume=()
  [[ -f "$run/checkpoints/last.pt" ]] && resume=(--resume)
  "$df" train --data "$2" --policy "$3" --epochs "$4" --out "$run" "${resume[@]}"
  touch "$run/train.done"
}
train mlp_1demo "$demo" mlp 2000
train mlp_1000 "$out/dreams_1000.hdf5" mlp 40
if [[ -n "$mlp10k" && ! -f "$out/mlp_10000/train.done" ]]; then
  # Same data, policy, epochs and (default) seed as the row would train: the same weights.
  /usr/bin/python3 - "$mlp10k/run.json" "$dreams10k" <<'PY'
import json, os, sys
run = json.load(open(sys.argv[1]))
train, data = run.get("train", {}), run.get("data", {})
ok = (train.get("policy") == "mlp" and train.get("epochs") == 20 and train.get("seed") == 0
      and os.path.realpath(data.get("file", "")) == os.path.realpath(sys.argv[2]))
sys.exit(0 if ok else f"policy_table.sh: --mlp-10000 {sys.argv[1]}: not an mlp run of 20 epochs, seed 0, on {sys.argv[2]}")
PY
  rm -rf "$out/mlp_10000"
  cp -r "$mlp10k" "$out/mlp_10000"
  touch "$out/mlp_10000/train.done"
fi
train mlp_10000 "$dreams10k" mlp 20
train flow_10000 "$dreams10k" flow "$flow_epochs"

# evaluate NAME ARGS...: one JSON result per row, kept for reruns.
evaluate() {
  local result="$out/eval_$1.json"
  shift
  if [[ -f "$result" ]]; then return; fi
  stage "eval $(basename "$result" .json)"
  "$df" eval "$@" --episodes "$episodes" --seed 0 --json > "$result.tmp"
  mv "$result.tmp" "$result"
}
evaluate replay --baseline replay --demo "$demo"
evaluate mlp_1demo --policy "$out/mlp_1demo"
evaluate mlp_1000 --policy "$out/mlp_1000"
evaluate mlp_10000 --policy "$out/mlp_10000"
evaluate flow_10000 --policy "$out/flow_10000"

table=$(/usr/bin/python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
rows = [("1 demo, open-loop replay", "none", "replay"), ("1 demo", "mlp", "mlp_1demo"),
        ("1,000 dreams", "mlp", "mlp_1000"), ("10,000 dreams", "mlp", "mlp_10000"),
        ("10,000 dreams", "flow", "flow_10000")]
print("| training data | policy | success (95% CI) |")
print("|---|---|---|")
for data, policy, name in rows:
    r = json.load(open(f"{out}/eval_{name}.json"))
    print(f"| {data} | {policy} | {100 * r['success_rate']:.1f}% ({100 * r['ci_low']:.1f}-{100 * r['ci_high']:.1f}%), "
          f"{r['successes']}/{r['episodes']} |")
PY
)
printf '\n%s\n' "$table"
if ((readme)); then
  /usr/bin/python3 - "$table" <<'PY'
import sys
begin, end = "<!-- policy-table:begin -->", "<!-- policy-table:end -->"
text = open("README.md").read()
if begin not in text or end not in text:
    sys.exit("policy_table.sh: README.md has no policy-table markers")
head, rest = text.split(begin, 1)
tail = rest.split(end, 1)[1]
open("README.md.tmp", "w").write(head + begin + "\n" + sys.argv[1] + "\n" + end + tail)
PY
  mv README.md.tmp README.md
  echo "README.md: policy table updated"
fi
