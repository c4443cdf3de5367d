#!/bin/sh
# expect: load-spike
# what: works at 30 MiB for 12 s, then loads a 600 MiB input whole, asked for 300M
#SBATCH --mem=300M
#SBATCH --oom-explain
/usr/bin/python3 @WORKLOADS@/spike.py 30 12 600
