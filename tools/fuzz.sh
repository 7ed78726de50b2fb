#!/usr/bin/env bash
# Builds the libFuzzer harnesses (preset fuzz, build/fuzz: clang-14, -fsanitize=fuzzer,
# address,undefined; the reader libraries only) and runs each one, one at a time.
#
#   tools/fuzz.sh [SECONDS]          every harness for SECONDS (default 60) of fuzzing
#   tools/fuzz.sh 600 --runs 1000000 each until 10 minutes or 10^6 executions, first reached
#   tools/fuzz.sh 5 --only bundle    one harness (repeat --only for several)
#   tools/fuzz.sh 600 --plant        the planted-bug build (preset fuzz-plant, build/fuzz-plant):
#                                    each harness from its seeds alone (fuzz/corpus/<name>, an
#                                    empty working corpus, seed 1) until it finds its planted
#                                    bug (robot/fuzz_plant.h) or SECONDS pass; per harness: found
#                                    or not, seconds and executions to find, the planted
#                                    condition; a table in build/fuzz-plant/logs/plant.md;
#                                    fails if one is not found, or a seed already triggers it.
#                                    A crash that is not the plant (a real bug) is reported,
#                                    its input kept in artifacts/<name>/other/, and fuzzing
#                                    resumes (next -seed) from the corpus built so far
#   tools/fuzz.sh --smoke            what tools/test.sh runs: a fixed number of executions
#                                    per harness (a few seconds each), seed 1, from the seeds
#                                    and regressions only, so the result is deterministic
#   tools/fuzz.sh --build-only       configure and build only
#   tools/fuzz.sh --no-build ...     skip configure and build
#   tools/fuzz.sh --jobs N ...       build with -jN (default: all cores)
#   tools/fuzz.sh 600 --keep-going   libFuzzer's fork mode (one worker): a crash is saved and
#                                    fuzzing goes on; each saved input is then replayed and
#                                    classified by where it crashed (our code or a library)
#
# Per harness: seeds from fuzz/corpus/<name> and the checked-in crashing inputs from
# fuzz/regressions/<name>, new inputs kept in build/fuzz/corpus/<name>, the dictionary
# fuzz/dict/<name>.dict. Limits: -timeout=10 s per input, -rss_limit_mb=2048,
# -malloc_limit_mb=1024 (one allocation), so that a hang or a length field that allocates
# gigabytes is reported as a crash. A crashing input is saved as
# build/fuzz/artifacts/<name>/crash-*; the log of each run is build/fuzz/logs/<name>.log.
# Prints a summary line per harness (executions, seconds, cov, ft, crashes) and exits 1
# if any harness crashed (or, with --plant, did not).
set -euo pipefail

usage() {
  sed -n '2,36s/^# \{0,1\}//p' "$0"
}

seconds=60
runs=-1
plant=0
build=1
keep_going=0
smoke=0
build_only=0
only=()
jobs="$(nproc)"
while (( $# )); do
  case "$1" in
    --runs) runs="$2"; shift ;;
    --only) only+=("$2"); shift ;;
    --jobs|-j) jobs="$2"; shift ;;
    --plant) plant=1 ;;
    --no-build) build=0 ;;
    --keep-going) keep_going=1 ;;
    --smoke) smoke=1 ;;
    --build-only) build_only=1 ;;
    -h|--help) usage; exit 0 ;;
    [0-9]*) seconds="$1" ;;
    *) echo "fuzz.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CCACHE_DIR="${CCACHE_DIR:-${HOME:-/tmp}/.cache/ccache}"

