#!/usr/bin/env bash
# The main job, from a fresh machine: build oom-explain, start a real one-node Slurm with it,
# submit a job that runs out of memory with --oom-explain, show its slurm-%j.err, then ask the
# oom-explain command about the job afterwards (from the record the job epilog left).
# Run as root. The cluster stays up afterwards; stop it with: tests/cluster/lab.sh down
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
LAB_SH=tests/cluster/lab.sh

$LAB_SH install
echo "== building the plugin"
cargo build --release --locked 2>&1 | tail -n 1
echo "== starting Slurm (munge, slurmctld, slurmd) on 127.0.0.1"
$LAB_SH up
eval "$($LAB_SH env)"
install -m 0644 tests/cluster/workloads/array.py "$JOBS/array.py"
cat >"$JOBS/demo.sh" <<JOB
#!/bin/sh
#SBATCH --job-name=demo
#SBATCH --mem=200M
#SBATCH --oom-explain
#SBATCH --output=slurm-%j.out
#SBATCH --error=slurm-%j.err
# Load a 600 MiB "dataset" into one array, as numpy.load does.
/usr/bin/python3 $JOBS/array.py 600
JOB
chmod 0644 "$JOBS/demo.sh"
echo "== submitting as user $JOB_USER: sbatch demo.sh (--mem=200M; it needs about 600M, which one killed run cannot tell: the report's first advice is to double, then to double again)"
job=$($LAB_SH sbatch "$JOBS/demo.sh")
state=$($LAB_SH wait "$job")
echo "== job $job ended: $state. Its $JOBS/slurm-$job.err:"
echo
cat "$JOBS/slurm-$job.err"
echo
echo "== later, on a login node: oom-explain --log $JOB_LOG $job (the job log the epilog wrote)"
for _ in $(seq 50); do grep -q "\"job\":$job," "$JOB_LOG" 2>/dev/null && break; sleep 0.2; done
target/release/oom-explain --log "$JOB_LOG" "$job"
echo
echo "(The cluster is still up. Try your own job: tests/cluster/lab.sh sbatch --oom-explain FILE"
echo " (it runs as $JOB_USER in $JOBS, where its slurm-JOBID.out lands: without --error, stderr"
echo " and the report go there too), then, as root: target/release/oom-explain --log $JOB_LOG JOBID"
echo " (the job log is root's only here, as by default on a site: job_log_mode=0600)."
echo " Stop it with: tests/cluster/lab.sh down)"
