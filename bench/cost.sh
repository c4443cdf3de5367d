#!/usr/bin/env bash
# What the plugin costs a job, measured side by side on the real test cluster, in one run:
#
#   absent      plugstack.conf without the plugin line (slurmd started so: no spank epilog)
#   loaded      plugin loaded, job not opted in
#   opted       opted in (--oom-explain)
#   oom-absent  plugin absent, an srun step OOM-killed (alloc.py 150 MiB of --mem=60M)
#   oom-opted   the same, opted in: the end-of-step cost after a kill
#
# Each short job runs `srun sh -c 'echo task_end_ns …'` (one task that prints the time it ends)
# between two timestamps. COST_JOBS (default 50) jobs per configuration, one job at a time, in
# blocks of COST_BLOCK (default 10) that are interleaved: the blocks of one slurmd state
# (plugin absent / loaded) in turn, the two states alternating A W W A A W …, so drift (page
# cache, logs growing, background load) falls on every configuration alike while slurmd is
# restarted only when the state changes (slurmd decides at start whether a spank epilog runs,
# so "absent" needs slurmd started without the plugin).
#
# slurmstepd is measured from outside: bench/stepd-watch.c is bind-mounted over the real
# slurmstepd binary (copied aside first) while the bench runs, and unmounted on exit, even on
# failure. It runs the real one as its child and records, at its exit, its own CPU time (all
# threads, exact), VmHWM and wall times. Then one opted-in 20 s job measures the sampler's
# steady CPU share. Needs root and a built plugin (cargo build --release); starts the lab
# (default profile) itself and stops it at the end (COST_KEEP_LAB=1 keeps it).
#
#   bash bench/cost.sh            → the table on stdout and in $COST_WORK/table.md
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$(pwd)
LABSH=$REPO/tests/cluster/lab.sh
N=${COST_JOBS:-50}
BLOCK=${COST_BLOCK:-10}
WORK=${COST_WORK:-/tmp/oom-explain-cost}
SO=${1:-$REPO/target/release/liboom_explain.so}
say() { echo "cost: $*" >&2; }
[ "$(id -u)" = 0 ] || { say "must run as root"; exit 1; }
[ -f "$SO" ] || { say "no plugin at $SO (cargo build --release first)"; exit 1; }
[ $((N % BLOCK)) = 0 ] || { say "COST_JOBS must be a multiple of COST_BLOCK"; exit 1; }

rm -rf "$WORK"
mkdir -p "$WORK"
OOM_EXPLAIN_LAB_PROFILE=default "$LABSH" up "$SO"
eval "$("$LABSH" env | sed 's/^/LAB_/')"
export SLURM_CONF=$LAB_SLURM_CONF
PLUGSTACK=$LAB_LAB/etc/plugstack.conf
cp "$PLUGSTACK" "$WORK/plugstack.with"
echo "# bench/cost.sh: plugin absent" >"$WORK/plugstack.absent"
REAL=$(readlink -f "$(command -v slurmstepd)")
cp "$REAL" "$WORK/slurmstepd.real"
cc -O2 -Wall -DREAL="\"$WORK/slurmstepd.real\"" -DOUT="\"$WORK/stepd.tsv\"" \
    -o "$WORK/stepd-watch" bench/stepd-watch.c
MOUNTED=""
cleanup() {
    local rc=$?
    if [ -n "$MOUNTED" ]; then umount "$REAL" || umount -l "$REAL" || true; fi
    cp "$WORK/plugstack.with" "$PLUGSTACK" 2>/dev/null || true
    if [ "${COST_KEEP_LAB:-0}" = 1 ]; then
        # Back to the plugin loaded, as lab.sh up left it.
        kill "$(cat "$LAB_LAB/run/slurmd.pid")" 2>/dev/null || true
        sleep 1
        "$LABSH" start-slurmd >/dev/null 2>&1 || true
    else
        "$LABSH" down
    fi
    exit $rc
}
trap cleanup EXIT
mount --bind "$WORK/stepd-watch" "$REAL"
MOUNTED=1
say "slurmstepd ($REAL) watched by $WORK/stepd-watch"

