#!/usr/bin/env bash
# The default dreamforge pipeline, from one scripted demo to a deployed policy:
#   setup -> build -> record -> dream -> train -> eval (policy and replay baseline)
#         -> export -> control (software in the loop) -> video (a grid of dreams) -> report
# Output: runs/<name>/ (demo.hdf5, dreams.hdf5, policy/, eval_policy.json,
# eval_replay.json, bundle/, control.json, report.html).
#
#   tools/run.sh [--task bottle_place|cube_stack] [--name NAME]
#                [--policy mlp|flow|image-mlp|image-flow] [--quick]
#                [--dreams N] [--epochs E] [--episodes N]
#
# --task picks datasets/demos/<task>.script.yaml (default bottle_place); --name (or NAME)
# picks the run folder (default "default"); --policy mlp (default) or flow read the
# object's pose; image-mlp and image-flow read the two cameras (agentview and the wrist,
# 84x84, rendered with the dreams) and the proprioception instead. Defaults: 10,000 dreams
# (image policies: 200, whose frames fit the training memory limit), 20 epochs (flow 8),
# 200 evaluation and control episodes; --quick: 50 dreams, 5 epochs, 20 episodes. Each
# stage's output is cached by the content of its inputs (runs/<name>/.stages/): a rerun
# skips finished stages and redoes only what changed.
set -euo pipefail

usage() {
  sed -n '2,16s/^# \{0,1\}//p' "$0"
}

cd "$(dirname "${BASH_SOURCE[0]}")/.."

task=bottle_place
NAME="${NAME:-default}"
policy=mlp
dreams="" epochs="" episodes=200
need_value() { [[ $# -ge 2 ]] || { echo "run.sh: $1 needs a value" >&2; exit 2; }; }
while (( $# )); do
  case "$1" in
    --dreams) need_value "$@"; dreams="$2"; shift 2 ;;
    --epochs) need_value "$@"; epochs="$2"; shift 2 ;;
    --episodes) need_value "$@"; episodes="$2"; shift 2 ;;
    --quick) dreams=50; epochs=${epochs:-5}; episodes=20; shift ;;
    --policy) need_value "$@"; policy="$2"; shift 2 ;;
    --task) need_value "$@"; task="$2"; shift 2 ;;
    --task=*) task="${1#*=}"; shift ;;
    --name) need_value "$@"; NAME="$2"; shift 2 ;;
    --name=*) NAME="${1#*=}"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
done

script="datasets/demos/$task.script.yaml"
if [[ ! -f "$script" ]]; then
  available=""
  for f in datasets/demos/*.script.yaml; do
    [[ -e "$f" ]] && f="${f##*/}" && available+="${available:+ }${f%.script.yaml}"
  done
  echo "run.sh: --task '$task': no $script (available: ${available:-none})" >&2
  exit 2
fi
if [[ ! "$NAME" =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]]; then
  echo "run.sh: --name '$NAME': use letters, digits, '.', '_' or '-' (no '/')" >&2
  exit 2
fi
case "$policy" in
  mlp|flow|image-mlp|image-flow) ;;
  *) echo "run.sh: --policy '$policy': expected mlp, flow, image-mlp or image-flow" >&2; exit 2 ;;
esac
head="${policy#image-}"
dream_args=() train_args=()
if [[ "$policy" == image-* ]]; then
  # The cameras render with the dreams; the policy reads them and the proprioception (no
  # object pose). One LibTorch thread: measured faster than two beside the loader.
  dream_args=(--cameras agentview,robot0_eye_in_hand --size 84)
  train_args=(--obs-keys robot0_eef_pos robot0_gripper_qpos robot0_joint_pos agentview_image
              robot0_eye_in_hand_image --threads 1)
  [[ -n "$dreams" ]] || dreams=200
