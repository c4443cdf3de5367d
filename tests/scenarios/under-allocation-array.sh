#!/bin/sh
# expect: under-allocation
# what: allocates a 500 MiB array whole and fills it (like numpy.load), asked for 200M
#SBATCH --mem=200M
#SBATCH --oom-explain
/usr/bin/python3 @WORKLOADS@/array.py 500
