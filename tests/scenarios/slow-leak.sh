#!/bin/sh
# expect: steady-growth
# warns: yes
# what: keeps 2 MiB more every half second and never frees it, asked for 400M (killed after about 100 s: warned tens of seconds before)
#SBATCH --mem=400M
#SBATCH --oom-explain
/usr/bin/python3 @WORKLOADS@/leak.py 2 0.5
