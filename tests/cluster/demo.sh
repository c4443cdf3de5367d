#!/usr/bin/env bash
# The main job, from a fresh machine: build oom-explain, start a real one-node Slurm with it,
# submit a job that runs out of memory with --oom-explain, and show its slurm-%j.err.
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
install -m 0644 tests/cluster/workloads/alloc.py "$JOBS/alloc.py"
cat >"$JOBS/demo.sh" <<JOB
#!/bin/sh
#SBATCH --job-name=demo
#SBATCH --mem=200M
#SBATCH --oom-explain
#SBATCH --output=slurm-%j.out
#SBATCH --error=slurm-%j.err
# Load a "dataset" of 600 MiB into memory, 20 MiB at a time.
/usr/bin/python3 $JOBS/alloc.py 600 0 20
JOB
chmod 0644 "$JOBS/demo.sh"
echo "== submitting as user $JOB_USER: sbatch demo.sh (--mem=200M, needs about 600M)"
job=$($LAB_SH sbatch "$JOBS/demo.sh")
state=$($LAB_SH wait "$job")
echo "== job $job ended: $state. Its $JOBS/slurm-$job.err:"
echo
cat "$JOBS/slurm-$job.err"
echo
echo "(The cluster is still up: SLURM_CONF=$SLURM_CONF. Stop it with: tests/cluster/lab.sh down)"