# The slowest harnesses (HDF5 files) first.
all=(episode_reader merge bundle urdf perturbation_spec script udp_protocol)
if (( ${#only[@]} )); then harnesses=("${only[@]}"); else harnesses=("${all[@]}"); fi
for h in "${harnesses[@]}"; do
  [[ -f "fuzz/${h}_fuzzer.cc" ]] || { echo "fuzz.sh: no harness '$h' (${all[*]})" >&2; exit 2; }
done

preset=fuzz
(( plant )) && preset=fuzz-plant
dir="build/$preset"
if (( build )); then
  command -v clang++-14 >/dev/null || { echo "fuzz.sh: clang++-14 not found (tools/setup.sh installs clang)" >&2; exit 2; }
  cmake --preset "$preset" >/dev/null
  cmake --build "$dir" -j"$jobs" --target "${harnesses[@]/#/fuzz_}"
fi

# allocator_may_return_null=1: malloc in C code (libhdf5) asked for an absurd size gets
# NULL, as from glibc, and fails cleanly; operator new still aborts (C++ cannot return
# NULL there), and any allocation over -malloc_limit_mb is reported.
(( build_only )) && exit 0

# Executions per harness in --smoke (about 3 to 5 s each on one core). The HDF5 harnesses
# only replay their seeds and regressions (0): the reader forks a probe process per file
# (datasets/h5_probe.h), about 60 ms per execution under ASan, and whether a file that
# makes libhdf5 loop is cut off by its 0.5 s deadline depends on the machine's load, so a
# mutation run there would be neither short nor deterministic.
declare -A smoke_runs=([episode_reader]=0 [merge]=0 [bundle]=4000 [urdf]=10000
                       [perturbation_spec]=8000 [script]=20000 [udp_protocol]=500000)

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$PWD/fuzz/lsan.supp:print_suppressions=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
mkdir -p "$dir/logs"
failed=0

# --plant: was the crash in $log the planted bug, and was it found by fuzzing (not by a seed)?
# Sets result (the summary column), plant_found (yes/no) and plant_what (the condition).
# The reader whose plant each harness must find (DF_FUZZ_PLANT messages name the file).
declare -A plant_file=([episode_reader]=datasets/episode_reader.cc [merge]=augment/generator.cc
                       [bundle]=robot/bundle.cc [urdf]=sim/urdf.cc
                       [perturbation_spec]=augment/perturbation.cc [script]=sim/script.cc
                       [udp_protocol]=robot/udp_protocol.cc)
plant_verdict() {
  local log="$1" msg="" summary="" loc="" src="" line=""
  plant_found=no
  plant_what=""
  msg=$(grep -a -m1 '^DF_FUZZ_PLANT: planted bug reached: ' "$log" |
        sed 's/^DF_FUZZ_PLANT: planted bug reached: //' || true)
  if [[ -z "$msg" ]]; then
    # A planted out-of-bounds access: ASan reports it at the DF_FUZZ_PLANT_IF line itself.
    summary=$(grep -a -m1 '^SUMMARY: [A-Za-z]*Sanitizer: ' "$log" || true)
    loc=$(grep -ao '/[^ :]*\.\(cc\|h\):[0-9]*' <<<"$summary" | head -1 || true)
    if [[ -n "$loc" ]]; then
      src="${loc%:*}"
      line="${loc##*:}"
      if [[ -f "$src" ]] && sed -n "${line}p" "$src" | grep -q 'DF_FUZZ_PLANT_IF('; then
        msg="$(sed -n "${line}p" "$src" | sed 's/^ *DF_FUZZ_PLANT_IF(//; s/);$//')"
        msg="$msg ($(awk '{print $3}' <<<"$summary") at ${src#"$PWD"/}:$line)"
      fi
    fi
  fi
  # The merge harness also reads episode files: a plant reached in the episode reader is
  # not merge's own (messages name the file: "cond [path/file.cc:line]").
  if [[ -n "$msg" && "$msg" == *" ["*"]"* && "$msg" != *"${plant_file[$h]}:"* ]]; then
    msg=""
  fi
  plant_what="$msg"
  if (( rc == 0 )); then
    result="planted bug NOT found in $secs s ($execs executions)"
  elif [[ -z "$msg" ]]; then
    result="CRASH, but not the planted bug (exit $rc): see $log"
  elif (( attempt == 1 )) && ! grep -aq 'INITED' "$log"; then
    # libFuzzer prints INITED once every seed has run: before that, a seed itself crashed.
    result="NOT a fuzzer find: a seed in fuzz/corpus/$h already triggers it: $msg"
  else
    plant_found=yes
    result="planted bug found after $secs s, $execs executions: $msg"
  fi
}

# --plant: fuzz harness $h from its seeds until the planted bug or $seconds. Sets rc, execs
# (over all attempts), secs, result, plant_found, plant_what, others (crashes on the way).
run_plant() {
  local t0 left part e other inited n_others=0
  t0=$(date +%s.%N)
  execs=0
  attempt=0
  others=""
  : >"$log"
  while :; do
    attempt=$((attempt + 1))
    left=$(awk -v a="$t0" -v b="$(date +%s.%N)" -v s="$seconds" 'BEGIN { printf "%d", s - (b - a) }')
    part="$log.$attempt"
    rc=0
    if (( left > 0 )); then
      set +e
      "${run_env[@]}" "$exe" -max_total_time="$left" -runs="$runs" -timeout=10 -rss_limit_mb=2048 \
        -malloc_limit_mb=1024 -dict="fuzz/dict/$h.dict" -artifact_prefix="$art/" \
        -print_final_stats=1 -seed="$attempt" "${corpora[@]}" >"$part" 2>&1
      rc=$?
      set -e
    else
      : >"$part"
    fi
    cat "$part" >>"$log"
    e=$(sed -n 's/^stat::number_of_executed_units: *//p' "$part" | tail -1 || true)
    [[ -n "$e" ]] || e=$(grep -ao '^#[0-9]*' "$part" | tail -1 | tr -d '#' || true)
    execs=$((execs + ${e:-0}))
    secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }')
    plant_verdict "$part"
    other=$(grep -ao -m1 'dreamforge fuzz finding: .*\|SUMMARY: [A-Za-z]*: .*' "$part" | cut -c1-160 || true)
    inited=0
    grep -aq 'INITED' "$part" && inited=1
    rm -f "$part"
    # Found, not found in the time, or a seed triggers it: done. Another crash: a real bug
    # of the reader, not the plant; keep its input and go on.
    if (( rc == 0 )) || [[ -n "$plant_what" ]]; then break; fi
    mkdir -p "$art/other"
    for f in "$art"/crash-* "$art"/leak-* "$art"/timeout-* "$art"/oom-*; do
      if [[ -e "$f" ]]; then
        mv "$f" "$art/other/"
        other="$other ($art/other/$(basename "$f"))"
      fi
    done
    n_others=$((n_others + 1))
    if (( n_others <= 3 )); then
      others="${others:+$others; }after $secs s: $other"
    elif (( n_others == 4 )); then
      others="$others; more: see $log"
    fi
    # A crash before libFuzzer's INITED line is in the seeds or the corpus: every restart
    # would stop there again.
    if (( ! inited )); then
      result="CRASH in the seeds or the corpus, not the planted bug: $other"
      break
    fi
    echo "$h: not the planted bug, fuzzing on: $other" >&2
  done
  [[ "$plant_found" == yes ]] || failed=1
  if [[ -n "$others" ]]; then
    result="$result [other crashes on the way: $others]"
  fi
}
if (( plant )); then
  plant_md="$dir/logs/plant.md"
  {
    echo "| harness | found | seconds | executions | planted condition | command | other crashes on the way |"
    echo "|---|---|---:|---:|---|---|---|"
  } >"$plant_md"
fi
printf '%-18s %10s %8s %7s %7s %8s  %s\n' harness executions seconds cov ft crashes result
for h in "${harnesses[@]}"; do
  exe="$dir/fuzz/fuzz_$h"
  art="$dir/artifacts/$h"
  log="$dir/logs/$h.log"
  mkdir -p "$art"
  corpora=()
  if (( plant )); then
    # From the seeds alone, in a fresh folder, so earlier runs do not help.
    work="$dir/plant-corpus/$h"
    rm -rf "$work" "$art"
    mkdir -p "$work" "$art"
    corpora=("$work" "fuzz/corpus/$h")
  else
    work="$dir/corpus/$h"
    (( smoke )) && work="$dir/smoke-corpus/$h" && rm -rf "$work"
    rm -rf "$art"
    mkdir -p "$work" "$art"
    corpora=("$work" "fuzz/corpus/$h")
    [[ -d "fuzz/regressions/$h" ]] && corpora+=("fuzz/regressions/$h")
    extra=()
    (( keep_going )) && extra=(-fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1)
    (( smoke )) && extra=(-seed=1)
  fi
  ours_count=0
  # The HDF5 harnesses' probe children die of ASan reports inside libhdf5 all the time;
  # symbolizing each (llvm-symbolizer, quietly, since the child's stderr is /dev/null) cut
  # the run to a few executions per second. Saved inputs are replayed symbolized below.
  run_env=()
  [[ "$h" == episode_reader || "$h" == merge ]] && run_env=(env "ASAN_OPTIONS=$ASAN_OPTIONS:symbolize=0")
  if (( plant )); then
    run_plant
    plant_what_md="${plant_what//|/\\|}"  # a | inside a Markdown table cell
    cov=$(grep -ao 'cov: [0-9]*' "$log" | tail -1 | awk '{print $2}' || true)
    ft=$(grep -ao 'ft: [0-9]*' "$log" | tail -1 | awk '{print $2}' || true)
    crashes=$(find "$art" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
    printf '%-18s %10s %8s %7s %7s %8s  %s\n' "$h" "${execs:-?}" "$secs" "${cov:-?}" "${ft:-?}" "$crashes" "$result"
    printf '| %s | %s | %s | %s | `%s` | `tools/fuzz.sh %s --plant --only %s` | %s |\n' "$h" "$plant_found" \
      "$secs" "${execs:-?}" "${plant_what_md:-?}" "$seconds" "$h" "${others:-none}" >>"$plant_md"
    continue
  fi
  t0=$(date +%s.%N)
  set +e
  (( smoke )) && seconds=0 runs="${smoke_runs[$h]}"
  "${run_env[@]}" "$exe" -max_total_time="$seconds" -runs="$runs" -timeout=10 -rss_limit_mb=2048 \
    -malloc_limit_mb=1024 -dict="fuzz/dict/$h.dict" -artifact_prefix="$art/" \
    -print_final_stats=1 "${extra[@]}" "${corpora[@]}" >"$log" 2>&1
  rc=$?
  set -e
  secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }')
  if (( keep_going )); then
    execs=$(grep -ao '^#[0-9]*' "$log" | tail -1 | tr -d '#' || true)
  else
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1 || true)
    [[ -n "$execs" ]] || execs=$(grep -ao '^#[0-9]*' "$log" | tail -1 | tr -d '#')
  fi
  cov=$(grep -ao 'cov: [0-9]*' "$log" | tail -1 | awk '{print $2}' || true)
  ft=$(grep -ao 'ft: [0-9]*' "$log" | tail -1 | awk '{print $2}' || true)
  crashes=$(find "$art" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
  if (( keep_going && crashes > 0 )); then
    result="$crashes saved inputs (classified below)"
  elif (( rc != 0 || crashes > 0 )); then
    result="CRASH (exit $rc): $(find "$art" -type f | head -1); log $log"
    failed=1
  else
    result=ok
  fi
  printf '%-18s %10s %8s %7s %7s %8s  %s\n' "$h" "${execs:-?}" "$secs" "${cov:-?}" "${ft:-?}" "$crashes" "$result"
  if (( crashes > 0 && keep_going )); then
    # Where each saved input crashes: the first stack frame outside the sanitizer runtime
    # and libc, and the first frame in our code.
    for f in $(find "$art" -type f | sort | head -40); do
      out=$(timeout 60 "$exe" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 "$f" 2>&1 || true)
      kind=$(grep -ao 'ERROR: [A-Za-z]*Sanitizer: [A-Za-z-]*\|dreamforge fuzz finding: [^:(]*\|ERROR: libFuzzer: [a-z-]*\|DF_FUZZ_PLANT' <<<"$out" | head -1 || true)
      # First stack frame outside the sanitizer runtimes and libc, as "function [object]".
      frame=$(grep -a '^ *#[0-9]' <<<"$out" | grep -av 'libclang_rt\|compiler-rt\|sanitizer\|__interceptor\|libc.so\|fuzzer::\|/libc\.\|in abort \|in raise \|pthread_kill\|sysdeps\|Finding\|in malloc \|in calloc \|in realloc \|in operator new\|in str[a-z]* (\|in mem[a-z]* (' | head -1 || true)
      obj=$(grep -ao '(/[^ )+]*' <<<"$frame" | head -1 | sed 's|.*/||' || true)
      [[ -n "$obj" ]] || obj=$(grep -ao '/work/[^ ]*' <<<"$frame" | head -1 | sed 's|.*/||' || true)
      fn=$(sed -nE 's/^ *#[0-9]+ 0x[0-9a-f]+ in ([^ (]+).*/\1/p' <<<"$frame" | cut -c1-60)
      top="${fn:-?} [${obj:-?}]"
      ours=$(grep -a '^ *#[0-9]' <<<"$out" | grep -a ' in dreamforge::' | head -1 |
             sed -E 's/^ *#[0-9]+ 0x[0-9a-f]+ in //; s/\(.*//' | cut -c1-100 || true)
      [[ -n "$kind" ]] || kind="does not crash when replayed alone"
      echo "    $(basename "$f"): $kind; top: $top; ours: ${ours:-none}"
      # Ours unless the first frame outside the runtimes is in a system library.
      if [[ "$obj" != libhdf5* && "$kind" != "does not crash"* ]]; then ours_count=$((ours_count + 1)); fi
    done
    if (( ours_count == 0 )); then
      echo "    all $crashes saved inputs crash inside libhdf5 (see fuzz/README.md)"
    else
      echo "    $ours_count saved inputs crash outside libhdf5: to fix"
      failed=1
    fi
  fi
done
if (( plant )); then
  echo "planted bugs: table in $plant_md; crashing inputs in $dir/artifacts/<name>/"
fi
exit "$failed"
