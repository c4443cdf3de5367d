#!/bin/sh
# expect: tmpfs
# what: writes 20 MiB files to /dev/shm until killed (cleans up afterwards), asked for 300M
#SBATCH --mem=300M
#SBATCH --oom-explain
/usr/bin/python3 @WORKLOADS@/shm.py "oom-explain-$SLURM_JOB_ID" 20 40
rm -f /dev/shm/oom-explain-"$SLURM_JOB_ID"-*
