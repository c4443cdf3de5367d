#!/bin/sh
# expect: node-oom
# what: asks for 1G and uses 400 MiB, but the node can only give 150 MiB (a limit above the job)
# user: oomnode
# parent-limit: 150
# cgroup: v1
#SBATCH --mem=1G
#SBATCH --oom-explain
/usr/bin/python3 @WORKLOADS@/alloc.py 400 0 20
