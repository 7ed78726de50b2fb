#!/usr/bin/env bash
# Builds and runs the benchmarks. They report numbers and never fail on timing.
#   tools/bench.sh [--dreams N]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
tools/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release --target dreamforge_bench_dream
build/release/tools/dreamforge_bench_dream "$@"
