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
