#!/usr/bin/env bash
# Builds dreamforge and runs the whole test suite: setup, configure, build, ctest.
#
#   tools/test.sh               release preset (build/release)
#   tools/test.sh --asan        AddressSanitizer + UBSan preset (build/asan)
#   tools/test.sh --build-only  stop after the build
#
# Exits non-zero on the first failing phase. ccache is used automatically when installed.
set -euo pipefail

usage() {
  sed -n '2,8s/^# \{0,1\}//p' "$0"
}

preset=release
build_only=0
for arg in "$@"; do
  case "$arg" in
    --asan) preset=asan ;;
    --build-only) build_only=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "test.sh: unknown option '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

cd "$(dirname "${BASH_SOURCE[0]}")/.."

export CCACHE_DIR="${CCACHE_DIR:-${HOME:-/tmp}/.cache/ccache}"
jobs="$(nproc)"

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

t_total=$(now)
# Runs one phase, prints its elapsed time, and stops the script if it fails.
phase() {
  local name="$1" t rc
  shift
  echo "== $name"
  t=$(now)
  if "$@"; then
    echo "== $name: ok ($(elapsed "$t") s)"
  else
    rc=$?
    echo "== $name: FAILED (exit $rc, $(elapsed "$t") s)" >&2
    exit "$rc"
  fi
}

phase setup tools/setup.sh
phase "configure ($preset)" cmake --preset "$preset"
phase "build ($preset)" cmake --build --preset "$preset" -j"$jobs"
if (( ! build_only )); then
  phase "test ($preset)" ctest --preset "$preset" -j"$jobs" --output-on-failure
fi
echo "== total: $(elapsed "$t_total") s"
