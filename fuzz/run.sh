#!/usr/bin/env bash
# Run the fuzz targets one after the other, each for a bounded time, and print executions,
# coverage and findings per target. Exit status 1 if any target found a crash.
#
#   fuzz/run.sh [TARGET...]          all targets when none is named
#
#   FUZZ_SECONDS=45     seconds per target
#   FUZZ_SANITIZER=none none (works on stable Rust) or address (needs nightly, or stable
#                       with RUSTC_BOOTSTRAP=1, which this script sets when needed)
#   FUZZ_JOBS=1         libFuzzer processes per target
#
# Installs cargo-fuzz when missing. The corpus grows in fuzz/corpus/TARGET (not in git);
# fuzz/seeds/TARGET seeds it. Crashes land in fuzz/artifacts/TARGET.
set -euo pipefail
cd "$(dirname "$0")"

secs=${FUZZ_SECONDS:-45}
sanitizer=${FUZZ_SANITIZER:-none}
jobs=${FUZZ_JOBS:-1}
all=(packet_mss accumulator tls_hello control_request)
targets=("${@:-${all[@]}}")

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz" >&2
  cargo install cargo-fuzz --version '^0.13' --locked
fi
if [ "$sanitizer" != none ] && ! rustc --version | grep -q nightly; then
  # -Zsanitizer needs nightly; stable accepts it with this.
  export RUSTC_BOOTSTRAP=1
fi
flags=(-O -a -s "$sanitizer")

# Build everything first, so the time limit is spent fuzzing.
cargo fuzz build "${flags[@]}" >/dev/null

failed=()
summary=()
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  log="artifacts/$t/last-run.log"
  args=(-max_total_time="$secs" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048)
  [ -f "$t.dict" ] && args+=(-dict="$t.dict")
  [ "$jobs" -gt 1 ] && args+=(-jobs="$jobs" -workers="$jobs")
  echo "fuzz: $t for ${secs}s" >&2
  status=0
  dirs=("corpus/$t")
  [ -d "seeds/$t" ] && dirs+=("seeds/$t")
  cargo fuzz run "${flags[@]}" "$t" "${dirs[@]}" -- "${args[@]}" >"$log" 2>&1 || status=$?
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | awk '{s+=$2} END {print s+0}')
  cov=$(grep -oE '(DONE|INITED|pulse|NEW|REDUCE) +cov: [0-9]+' "$log" | tail -1 | awk '{print $3}')
  corpus=$(find "corpus/$t" -type f | wc -l)
  if [ "$status" != 0 ]; then
    crash=$(grep -o "Test unit written to [^ ]*" "$log" | tail -1 | sed 's/Test unit written to //')
    msg=$(grep -m1 -A1 "panicked at" "$log" | tail -1)
    summary+=("$t: FAILED after $execs executions: $msg (${crash:-see $log})")
    failed+=("$t")
    echo "fuzz: $t failed; reproduce: cd fuzz && cargo fuzz run ${flags[*]} $t ${crash:-}" >&2
  else
    summary+=("$t: ok, $execs executions in ${secs}s, coverage ${cov:-?} edges, corpus $corpus inputs")
  fi
done
printf 'fuzz: %s\n' "${summary[@]}"
[ ${#failed[@]} = 0 ] || { echo "fuzz: crashes in: ${failed[*]}" >&2; exit 1; }
