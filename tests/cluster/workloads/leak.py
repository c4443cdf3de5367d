#!/usr/bin/python3
"""A leak: keeps every result. leak.py STEP_MIB EVERY_SECONDS [MAX_MIB [HOLD_SECONDS]]

Up to MAX_MIB it keeps STEP_MIB more every EVERY_SECONDS; then it holds what it has for
HOLD_SECONDS (growth that levels off) and finishes."""
import sys
import time

step, every = int(sys.argv[1]), float(sys.argv[2])
limit = int(sys.argv[3]) if len(sys.argv) > 3 else 1 << 30
hold = float(sys.argv[4]) if len(sys.argv) > 4 else 0
results = []
while len(results) * step < limit:
    block = bytearray(step << 20)
    for i in range(0, len(block), 4096):
        block[i] = 1
    results.append(block)  # never released
    time.sleep(every)
time.sleep(hold)
print("kept", len(results) * step, "MiB")
