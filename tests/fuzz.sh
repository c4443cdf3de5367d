#!/usr/bin/env bash
# Fuzzes every parser of hostile or broken input (fuzz/fuzz_targets/) for a bounded time, on the
# STABLE toolchain: cargo-fuzz with `--sanitizer none` needs no nightly.
#
#   bash tests/fuzz.sh                 every target, FUZZ_SECONDS (20) each, FUZZ_JOBS at once
#   bash tests/fuzz.sh kernel_oom      only the named targets
#   FUZZ_SECONDS=600 bash tests/fuzz.sh
#
# Each target starts from a scratch copy of its committed seeds (fuzz/seeds/<target>, made by
# fuzz/make-seeds.sh) and past crashes (fuzz/regressions/<target>) under target/fuzz/, so the
# committed files are never modified. Prints one line per
# target with libFuzzer's executions; exits non-zero if any target crashed (panic, failed
# assertion, overflow, timeout, out of memory), naming the reproducer and how to replay it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

SECONDS_EACH=${FUZZ_SECONDS:-20}
JOBS=${FUZZ_JOBS:-$(nproc)}
SCRATCH=target/fuzz
# Release with debug assertions and overflow checks (-a): an overflow is a crash, as in tests.
FLAGS=(--sanitizer none --release --debug-assertions --codegen-units 16)
started=$(date +%s)

if ! cargo +stable fuzz --version >/dev/null 2>&1; then
    echo "=== installing cargo-fuzz"
    cargo +stable install cargo-fuzz --locked
fi

# build.rs needs Slurm's headers (and libclang, for bindgen): this host's, else a vendored set.
if [ -z "${SLURM_INCLUDE_DIR:-}" ] && [ -z "${SLURM_HEADERS:-}" ] && [ ! -f /usr/include/slurm/spank.h ]; then
    export SLURM_HEADERS=26.05 OOM_EXPLAIN_OTHER_RELEASE=26.05
fi

echo "=== build (cargo +stable fuzz build ${FLAGS[*]})"
cargo +stable fuzz build "${FLAGS[@]}"
BIN=fuzz/target/x86_64-unknown-linux-gnu/release
built=$(date +%s)

if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo +stable fuzz list)
fi

rm -rf "$SCRATCH"
mkdir -p "$SCRATCH"/{corpus,artifacts,logs}

run_one() {
    local t=$1 corpus=$SCRATCH/corpus/$1 artifacts=$SCRATCH/artifacts/$1/
    mkdir -p "$corpus" "$artifacts"
    # The seeds, and every input that once crashed (fuzz/regressions/<target>): libFuzzer runs
    # the whole corpus first, so a crash that comes back fails at once.
    local dir
    for dir in fuzz/seeds/"$t" fuzz/regressions/"$t"; do
        if [ -d "$dir" ]; then
            cp "$dir"/* "$corpus"/
        fi
    done
    # -timeout: one input taking 10 s is a hang; -rss_limit_mb: a parser must not blow up memory.
    local rc=0
    "$BIN/$t" "$corpus" -max_total_time="$SECONDS_EACH" -print_final_stats=1 \
        -artifact_prefix="$artifacts" -timeout=10 -rss_limit_mb=2048 \
        >"$SCRATCH/logs/$t.log" 2>&1 || rc=$?
    echo "$rc" >"$SCRATCH/logs/$t.rc"
}

echo "=== fuzz ${#targets[@]} targets, ${SECONDS_EACH} s each, ${JOBS} at a time (logs in $SCRATCH/logs)"
running=0
for t in "${targets[@]}"; do
    if [ ! -x "$BIN/$t" ]; then
        echo "no such fuzz target: $t (cargo fuzz list)" >&2
        exit 2
    fi
    run_one "$t" &
    running=$((running + 1))
    if [ "$running" -ge "$JOBS" ]; then
        wait -n || true
        running=$((running - 1))
    fi
done
wait

failed=0
passed=0
printf '\n%-18s %12s %10s %8s  %s\n' target executions exec/s corpus result
for t in "${targets[@]}"; do
    log=$SCRATCH/logs/$t.log
    rc=$(cat "$SCRATCH/logs/$t.rc" 2>/dev/null || echo "?")
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n1 || true)
    corpus=$(find "$SCRATCH/corpus/$t" -type f | wc -l)
    reproducer=$(find "$SCRATCH/artifacts/$t" -type f 2>/dev/null | head -n1)
    if [ "$rc" = 0 ] && [ -n "$execs" ] && [ -z "$reproducer" ]; then
        result=ok
        passed=$((passed + 1))
    else
        result="FAILED (exit $rc)${reproducer:+: $reproducer}"
        failed=$((failed + 1))
    fi
    printf '%-18s %12s %10s %8s  %s\n' "$t" "${execs:-?}" "$(( ${execs:-0} / (SECONDS_EACH > 0 ? SECONDS_EACH : 1) ))" "$corpus" "$result"
done
ended=$(date +%s)
echo "build $((built - started)) s, fuzzing $((ended - built)) s, total $((ended - started)) s"

if [ "$failed" != 0 ]; then
    echo
    for t in "${targets[@]}"; do
        log=$SCRATCH/logs/$t.log
        if [ "$(cat "$SCRATCH/logs/$t.rc" 2>/dev/null)" != 0 ] || [ -n "$(find "$SCRATCH/artifacts/$t" -type f 2>/dev/null)" ]; then
            echo "--- $t: the end of $log"
            grep -v '^#[0-9]' "$log" | tail -n 40
            for r in $(find "$SCRATCH/artifacts/$t" -type f 2>/dev/null); do
                echo "reproducer: $r"
                echo "  replay:   cargo +stable fuzz run ${FLAGS[*]} $t $r"
                echo "  keep it:  mkdir -p fuzz/regressions/$t && cp $r fuzz/regressions/$t/"
            done
        fi
    done
    echo "fuzzing: $passed passed, $failed failed"
    exit 1
fi
echo "fuzzing: $passed passed, 0 failed"