fi
[[ -n "$dreams" ]] || dreams=10000
[[ -n "$epochs" ]] || { [[ "$head" == mlp ]] && epochs=20 || epochs=8; }
for v in dreams epochs episodes; do
  [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: --$v '${!v}': expected a positive integer" >&2; exit 2; }
done

export CCACHE_DIR="${CCACHE_DIR:-${HOME:-/tmp}/.cache/ccache}"
bin=build/release/tools/dreamforge
out="runs/$NAME"
spec="augment/specs/$task.yaml"
start=$SECONDS
total=11
timings=()

echo "[1/$total] setup"
tools/setup.sh

echo "[2/$total] build (release, dreamforge)"
cmake --preset release >/dev/null
cmake --build --preset release --target dreamforge -j"$(nproc)"

mkdir -p "$out/.stages"

# Content key of a stage: the SHA-256 of its parameters and of every input file.
key_of() {
  local f
  {
    printf '%s\n' "$@"
    for f in "$@"; do
      if [[ -f "$f" ]]; then sha256sum "$f"; elif [[ -d "$f" ]]; then (cd "$f" && find . -type f ! -name '*.tmp' -print0 | sort -z | xargs -0 -r sha256sum); fi
    done
  } | sha256sum | cut -c1-64
}

# stage N NAME OUTPUT "inputs..." -- command...: runs the command unless OUTPUT exists and
# was made from inputs with the same key; records the stage's wall time.
stage() {
  local n="$1" name="$2" output="$3" inputs="$4"
  shift 5
  local key t0
  # shellcheck disable=SC2086
  key=$(key_of $inputs)
  if [[ -e "$output" && -f "$out/.stages/$name" && "$(cat "$out/.stages/$name")" == "$key" ]]; then
    echo "[$n/$total] $name: up to date ($output), skipped"
    timings+=("$name: cached")
    return
  fi
  echo "[$n/$total] $name -> $output"
  rm -rf "$output" "$out/.stages/$name"
  t0=$SECONDS
  "$@"
  echo "$key" > "$out/.stages/$name"
  timings+=("$name: $((SECONDS - t0)) s")
}

stage 3 record "$out/demo.hdf5" "task=$task $script" -- \
  "$bin" record --task "$task" --device "script:$script" --out "$out/demo.hdf5"
stage 4 dream "$out/dreams.hdf5" "count=$dreams ${dream_args[*]} $out/demo.hdf5 $spec" -- \
  "$bin" dream --demo "$out/demo.hdf5" --count "$dreams" "${dream_args[@]}" --out "$out/dreams.hdf5"
stage 5 train "$out/policy" "policy=$policy epochs=$epochs $out/dreams.hdf5" -- \
  "$bin" train --data "$out/dreams.hdf5" --policy "$head" --epochs "$epochs" "${train_args[@]}" --out "$out/policy"
json_to() {  # json_to FILE command...: the command's stdout into FILE, through a .tmp
  local file="$1"
  shift
  "$@" > "$file.tmp"
  mv "$file.tmp" "$file"
}
stage 6 eval_policy "$out/eval_policy.json" "episodes=$episodes $out/policy/best.pt $out/policy/run.json $spec" -- \
  json_to "$out/eval_policy.json" "$bin" eval --policy "$out/policy" --episodes "$episodes" --json
stage 7 eval_replay "$out/eval_replay.json" "episodes=$episodes $out/demo.hdf5 $spec" -- \
  json_to "$out/eval_replay.json" "$bin" eval --baseline replay --demo "$out/demo.hdf5" --episodes "$episodes" --json
stage 8 export "$out/bundle" "$out/policy/best.pt $out/policy/run.json" -- \
  "$bin" export --policy "$out/policy" --out "$out/bundle"
stage 9 control "$out/control.json" "episodes=$episodes $out/bundle $spec" -- \
  "$bin" control --bundle "$out/bundle" --hardware sim --episodes "$episodes" --stats "$out/control.json"
stage 10 video "$out/dreams.mp4" "$out/dreams.hdf5" -- \
  "$bin" video "$out/dreams.hdf5" --grid 3x3 --out "$out/dreams.mp4"
if "$bin" --help 2>/dev/null | grep -qE "^ +report( |$)"; then
  stage 11 report "$out/report.html" "$out/demo.hdf5 $out/dreams.summary.json $out/policy/metrics.jsonl $out/eval_policy.json $out/eval_replay.json $out/bundle/policy.json $out/control.json" -- \
    "$bin" report "$out"
else
  echo "[11/$total] report: this build has no 'dreamforge report' yet, skipped"
fi

rate() { sed -n 's/.*"success_rate": *\([0-9.e+-]*\).*/\1/p' "$1" | head -1; }
echo
echo "run.sh: done in $((SECONDS - start)) s (${timings[*]/%/;})"
echo "  demo          $out/demo.hdf5"
echo "  dreams        $out/dreams.hdf5 ($out/dreams.summary.json)"
echo "  policy        $out/policy/ ($policy; best.pt, metrics.jsonl)"
echo "  evaluation    $out/eval_policy.json (success $(rate "$out/eval_policy.json")), $out/eval_replay.json (replay $(rate "$out/eval_replay.json"))"
echo "  bundle        $out/bundle/"
echo "  controller    $out/control.json (sim success $(rate "$out/control.json"))"
echo "  video         $out/dreams.mp4 (the first 9 dreams, agentview)"
[[ -f "$out/report.html" ]] && echo "  report        $out/report.html"
exit 0
