#!/usr/bin/python3
"""Allocates its data whole, then fills it, like numpy.load, np.ones or a Fortran ALLOCATE.

usage: array.py MIB [CALM_MIB CALM_SECONDS]
With CALM_*: first works at CALM_MIB for CALM_SECONDS (a load spike: the big array comes later).
"""
import sys
import time

if len(sys.argv) > 3:
    calm = bytearray(int(sys.argv[2]) << 20)  # bytearray(n) allocates n, then writes zeros
    time.sleep(float(sys.argv[3]))
data = bytearray(int(sys.argv[1]) << 20)
print(f"array.py: filled {len(data) >> 20} MiB")
