#!/usr/bin/env bash
# Rerun benchmark (issue 5): does the rerun with oom-explain's recommendation succeed, and how
# much does it ask for compared with the true peak? Beside it, two common rules of thumb:
# "sacct MaxRSS + 20 %" and "the old limit + 20 %".
#
# For each scenario where more memory is the fix (its need is bounded), on the real local
# cluster with accounting (slurmdbd + MariaDB, so sacct works):
#   1. a generous run (--mem=3G) measures the true peak (the job cgroup's own peak, from the
#      plugin's evidence record);
#   2. a run at the scenario's own too-small request gives the recommendation, MaxRSS and limit;
#   3. three reruns: with the recommendation, with MaxRSS + 20 %, with limit + 20 %.
# Prints a Markdown table (docs/recommendations.md keeps a copy). Root; plugin built.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
LAB_SH=$REPO/tests/cluster/lab.sh
SPOOL=/run/oom-explain-bench
SCENARIOS=${*:-under-allocation under-allocation-array load-spike load-spike-array tmpfs rank-imbalance other-step pool-killed-at-once background-copies}

rm -rf "$SPOOL" && install -d -m 0700 "$SPOOL"
OOM_EXPLAIN_LAB_PROFILE=accounting OOM_EXPLAIN_PLUGIN_ARGS="evidence_dir=$SPOOL" "$LAB_SH" up >&2
eval "$("$LAB_SH" env)"; export SLURM_CONF
install -d -m 0755 "$JOBS/workloads" && install -m 0644 "$REPO"/tests/cluster/workloads/*.py "$JOBS/workloads/"

# submit NAME MEM: the scenario's script with --mem overridden; prints the job id.
submit() {
    local script=$JOBS/bench-$1.sh
    sed "s|@WORKLOADS@|$JOBS/workloads|" "$REPO/tests/scenarios/$1.sh" >"$script"
    chmod 0644 "$script"
    "$LAB_SH" sbatch --job-name="bench-$1" -o "bench-$1-%j.out" -e "bench-$1-%j.err" --mem="$2" "$script"
}
# finish JOB: waits, then "ok" only if every step of the job completed (a script that ends
# with `exit 0` completes the job even when one of its steps was OOM-killed); otherwise the
# first step state that is not COMPLETED.
finish() {
    "$LAB_SH" wait "$1" 300 >/dev/null
    sleep 1 # slurmdbd gets the steps' end a moment after the job's
    local bad
    bad=$(sacct -n -P -j "$1" -o State | grep -v '^COMPLETED$' | head -1 || true)
    echo "${bad:-ok}"
}
mib() { awk -v b="$1" 'BEGIN { printf "%d", b / 1048576 }'; }
# The job's true peak: the largest job-level peak in the job's evidence records.
true_peak() {
    python3 - "$SPOOL" "$1" <<'EOF'
import json, pathlib, sys
spool, job = sys.argv[1], sys.argv[2]
peaks = [json.loads(p.read_text())["snapshot"]["job"]["peak"] for p in pathlib.Path(spool).glob(f"{job}.*.json")]
print(max(peaks))
EOF
}
. "$HERE/sacct.sh" # maxrss_mib JOB

echo "| scenario | asked | true peak | recommended | rerun | recommended / true | MaxRSS + 20 % | rerun | limit + 20 % | rerun |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for s in $SCENARIOS; do
    asked=$(sed -n 's/^#SBATCH --mem=//p' "$REPO/tests/scenarios/$s.sh")
    big=$(submit "$s" 3G); finish "$big" >/dev/null
    peak=$(mib "$(true_peak "$big")")
    first=$(submit "$s" "$asked"); finish "$first" >/dev/null
    rec=$(sed -n 's/^ *#SBATCH --mem=//p' "$JOBS/bench-$s-$first.err" | head -1)
    rss=$(maxrss_mib "$first")
    limit_mib=$(( $(sed 's/M$//; s/G$/*1024/' <<<"$asked") ))
    run() { # MEM → ok, or the state of the first step that did not complete
        [ -n "$1" ] && [ "$1" != 0M ] || { echo "n/a"; return; }
        local j; j=$(submit "$s" "$1"); finish "$j"
    }
    rss_rule=$(( rss * 12 / 10 ))M
    limit_rule=$(( limit_mib * 12 / 10 ))M
    rec_state=$(run "$rec"); rss_state=$(run "$rss_rule"); limit_state=$(run "$limit_rule")
    rec_mib=$(( $(sed 's/M$//; s/G$/*1024/' <<<"$rec") ))
    ratio=$(awk -v r="$rec_mib" -v p="$peak" 'BEGIN { printf "%.2f", r / p }')
    echo "| $s | $asked | ${peak}M | $rec | $rec_state | $ratio | $rss_rule (MaxRSS ${rss}M) | $rss_state | $limit_rule | $limit_state |"
done
"$LAB_SH" down >&2
