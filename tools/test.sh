#!/usr/bin/env bash
# Builds dreamforge and runs the whole test suite: setup, configure, build, ctest.
#
#   tools/test.sh               release preset (build/release)
#   tools/test.sh --asan        AddressSanitizer + UBSan preset (build/asan)
#   tools/test.sh --build-only  stop after the build
#   tools/test.sh --no-aarch64  skip the aarch64 cross build of robot/ and its qemu tests
#   tools/test.sh --no-fuzz     skip the fuzz phase
#
# After the native run, robot/ is cross-compiled for aarch64 and its tests run under
# qemu-aarch64 (preset aarch64, build/aarch64) when aarch64-linux-gnu-g++ and qemu-aarch64
# are installed (tools/setup.sh --edge); otherwise a one-line note says it was skipped.
# Then, when clang-14 and libFuzzer are installed (tools/setup.sh), the libFuzzer harnesses
# are built (preset fuzz, build/fuzz: the reader libraries only) and each runs a fixed
# number of executions (a few seconds) from its seeds and regressions, with a fixed seed
# (tools/fuzz.sh --smoke; longer runs: fuzz/README.md).
# Exits non-zero on the first failing phase. ccache is used automatically when installed.
set -euo pipefail

usage() {
  sed -n '2,18s/^# \{0,1\}//p' "$0"
}

preset=release
build_only=0
aarch64=1
fuzz=1
for arg in "$@"; do
  case "$arg" in
    --asan) preset=asan ;;
    --build-only) build_only=1 ;;
    --no-aarch64) aarch64=0 ;;
    --no-fuzz) fuzz=0 ;;
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
# The edge controller on its target architecture: robot/ alone, cross-compiled, its tests
# under user-mode emulation (about 20 s of tests; the build is incremental with ccache).
if (( aarch64 )); then
  if command -v aarch64-linux-gnu-g++ >/dev/null 2>&1 && command -v qemu-aarch64 >/dev/null 2>&1; then
    phase "configure (aarch64)" cmake --preset aarch64
    phase "build (aarch64)" cmake --build --preset aarch64 -j"$jobs"
    if (( ! build_only )); then
      phase "test (aarch64, qemu)" ctest --preset aarch64 -j"$jobs" --output-on-failure
    fi
  else
    echo "== aarch64: skipped (no aarch64-linux-gnu-g++ or qemu-aarch64; tools/setup.sh --edge installs them)"
  fi
fi
# The readers under libFuzzer + ASan + UBSan, a few seconds each (a smoke run: the long
# runs and their results are in the README's Fuzzing section).
if (( fuzz )); then
  fuzzer_lib=$(clang-14 -print-file-name=libclang_rt.fuzzer-x86_64.a 2>/dev/null || true)
  if command -v clang++-14 >/dev/null 2>&1 && [[ -f "$fuzzer_lib" ]]; then
    if (( build_only )); then
      phase "build (fuzz)" tools/fuzz.sh --build-only
    else
      phase "fuzz (smoke: a fixed number of executions per harness)" tools/fuzz.sh --smoke
    fi
  else
    echo "== fuzz: skipped (no clang++-14 or libFuzzer; tools/setup.sh installs clang-14 libclang-rt-14-dev)"
  fi
fi
echo "== total: $(elapsed "$t_total") s"
