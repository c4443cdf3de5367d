#!/usr/bin/python3
"""Fills /dev/shm (memory-backed files): shm.py PREFIX FILE_MIB COUNT"""
import sys

prefix, file_mib, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
chunk = b"x" * (1 << 20)
for n in range(count):
    with open(f"/dev/shm/{prefix}-{n}", "wb") as f:
        for _ in range(file_mib):
            f.write(chunk)
print("wrote", file_mib * count, "MiB")
