#!/usr/bin/env python3
"""sacct's answer to `report --from-sacct` (JobIDRaw|UID|Partition|AdminComment|SystemComment)
for the job lines on stdin, each stored as the plugin writes it (oe1: and the line's hex)."""
import json
import sys

for line in sys.stdin:
    record = json.loads(line)
    value = "oe1:" + line.rstrip().encode().hex()
    uid = record.get("uid", "")
    partition = record.get("partition") or ""
    print(f"{record['job']}|{uid}|{partition}|{value}|")
