#!/bin/sh
# expect: overmemory-kill
# what: uses 200 MiB for 10 s with 100M asked; Slurm's poll (OverMemoryKill) enforces memory
# profile: overmemory
#SBATCH --mem=100M
#SBATCH --oom-explain
/usr/bin/python3 @WORKLOADS@/alloc.py 200 10
