#!/usr/bin/python3
"""Worker memory multiplication: a large object loaded before the pool is forked.

workers.py DATA_MIB WORKERS. Each worker walks the parent's list; Python's reference counting
writes to every object, so each worker ends up with its own copy of the pages.
"""
import multiprocessing
import sys
import time

data_mib, workers = int(sys.argv[1]), int(sys.argv[2])
# Many small objects, as a loaded dataset is (about 1 KiB each).
data = [bytes(1000) + str(i).encode() for i in range(data_mib * 1024)]


def work(seed):
    total = 0
    for _ in range(3):
        for item in data:
            total += len(item)
    time.sleep(2)
    return total + seed


if __name__ == "__main__":
    multiprocessing.set_start_method("fork")
    with multiprocessing.Pool(workers) as pool:
        print(sum(pool.map(work, range(workers))))
