#!/usr/bin/python3
"""An imbalanced "MPI" step: rank 0 gathers everything. ranks.py RANK0_MIB OTHERS_MIB HOLD_S"""
import os
import sys
import time

rank = int(os.environ.get("SLURM_PROCID", "0"))
size = int(sys.argv[1]) if rank == 0 else int(sys.argv[2])
held = []
for _ in range(size // 10):
    block = bytearray(10 << 20)
    for i in range(0, len(block), 4096):
        block[i] = 1
    held.append(block)
    time.sleep(0.05)
time.sleep(float(sys.argv[3]))
print("rank", rank, "held", size, "MiB")
