#!/bin/sh
# expect: steady-growth
# what: keeps 10 MiB of results every 0.25 s from its start, asked for 300M: killed after about 8 s
#SBATCH --mem=300M
#SBATCH --oom-explain
/usr/bin/python3 @WORKLOADS@/leak.py 10 0.25
