#!/usr/bin/env bash
# The default dreamforge pipeline, as far as it exists today:
#   setup -> build -> record the scripted demo -> dream it into perturbed episodes
# Output: runs/<name>/demo.hdf5, runs/<name>/dreams.hdf5 (+ dreams.summary.json).
#
#   tools/run.sh [--task bottle_place|cube_stack] [--name NAME] [--dreams N] [--quick]
#
# --task picks datasets/demos/<task>.script.yaml (default bottle_place); --name (or the
# NAME environment variable) picks the run folder (default "default"); --dreams sets the
# number of dreams (default 10000); --quick makes 50. A rerun skips a finished stage and
# resumes an interrupted dream run.
#
# Later issues extend this script with the rest of the pipeline:
# train, eval, export, control, report.
set -euo pipefail

usage() {
  sed -n '2,12s/^# \{0,1\}//p' "$0"
}

cd "$(dirname "${BASH_SOURCE[0]}")/.."

task=bottle_place
NAME="${NAME:-default}"
dreams=10000
while (( $# )); do
  case "$1" in
    --dreams) [[ $# -ge 2 ]] || { echo "run.sh: --dreams needs a value" >&2; exit 2; }
              dreams="$2"; shift 2 ;;
    --quick) dreams=50; shift ;;
    --task) [[ $# -ge 2 ]] || { echo "run.sh: --task needs a value" >&2; exit 2; }
            task="$2"; shift 2 ;;
    --task=*) task="${1#*=}"; shift ;;
    --name) [[ $# -ge 2 ]] || { echo "run.sh: --name needs a value" >&2; exit 2; }
            NAME="$2"; shift 2 ;;
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

export CCACHE_DIR="${CCACHE_DIR:-${HOME:-/tmp}/.cache/ccache}"
bin=build/release/tools/dreamforge
out="runs/$NAME"
start=$SECONDS

if [[ ! "$dreams" =~ ^[1-9][0-9]*$ ]]; then
  echo "run.sh: --dreams '$dreams': expected a positive integer" >&2
  exit 2
fi

echo "[1/4] setup"
tools/setup.sh

echo "[2/4] build (release, dreamforge)"
cmake --preset release >/dev/null
cmake --build --preset release --target dreamforge -j"$(nproc)"

mkdir -p "$out"
# dreamforge writes to a temporary name and renames, so no output is ever half-written.
if [[ -f "$out/demo.hdf5" ]]; then
  echo "[3/4] record: $out/demo.hdf5 exists, skipped"
else
  echo "[3/4] record $task -> $out/demo.hdf5"
  "$bin" record --task "$task" --device "script:$script" --out "$out/demo.hdf5"
fi
"$bin" inspect "$out/demo.hdf5"

if [[ -f "$out/dreams.hdf5" ]] && "$bin" inspect --json "$out/dreams.hdf5" | grep -q "\"episodes\":$dreams[,}]"; then
  echo "[4/4] dream: $out/dreams.hdf5 holds $dreams dreams, skipped"
else
  echo "[4/4] dream $dreams episodes -> $out/dreams.hdf5"
  rm -f "$out/dreams.hdf5"
  "$bin" dream --demo "$out/demo.hdf5" --count "$dreams" --out "$out/dreams.hdf5"
fi

echo "run.sh: done in $((SECONDS - start)) s; output in $PWD/$out/ (demo.hdf5, dreams.hdf5, dreams.summary.json)"
