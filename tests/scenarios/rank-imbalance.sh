#!/bin/sh
# expect: rank-imbalance
# what: srun -n 2, rank 0 gathers 400 MiB, rank 1 holds 20 MiB; 300M for the job
#SBATCH --mem=300M
#SBATCH --ntasks=2
#SBATCH --oom-explain
srun /usr/bin/python3 @WORKLOADS@/ranks.py 400 20 3
exit 0