ALLOC=$LAB_JOBS/workloads/alloc.py
mkdir -p "$LAB_JOBS/workloads"
cp tests/cluster/workloads/alloc.py "$ALLOC"
cat >"$LAB_JOBS/cost-short.sh" <<'EOF'
#!/bin/sh
t0=$(date +%s%N)
srun sh -c 'echo "task_end_ns $(date +%s%N)"'
t1=$(date +%s%N)
echo "srun_ns $t0 $t1"
EOF
cat >"$LAB_JOBS/cost-oom.sh" <<EOF
#!/bin/sh
t0=\$(date +%s%N)
srun /usr/bin/python3 $ALLOC 150
t1=\$(date +%s%N)
echo "srun_ns \$t0 \$t1"
EOF
chmod 0755 "$LAB_JOBS/cost-short.sh" "$LAB_JOBS/cost-oom.sh"

SLURMD_STATE=with
set_slurmd() { # with | absent: plugstack.conf for the next jobs, and slurmd restarted on it
    [ "$1" = "$SLURMD_STATE" ] && return 0
    cp "$WORK/plugstack.$1" "$PLUGSTACK.new" && mv -f "$PLUGSTACK.new" "$PLUGSTACK"
    local pid
    pid=$(cat "$LAB_LAB/run/slurmd.pid")
    kill "$pid"
    while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
    "$LABSH" start-slurmd >/dev/null 2>&1
    until [ "$(sinfo -h -N -o %t 2>/dev/null)" = idle ]; do sleep 0.1; done
    SLURMD_STATE=$1
}

# One job; waits until its last slurmstepd (the spank epilog's, when slurmd has the plugin)
# has exited, as the watcher's lines say. $1 = configuration, $2 = warm-up or measured.
run_job() {
    local config=$1 kind=$2 script=cost-short.sh args=() id t state
    case $config in
        oom-*) script=cost-oom.sh; args=(--mem=60M) ;;
        *) args=(--mem=100M) ;;
    esac
    case $config in opted | oom-opted) args+=(--oom-explain) ;; esac
    t=$(date +%s%N)
    id=$("$LABSH" sbatch -J "cost-$config" -o "cost-%j.out" -e "cost-%j.err" "${args[@]}" \
        "$LAB_JOBS/$script")
    local last="slurmstepd: \[$id\.batch\]\$"
    [ "$SLURMD_STATE" = with ] && last="^[0-9]*	[0-9]*	[-0-9]*	[-0-9]*	[-0-9]*	$id	"
    for _ in $(seq 1200); do
        grep -q "$last" "$WORK/stepd.tsv" 2>/dev/null && break
        sleep 0.05
    done
    grep -q "$last" "$WORK/stepd.tsv" || { say "job $id ($config): no end seen in 60 s"; exit 1; }
    while pgrep -f "slurmstepd: \[$id\." >/dev/null; do sleep 0.02; done
    state=$(scontrol show job -o "$id" | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p')
    printf '%s\t%s\t%s\t%s\t%s\n' "$id" "$config" "$kind" "$t" "$state" >>"$WORK/jobs.tsv"
}

started=$(date +%s)
# Warm-up (not counted): each configuration once.
set_slurmd absent
run_job absent warmup
run_job oom-absent warmup
set_slurmd with
for c in loaded opted oom-opted; do run_job "$c" warmup; done

cycles=$((N / BLOCK))
for cycle in $(seq "$cycles"); do
    if [ $((cycle % 2)) = 1 ]; then order="absent with"; else order="with absent"; fi
    for state in $order; do
        set_slurmd "$state"
        if [ "$state" = absent ]; then configs="absent oom-absent"; else configs="loaded opted oom-opted"; fi
        for c in $configs; do
            for _ in $(seq "$BLOCK"); do run_job "$c" measured; done
        done
    done
    say "cycle $cycle of $cycles done ($(( $(date +%s) - started )) s)"
