#!/bin/sh
# expect: worker-multiplication
# what: six copies of a tool started with & on 1 CPU, each growing to 45 MiB; 200M for all
#SBATCH --mem=200M
#SBATCH --cpus-per-task=1
#SBATCH --oom-explain
for i in 1 2 3 4 5 6; do
    /usr/bin/python3 @WORKLOADS@/alloc.py 45 20 5 &
done
wait
