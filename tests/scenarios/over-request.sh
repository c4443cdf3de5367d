#!/bin/sh
# expect: over-request
# what: asks for 2G and uses 100 MiB
#SBATCH --mem=2G
#SBATCH --oom-explain
/usr/bin/python3 @WORKLOADS@/alloc.py 100 1
