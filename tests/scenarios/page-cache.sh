#!/bin/sh
# expect: none
# what: writes a 600 MiB file to disk and reads it back twice with 200M asked (file cache far above the request), then finishes
#SBATCH --mem=200M
#SBATCH --oom-explain=always
# On a disk: the VM lanes' scratch disk (their root is in memory), else the submit folder.
dir=${SLURM_SUBMIT_DIR:-.}
[ -d /scratch ] && [ -w /scratch ] && dir=/scratch
f=$(mktemp -p "$dir" stream.XXXXXX)
dd if=/dev/zero of="$f" bs=1M count=600 conv=fsync status=none
cat "$f" >/dev/null
cat "$f" >/dev/null
rm -f "$f"