done

# The sampler over a longer step: one opted-in job, COST_LONG_SECS (default 20) s in one srun step.
set_slurmd with
cat >"$LAB_JOBS/cost-long.sh" <<EOF
#!/bin/sh
srun sleep ${COST_LONG_SECS:-20}
EOF
chmod 0755 "$LAB_JOBS/cost-long.sh"
long=$("$LABSH" sbatch -J cost-long -o "cost-%j.out" -e "cost-%j.err" --mem=100M --oom-explain \
    "$LAB_JOBS/cost-long.sh")
"$LABSH" wait "$long" 120 >/dev/null
for _ in $(seq 200); do grep -q "	$long	" "$WORK/stepd.tsv" && break; sleep 0.05; done
say "all jobs done ($(( $(date +%s) - started )) s)"

cp "$LAB_LAB/log/slurmd.log" "$WORK/slurmd.log"
python3 - "$WORK" "$LAB_JOBS" "$SO" "$long" <<'EOF' | tee "$WORK/table.md"
import os, re, statistics, sys

work, jobs_dir, so, long_job = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
jobs = {}
for line in open(f"{work}/jobs.tsv"):
    id_, config, kind, submit, state = line.rstrip("\n").split("\t")
    jobs[id_] = dict(config=config, kind=kind, submit=int(submit), state=state, steps={})
jobs[long_job] = dict(config="long", kind="measured", submit=0, state="", steps={})
for line in open(f"{work}/stepd.tsv"):
    start, end, cpu, hwm, rss, job, title = line.rstrip("\n").split("\t")
    m = re.search(r"\[(\d+)\.(\w+)\]", title)
    if m:
        job, step = m.group(1), m.group(2)
    elif job != "-":
        step = "epilog"
    else:
        continue
    if job in jobs:
        jobs[job]["steps"][step] = dict(start=int(start), end=int(end), cpu=int(cpu), hwm=int(hwm))
pat = re.compile(r"\] \[(\d+)\.(\w+)\] oom-explain: step .* analysed in (\d+) us, "
                 r"(?:sampler (\d+) samples in (\d+) us|no sampler)")
for line in open(f"{work}/slurmd.log"):
    m = pat.search(line)
    if m and m.group(1) in jobs:
        s = jobs[m.group(1)]["steps"].setdefault(m.group(2), {})
        s["analysed"] = int(m.group(3))
        if m.group(4):
            s["samples"], s["busy"] = int(m.group(4)), int(m.group(5))
for id_, j in jobs.items():
    try:
        text = open(f"{jobs_dir}/cost-{id_}.out").read()
    except OSError:
        continue
    m = re.search(r"task_end_ns (\d+)", text)
    j["task_end"] = int(m.group(1)) if m else None
    m = re.search(r"srun_ns (\d+) (\d+)", text)
    j["srun"] = (int(m.group(1)), int(m.group(2))) if m else None

def values(config, f):
    out = []
    for j in jobs.values():
        if j["config"] == config and j["kind"] == "measured":
            try:
                v = f(j)
            except (KeyError, TypeError):
                v = None
            if v is not None:
                out.append(v)
    return out

def med(config, f):
    v = values(config, f)
    return (statistics.median(v), len(v)) if v else (None, 0)

