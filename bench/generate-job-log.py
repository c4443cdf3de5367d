#!/usr/bin/python3
"""Writes a large, realistic job log for the report benchmark (bench/report.sh).

usage: generate-job-log.py LINES OUT
Each line is a real job record from the test cluster (bench/job-log-sample.jsonl, one per
cause) with its job id, node, user, partition and end time changed: 100 nodes, 200 users,
4 partitions, spread over the last 365 days; 90 % of jobs fine, 3 % near misses, 2 %
over-requests, 5 % killed (causes drawn evenly).
"""
import json
import random
import sys
import time

lines, out = int(sys.argv[1]), sys.argv[2]
here = __file__.rsplit("/", 1)[0]
samples = {}
for line in open(f"{here}/job-log-sample.jsonl"):
    record = json.loads(line)
    samples[record["cause"]] = record
killed = [c for c in samples if c not in ("none", "near-miss", "over-request")]
rng = random.Random(1)
now = int(time.time())
with open(out, "w") as f:
    for job in range(1, lines + 1):
        roll = rng.random()
        cause = ("none" if roll < 0.90 else "near-miss" if roll < 0.93
                 else "over-request" if roll < 0.95 else rng.choice(killed))
        record = dict(samples[cause])
        record["job"] = job
        record["node"] = f"node{rng.randrange(100):03}"
        record["user"] = f"user{rng.randrange(200):03}"
        record["partition"] = rng.choice(["batch", "batch", "long", "gpu", "bigmem"])
        record["ended"] = now - rng.randrange(365 * 86400)
        record["elapsed_s"] = rng.randrange(60, 2 * 86400)
        f.write(json.dumps(record, separators=(",", ":")) + "\n")
