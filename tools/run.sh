#!/usr/bin/env bash
# The default dreamforge pipeline, as far as it exists today:
#   setup -> build (release preset, dreamforge only) -> record the scripted demo -> inspect it
# Output: runs/<name>/demo.hdf5.
#
#   tools/run.sh [--task bottle_place|cube_stack] [--name NAME]
#
# --task picks datasets/demos/<task>.script.yaml (default bottle_place); --name (or the
# NAME environment variable) picks the run folder (default "default").
#
# Later issues extend this script with the rest of the pipeline:
# dream, train, eval, export, control, report.
set -euo pipefail

usage() {
  sed -n '2,9s/^# \{0,1\}//p' "$0"
}

cd "$(dirname "${BASH_SOURCE[0]}")/.."

task=bottle_place
NAME="${NAME:-default}"
while (( $# )); do
  case "$1" in
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

echo "[1/3] setup"
tools/setup.sh

echo "[2/3] build (release, dreamforge)"
cmake --preset release >/dev/null
cmake --build --preset release --target dreamforge -j"$(nproc)"

echo "[3/3] record $task -> $out/demo.hdf5"
mkdir -p "$out"
# dreamforge writes to a temporary name and renames, so demo.hdf5 is never half-written.
"$bin" record --task "$task" --device "script:$script" --out "$out/demo.hdf5"
"$bin" inspect "$out/demo.hdf5"

echo "run.sh: done in $((SECONDS - start)) s; output in $PWD/$out/ (demo.hdf5)"