ms = 1e6
rows = [
    ("slurmstepd CPU, batch step (ms)", lambda j: j["steps"]["batch"]["cpu"] / ms),
    ("slurmstepd CPU, srun step 0 (ms)", lambda j: j["steps"]["0"]["cpu"] / ms),
    ("slurmstepd CPU, spank epilog (ms)", lambda j: j["steps"]["epilog"]["cpu"] / ms if "epilog" in j["steps"] else 0.0),
    ("slurmstepd CPU, whole job (ms)", lambda j: sum(s["cpu"] for s in j["steps"].values() if "cpu" in s) / ms),
    ("peak RSS (VmHWM), batch slurmstepd (KiB)", lambda j: j["steps"]["batch"]["hwm"]),
    ("peak RSS (VmHWM), step 0 slurmstepd (KiB)", lambda j: j["steps"]["0"]["hwm"]),
    ("srun step wall, as the script sees it (ms)", lambda j: (j["srun"][1] - j["srun"][0]) / ms),
    ("last task's exit → srun returns (ms)", lambda j: (j["srun"][1] - j["task_end"]) / ms),
    ("last task's exit → step 0 slurmstepd exits (ms)", lambda j: (j["steps"]["0"]["end"] - j["task_end"]) / ms),
    ("plugin's own `analysed in`, step 0 (µs)", lambda j: j["steps"]["0"]["analysed"]),
    ("plugin's own `analysed in`, batch (µs)", lambda j: j["steps"]["batch"]["analysed"]),
    ("sampler CPU, step 0 (µs, samples)", lambda j: j["steps"]["0"]["busy"]),
    ("sampler share of a core, step 0 (%)", lambda j: 100 * j["steps"]["0"]["busy"] * 1e3 / (j["steps"]["0"]["end"] - j["steps"]["0"]["start"])),
    ("turnaround: submit → batch step ends (ms)", lambda j: (j["steps"]["batch"]["end"] - j["submit"]) / ms),
    ("turnaround: submit → last slurmstepd ends (ms)", lambda j: (max(s["end"] for s in j["steps"].values() if "end" in s) - j["submit"]) / ms),
]

def fmt(x):
    if x is None:
        return "–"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.3g}"

def ratio(a, b):
    return f"{a / b:.2f}×" if a is not None and b not in (None, 0) else "–"

counts = {c: len(values(c, lambda j: 1)) for c in ("absent", "loaded", "opted", "oom-absent", "oom-opted")}
states = {c: sorted(set(values(c, lambda j: j["state"]))) for c in counts}
print(f"Jobs measured: " + ", ".join(f"{c} {n} ({'/'.join(states[c])})" for c, n in counts.items()))
print()
print("| median | absent | loaded, not opted in | opted in | loaded ÷ absent | opted ÷ absent | OOM-killed, absent | OOM-killed, opted in | ÷ |")
print("|---|---|---|---|---|---|---|---|---|")
for name, f in rows:
    a, l, o, ka, ko = (med(c, f)[0] for c in ("absent", "loaded", "opted", "oom-absent", "oom-opted"))
    print(f"| {name} | {fmt(a)} | {fmt(l)} | {fmt(o)} | {ratio(l, a)} | {ratio(o, a)} | {fmt(ka)} | {fmt(ko)} | {ratio(ko, ka)} |")
print()
# Spread of the figures the targets are about: 90th percentile too.
def p90(config, f):
    v = sorted(values(config, f))
    return v[int(0.9 * (len(v) - 1))] if v else None
print("90th percentiles: " + "; ".join(
    f"{name.split(' (')[0]}: " + ", ".join(f"{c} {fmt(p90(c, f))}" for c in ("absent", "loaded", "opted", "oom-absent", "oom-opted"))
    for name, f in (rows[1], rows[3], rows[5], rows[8], rows[9])))
print()
lj = jobs[long_job]["steps"]
for step in ("0", "batch"):
    s = lj.get(step, {})
    if "busy" in s and "end" in s:
        wall = (s["end"] - s["start"]) / 1e9
        print(f"Long opted-in job {long_job}, step {step}: {s['samples']} samples in {s['busy']} us "
              f"over {wall:.1f} s = {100 * s['busy'] / 1e6 / wall:.4f} % of a core; "
              f"slurmstepd VmHWM {s['hwm']} KiB, CPU {s['cpu'] / ms:.1f} ms")
print(f"\n.so size: {os.stat(so).st_size:,} bytes ({os.stat(so).st_size / 1048576:.2f} MiB)")
EOF
