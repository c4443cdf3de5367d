#!/bin/sh
# expect: steady-growth
# warns: no
# what: the slow leak again, with --oom-explain=nowarn (only the report at the end)
#SBATCH --mem=400M
#SBATCH --oom-explain=nowarn
/usr/bin/python3 @WORKLOADS@/leak.py 2 0.5
