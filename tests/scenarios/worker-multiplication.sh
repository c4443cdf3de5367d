#!/bin/sh
# expect: worker-multiplication
# what: a 50 MiB dataset copied into each of 4 forked workers on 1 CPU; each keeps 2 MiB/s more; 350M
#SBATCH --mem=350M
#SBATCH --cpus-per-task=1
#SBATCH --oom-explain
/usr/bin/python3 @WORKLOADS@/workers.py 50 4 2
