#!/bin/sh
# expect: none
# warns: no-or-withdrawn
# what: loads 4 MiB every half second up to 280 MiB of the 350M it asked for, holds it for a minute, finishes
#SBATCH --mem=350M
#SBATCH --oom-explain=always
/usr/bin/python3 @WORKLOADS@/leak.py 4 0.5 280 60
