#!/bin/sh
# expect: worker-multiplication
# what: 80 MiB dataset loaded before a 4-worker pool on 1 CPU; each worker copies it; 350M
#SBATCH --mem=350M
#SBATCH --cpus-per-task=1
#SBATCH --oom-explain
/usr/bin/python3 @WORKLOADS@/workers.py 80 4
