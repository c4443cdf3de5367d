#!/bin/sh
# expect: worker-multiplication
# what: a pool of 4 forked workers each copying a 60 MiB dataset at once, 200M on 1 CPU: killed in its first second
#SBATCH --mem=200M
#SBATCH --cpus-per-task=1
#SBATCH --oom-explain
/usr/bin/python3 @WORKLOADS@/workers.py 60 4 0 10
