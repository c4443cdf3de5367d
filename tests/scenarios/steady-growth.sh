#!/bin/sh
# expect: steady-growth
# what: keeps 6 MiB of results every 0.4 s and never frees them, asked for 300M
#SBATCH --mem=300M
#SBATCH --oom-explain
/usr/bin/python3 @WORKLOADS@/leak.py 6 0.4
