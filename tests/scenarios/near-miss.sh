#!/bin/sh
# expect: near-miss
# what: peaks at 280 MiB of 300M and finishes
#SBATCH --mem=300M
#SBATCH --oom-explain
/usr/bin/python3 @WORKLOADS@/alloc.py 280 1
