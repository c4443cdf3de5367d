#!/bin/sh
# expect: under-allocation
# what: needs 500 MiB from the start, asked for 200M
#SBATCH --mem=200M
#SBATCH --oom-explain
/usr/bin/python3 @WORKLOADS@/alloc.py 500 0 50
