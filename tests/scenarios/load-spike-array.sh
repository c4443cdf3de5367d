#!/bin/sh
# expect: load-spike
# what: works at 30 MiB for 12 s, then allocates a 700 MiB array whole and fills it, asked for 300M
#SBATCH --mem=300M
#SBATCH --oom-explain
/usr/bin/python3 @WORKLOADS@/array.py 700 30 12
