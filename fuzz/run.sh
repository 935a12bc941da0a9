#!/usr/bin/env bash
# Run every fuzz target (or those named) for SECONDS each, one after another, with bounded
# memory, and write a Markdown report from libFuzzer's final statistics.
#
#   fuzz/run.sh SECONDS REPORT [target...]
#
# Each target starts from its committed seeds (seeds/<t>) plus its working corpus
# (corpus/<t>, gitignored; new inputs go there). Limits: -malloc_limit_mb (FUZZ_MEMORY_MB,
# default 256: one allocation larger than that) and -rss_limit_mb (FUZZ_RSS_MB, default 1024:
# the whole process, ASAN included) make an unbounded allocation a failure ("out-of-memory"),
# -timeout (FUZZ_TIMEOUT, default 10 s per input) makes a hang one. Crashes land in
# artifacts/<t>/. Exits non-zero if any target failed; the report says which.
set -uo pipefail
cd "$(dirname "$0")"

seconds=${1:?usage: run.sh SECONDS REPORT [target...]}
report=${2:?usage: run.sh SECONDS REPORT [target...]}
shift 2
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(giop_decode any_decode ior_parse configure_json db_mysql_select)
memory=${FUZZ_MEMORY_MB:-256}
rss=${FUZZ_RSS_MB:-1024}
timeout=${FUZZ_TIMEOUT:-10}
# AddressSanitizer keeps freed memory in quarantine (256 MB by default), which counts in the
# resident set: with a small quarantine, the RSS limit measures our memory, not ASAN's.
export ASAN_OPTIONS=${ASAN_OPTIONS:-quarantine_size_mb=32:malloc_context_size=10}

# cargo-fuzz passes nightly-only -Z flags (sanitizer, coverage); RUSTC_BOOTSTRAP lets the
# stable toolchain accept them.
export RUSTC_BOOTSTRAP=1
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked || exit 1
cargo fuzz build || exit 1
triple=$(rustc -vV | sed -n 's/^host: //p')

mkdir -p logs
status=0
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  echo "== fuzz $t for ${seconds}s (malloc limit ${memory} MB, rss limit ${rss} MB, timeout ${timeout}s)"
  before=$(ls "artifacts/$t" | wc -l)
  start=$(date +%s)
  # the binary cargo fuzz built above (not `cargo fuzz run`: that would rebuild first when a
  # source changed during a long run)
  "target/$triple/release/$t" -max_total_time="$seconds" -rss_limit_mb="$rss" -malloc_limit_mb="$memory" \
    -timeout="$timeout" -print_final_stats=1 -artifact_prefix="artifacts/$t/" "corpus/$t" "seeds/$t" >"logs/$t.log" 2>&1
  rc=$?
  echo "$t exit=$rc wall=$(($(date +%s) - start)) corpus_files=$(ls "corpus/$t" | wc -l) new_artifacts=$(($(ls "artifacts/$t" | wc -l) - before))" >>"logs/$t.log"
  tail -n 12 "logs/$t.log"
  [ "$rc" = 0 ] || status=1
done
python3 report.py "$report" "${targets[@]}" || status=1
exit $status
