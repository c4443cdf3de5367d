#!/usr/bin/env bash
# Report benchmark (issue 6): how fast `oom-explain report` reads a year of records.
# Generates LINES (default 1,000,000) realistic job records (bench/generate-job-log.py) once,
# then times the report over all of them, over the last 7 days, and for one user; prints peak
# memory (GNU time). docs/performance.md keeps the result.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LINES=${1:-1000000}
LOG=${OOM_EXPLAIN_BENCH_LOG:-/tmp/oom-explain-bench/jobs-$LINES.jsonl}
mkdir -p "$(dirname "$LOG")"
(cd "$REPO" && cargo build --release --locked --bin oom-explain >&2)
BIN=$REPO/target/release/oom-explain
if [ ! -s "$LOG" ]; then
    echo "generating $LINES lines in $LOG" >&2
    python3 "$REPO/bench/generate-job-log.py" "$LINES" "$LOG"
fi
echo "log: $LOG, $(wc -l <"$LOG") lines, $(du -h "$LOG" | cut -f1)"
cat "$LOG" >/dev/null # warm the page cache: measure the reader, not the disk
run() {
    local what=$1; shift
    /usr/bin/time -f "%e s, %M KiB max RSS" "$BIN" report --log "$LOG" "$@" >/dev/null 2>/tmp/oom-explain-bench/time.txt
    echo "| $what | $(cat /tmp/oom-explain-bench/time.txt) |"
}
echo "| report | time, memory |"
echo "|---|---|"
run "all records"
run "--since 7d" --since 7d
run "--user user042" --user user042
"$BIN" report --log "$LOG" --top 3 | head -20

# The same records from Slurm's accounting (`report --from-sacct`): our side only. sacct's output
# for SACCT_LINES of them (JobIDRaw|UID|Partition|AdminComment|SystemComment, each line's value
# as the plugin writes it) is generated once and replayed by a stand-in `sacct` first on PATH; slurmdbd's own
# query time is the site's database's, not ours.
SACCT_LINES=${SACCT_LINES:-200000}
SACCT_OUT=$(dirname "$LOG")/sacct-v2-$SACCT_LINES.txt
if [ ! -s "$SACCT_OUT" ]; then
    echo "generating sacct output for $SACCT_LINES records in $SACCT_OUT" >&2
    head -n "$SACCT_LINES" "$LOG" | python3 "$REPO/bench/sacct-from-log.py" >"$SACCT_OUT"
fi
SHIM=$(dirname "$LOG")/sacct-shim
mkdir -p "$SHIM"
printf '#!/bin/sh\nexec cat %s\n' "$SACCT_OUT" >"$SHIM/sacct"
chmod +x "$SHIM/sacct"
head -n "$SACCT_LINES" "$LOG" >"$LOG.head"
cat "$SACCT_OUT" "$LOG.head" >/dev/null
echo "the first $SACCT_LINES records: from a job log, and from sacct's output ($(du -h "$SACCT_OUT" | cut -f1))"
echo "| report | time, memory |"
echo "|---|---|"
timed() {
    local what=$1; shift
    /usr/bin/time -f "%e s, %M KiB max RSS" "$@" >/dev/null 2>/tmp/oom-explain-bench/time.txt
    echo "| $what | $(cat /tmp/oom-explain-bench/time.txt) |"
}
timed "job log, $SACCT_LINES records" "$BIN" report --log "$LOG.head" --since 400d
timed "--from-sacct, $SACCT_LINES records" env PATH="$SHIM:$PATH" "$BIN" report --from-sacct --since 400d
