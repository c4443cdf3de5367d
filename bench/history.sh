#!/usr/bin/env bash
# History benchmark (issue 15): a job run again and again, its need a little different each
# time (as inputs are), first asked with too little. After each run, three ways to choose the
# next request, side by side on the same inputs:
#   history   `oom-explain suggest --name NAME --json`'s next_request (the user's earlier runs)
#   doubling  twice the last request after a kill, else the same again
#   maxrss    sacct's MaxRSS of the last run + 20 % after a run that finished, twice the last
#             request after a kill (MaxRSS of a killed run is below its limit: no guide)
# A generous run (--mem=4G) of each input measures its true need (the plugin's record: the
# job cgroup's peak). Per way: how many runs finished, and request / true need of those.
#
# On the real local cluster with accounting (slurmdbd + MariaDB; lab profile `accounting`),
# Slurm 22.05 on this host. Root; the plugin built (cargo build --release). Prints Markdown
# (docs/recommendations.md keeps a copy). Usage: bash bench/history.sh [RUNS]
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
LAB_SH=$REPO/tests/cluster/lab.sh
OOM_EXPLAIN=$REPO/target/release/oom-explain
RUNS=${1:-8}
# The need of run i is BASE × FACTOR[i] MiB: ±10 % around the base, in an order that is not
# monotonic (a larger input now and then).
FACTORS=(1.00 0.93 1.06 0.97 1.10 0.91 1.03 0.95 1.08 0.99 1.04 0.92)
# name base_mib chunk_mib: grows piece by piece to its need, holds it HOLD s, finishes. HOLD is
# longer than the lab's sampling for sacct (JobAcctGatherFrequency=task=5), so that MaxRSS can
# see the peak: the MaxRSS rule gets its best case.
WORKLOADS=("steady 300 10" "large 900 30")
HOLD=7
FIRST_REQUEST=200
TAG=$(date +%H%M%S)

