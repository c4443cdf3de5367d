#!/usr/bin/python3
"""Really uses memory: allocates MiB in chunks and writes to every page, so it is resident.

usage: alloc.py TOTAL_MIB [HOLD_SECONDS] [CHUNK_MIB]
Grows to TOTAL_MIB in CHUNK_MIB pieces (default 10), holds it HOLD_SECONDS (default 0), exits 0.
"""
import sys
import time

total = int(sys.argv[1])
hold = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
chunk = int(sys.argv[3]) if len(sys.argv) > 3 else 10
held = []
done = 0
while done < total:
    size = min(chunk, total - done) << 20
    block = bytearray(size)
    for i in range(0, size, 4096):
        block[i] = 1
    held.append(block)
    done += size >> 20
time.sleep(hold)
print(f"alloc.py: held {done} MiB")
