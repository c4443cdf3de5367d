#!/usr/bin/python3
"""A calm phase, then a large input loaded whole: spike.py CALM_MIB CALM_SECONDS INPUT_MIB"""
import sys
import time

calm_mib, calm_s, input_mib = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
working = bytearray(calm_mib << 20)
for i in range(0, len(working), 4096):
    working[i] = 1
time.sleep(calm_s)
# "read_csv" of a big file: the whole input at once, as fast as memory fills.
# (Real bytes: b"\0" * n or bytes(n) would be zero pages the kernel never materialises.)
table = [b"\x01" * (1 << 20) for _ in range(input_mib)]
print("loaded", len(table), "MiB")