[ -x "$OOM_EXPLAIN" ] || { echo "build first: cargo build --release" >&2; exit 1; }
[ "$RUNS" -le "${#FACTORS[@]}" ] || { echo "at most ${#FACTORS[@]} runs" >&2; exit 1; }
OOM_EXPLAIN_LAB_PROFILE=accounting "$LAB_SH" up >&2
eval "$("$LAB_SH" env)"; export SLURM_CONF
install -d -m 0755 "$JOBS/workloads" && install -m 0644 "$REPO"/tests/cluster/workloads/*.py "$JOBS/workloads/"
OUT=$(mktemp -d)
trap '"$LAB_SH" down >&2; rm -rf "$OUT"' EXIT

# submit NAME MEM_MIB NEED_MIB CHUNK → job id
submit() {
    local script=$JOBS/$1.sh
    printf '#!/bin/sh\n/usr/bin/python3 %s/workloads/alloc.py %s %s %s\n' "$JOBS" "$3" "$HOLD" "$4" >"$script"
    chmod 0644 "$script"
    "$LAB_SH" sbatch --job-name="$1" -o "$1-%j.out" -e "$1-%j.err" --mem="$2M" --oom-explain "$script"
}
# finish JOB → COMPLETED, OUT_OF_MEMORY, …, once slurmdbd and the job log have it.
finish() {
    "$LAB_SH" wait "$1" 300 >/dev/null
    local state=""
    for _ in $(seq 50); do
        state=$(sacct -n -P -X -j "$1" -o State | head -1)
        case "$state" in COMPLETED|OUT_OF_MEMORY|FAILED|CANCELLED*|TIMEOUT) break ;; esac
        sleep 0.2
    done
    for _ in $(seq 50); do # the epilog's record
        grep -q "\"job\":$1," "$JOB_LOG" 2>/dev/null && break
        sleep 0.2
    done
    state=${state%% *} # "CANCELLED by 0"
    echo "${state:-unknown}"
}
need_of() { awk -v b="$1" -v f="$2" 'BEGIN { printf "%d", b * f }'; }
# The record's peak of a job, in MiB (the plugin's own figure: the job cgroup's peak).
peak_mib() {
    "$OOM_EXPLAIN" --log "$JOB_LOG" --json "$1" | python3 -c '
import json, sys
doc = json.load(sys.stdin)
print(max(r["peak"] for r in doc.get("records") or [{"peak": 0}]) // 1048576)'
}
. "$HERE/sacct.sh" # maxrss_mib JOB

# true_needs WORKLOAD BASE CHUNK: the generous run of each input → $OUT/true-WORKLOAD (one MiB
# figure per line).
true_needs() {
    local i job
    for ((i = 0; i < RUNS; i++)); do
        job=$(submit "hist-$TAG-$1-true-$i" 4096 "$(need_of "$2" "${FACTORS[i]}")" "$3")
        finish "$job" >/dev/null
        peak_mib "$job"
    done >"$OUT/true-$1"
}

# chain WAY WORKLOAD BASE CHUNK → $OUT/WAY-WORKLOAD: "request state" per run.
chain() {
    local way=$1 name="hist-$TAG-$2-$1" request=$FIRST_REQUEST i job state rss
    for ((i = 0; i < RUNS; i++)); do
        job=$(submit "$name" "$request" "$(need_of "$3" "${FACTORS[i]}")" "$4")
        state=$(finish "$job")
        rss=$(maxrss_mib "$job")
        echo "$request $state $rss"
        if [ "$state" != COMPLETED ]; then
            next=$((request * 2))
        else
            next=$request
        fi
        case "$way" in
            history)
                next=$("$OOM_EXPLAIN" --log "$JOB_LOG" suggest --json --name "$name" \
                    --user "$JOB_USER" --since 1d | python3 -c '
import json, sys
print(json.load(sys.stdin)["next_request"]["mem_mb"])' || echo "$next") ;;
            maxrss)
                if [ "$state" = COMPLETED ] && [ "$rss" -gt 0 ]; then next=$((rss * 12 / 10 + 1)); fi ;;
        esac
        request=$next
    done >"$OUT/$1-$2"
}

pids=()
for w in "${WORKLOADS[@]}"; do
    set -- $w
    true_needs "$1" "$2" "$3" &
    pids+=($!)
    for way in history doubling maxrss; do
        chain "$way" "$1" "$2" "$3" &
        pids+=($!)
    done
done
for p in "${pids[@]}"; do wait "$p"; done

python3 - "$OUT" "$RUNS" "${WORKLOADS[@]}" <<'EOF'
import statistics, sys
out, runs, workloads = sys.argv[1], int(sys.argv[2]), [w.split()[0] for w in sys.argv[3:]]
ways = ["history", "doubling", "maxrss"]
print("| workload | run | true need | " + " | ".join(f"{w}: asked, ended" for w in ways) + " | its MaxRSS |")
print("|---|---|---|" + "---|" * len(ways) + "---|")
summary = {w: ([], 0, 0) for w in ways}
for wl in workloads:
    need = [int(x) for x in open(f"{out}/true-{wl}").read().split()]
    chains = {w: [l.split() for l in open(f"{out}/{w}-{wl}")] for w in ways}
    for i in range(runs):
        cells = []
        for w in ways:
            asked, state, _rss = chains[w][i]
            cells.append(f"{asked}M {'ok' if state == 'COMPLETED' else state}")
            if i == 0:
                continue  # the first request is the user's guess, the same for all
            ratios, done, total = summary[w]
            if state == "COMPLETED":
                ratios.append(int(asked) / need[i])
            summary[w] = (ratios, done + (state == "COMPLETED"), total + 1)
        rss = chains["maxrss"][i][2]
        print(f"| {wl} | {i + 1} | {need[i]}M | " + " | ".join(cells) + f" | {rss}M |")
print()
print("| way | runs that finished (after the first) | median request / true need of those |")
print("|---|---|---|")
for w in ways:
    ratios, done, total = summary[w]
    median = f"{statistics.median(ratios):.2f}" if ratios else "—"
    print(f"| {w} | {done} of {total} | {median} |")
EOF
