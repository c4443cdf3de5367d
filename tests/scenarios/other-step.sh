#!/bin/sh
# expect: other-step
# what: step 0 holds 150 MiB while step 1 grows to 300 MiB; the job has 400M for both
#SBATCH --mem=400M
#SBATCH --ntasks=2
#SBATCH --oom-explain
srun --overlap -n 1 /usr/bin/python3 @WORKLOADS@/alloc.py 150 15 &
sleep 4
srun --overlap -n 1 /usr/bin/python3 @WORKLOADS@/leak.py 10 0.05 300
wait
exit 0
