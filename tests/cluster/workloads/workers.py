#!/usr/bin/python3
"""Worker memory multiplication: every worker holds its own copy of a large dataset.

workers.py DATA_MIB WORKERS RESULT_MIB_PER_SECOND [SECONDS]. The parent loads the dataset and
forks the workers; each makes its own copy (as unpickling a task argument, or loading per worker,
does), then works on for SECONDS (default 600), keeping a little more every second, until the
copies no longer fit.
"""
import os
import sys
import time

data_mib, workers, grow = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
seconds = float(sys.argv[4]) if len(sys.argv) > 4 else 600.0
data = b"\x01" * (data_mib << 20)  # the loaded dataset: real pages
children = []
for n in range(workers):
    pid = os.fork()
    if pid == 0:
        mine = bytearray(data)  # this worker's own copy
        kept = []
        for _ in range(int(seconds * 5)):
            block = bytearray(int(grow * (1 << 20) / 5))
            for i in range(0, len(block), 4096):
                block[i] = 1
            kept.append(block)
            time.sleep(0.2)
        os._exit(0)
    children.append(pid)
# Like a process pool whose worker died: stop the others and fail.
while children:
    pid, status = os.wait()
    children.remove(pid)
    if os.WIFSIGNALED(status):
        for other in children:
            os.kill(other, 9)
        sys.exit(f"a worker was killed by signal {os.WTERMSIG(status)}")
