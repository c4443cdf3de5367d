#!/bin/sh
# expect: none
# what: writes a 600 MiB file to disk and reads it back twice with 200M asked (file cache far above the request), then finishes
# cgroup: v1
#SBATCH --mem=200M
#SBATCH --oom-explain=always
# On disk (the submit folder), not in memory: the VM lanes' root is in memory, hence v1 only.
f=$(mktemp -p "${SLURM_SUBMIT_DIR:-.}" stream.XXXXXX)
dd if=/dev/zero of="$f" bs=1M count=600 conv=fsync status=none
cat "$f" >/dev/null
cat "$f" >/dev/null
rm -f "$f"
