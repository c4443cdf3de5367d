#!/usr/bin/env bash
# Regenerates fuzz/seeds/<target>/ from the project's real captured files (tests/fixtures,
# bench/job-log-sample.jsonl, plugstack.conf.example, docs/admins.md). Small on purpose: a
# few files per kind, not whole captures. Run from anywhere: bash fuzz/make-seeds.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
FX=tests/fixtures
OUT=fuzz/seeds
rm -rf "$OUT"
mkdir -p "$OUT"

# seed TARGET NAME: stdin becomes fuzz/seeds/TARGET/NAME
seed() { mkdir -p "$OUT/$1"; cat >"$OUT/$1/$2"; }

# --- cgroup_value: each distinct text of the files the readers parse.
n=0
while IFS= read -r f; do
    sum=$(sha1sum "$f" | cut -c1-12)
    name="$(basename "$f").$sum"
    # One file per distinct text, and at most 8 of each kind.
    [ -e "$OUT/cgroup_value/$name" ] && continue
    [ "$(ls "$OUT/cgroup_value" 2>/dev/null | grep -c "^$(basename "$f")\\.")" -ge 8 ] && continue
    seed cgroup_value "$name" <"$f"
    n=$((n + 1))
done < <(find "$FX" -type f \( -name memory.stat -o -name memory.events -o -name memory.max \
    -o -name memory.high -o -name memory.peak -o -name memory.current -o -name memory.oom.group \
    -o -name memory.limit_in_bytes -o -name memory.max_usage_in_bytes -o -name memory.usage_in_bytes \
    -o -name memory.failcnt -o -name memory.oom_control \) | sort | head -n 400)
printf 'max\n' | seed cgroup_value limit-max
printf '9223372036854771712\n' | seed cgroup_value limit-v1-unlimited

# --- cgroup_snapshot: one step of each captured tree: its job's files, then the step's.
READ_FILES='memory\.(stat|events|max|high|peak|current|oom\.group|limit_in_bytes|max_usage_in_bytes|usage_in_bytes|failcnt|oom_control)$'
while IFS= read -r step; do
    job=$(dirname "$step")
    case "$step" in */cgroup/memory/*) version=v1 ;; *) version=v2 ;; esac
    case_name=$(echo "${step#"$FX"/}" | cut -d/ -f1-2 | tr '/' '-')
    name="$case_name-$version-$(basename "$step")"
    {
        echo "$version"
        (cd "$job" && find . -maxdepth 1 -type f | sed 's|^\./||' | { grep -E "^$READ_FILES" || true; } | sort) |
            while IFS= read -r f; do echo "==> $f <=="; cat "$job/$f"; done
        (cd "$step" && find . -type f -not -path './slurm/*' | sed 's|^\./||' | { grep -E "(^|/)$READ_FILES" || true; } | sort) |
            while IFS= read -r f; do echo "==> step/$f <=="; cat "$step/$f"; done
    } | seed cgroup_snapshot "$name"
done < <(find "$FX" -type d -name 'step_*' -not -path '*/step_*/*' | sort | awk -F/ '!seen[$3 "/" $4]++')

# --- kernel_oom: the real kernel logs, with and without the header naming the step.
for f in "$FX"/kmsg/*.kmsg; do
    memcg=$(grep -o 'task_memcg=[^,]*' "$f" | head -n1 | cut -d= -f2)
    step_path=${memcg%/task_*}
    job_path=${step_path%/step_*}
    seed kernel_oom "$(basename "$f" .kmsg)" <"$f"
    { echo "$step_path $job_path 0 4096"; cat "$f"; } | seed kernel_oom "$(basename "$f" .kmsg).header"
done

# --- plugstack_args and plugstack_conf: the example's line and each documented argument.
grep -E '^(required|optional)' plugstack.conf.example | cut -d' ' -f3- | seed plugstack_args example-line
grep -oE '^#   [a-z_]+=[^ ]+' plugstack.conf.example | cut -c5- | grep -v '^config=' | seed plugstack_args documented
grep -oE 'OOM_EXPLAIN_PLUGIN_ARGS="[^"]*"' tests/run-all.sh | cut -d'"' -f2 | head -n 4 |
    while IFS= read -r args; do echo "$args" | seed plugstack_args "lab-$(echo "$args" | sha1sum | cut -c1-8)"; done
seed plugstack_conf example <plugstack.conf.example
{
    echo 'required /usr/lib64/slurm/oom_explain.so records=all default_mode=oom'
    echo 'optional liboom-explain.so headroom=25 hedroom=5  # a typo'
    echo 'optional /usr/lib64/slurm/other.so x=1'
} | seed plugstack_conf several

# --- config_file: the TOML example of docs/admins.md, and every key.
sed -n '/^```toml$/,/^```$/p' docs/admins.md | sed '1d;$d' | seed config_file admins-example
cat <<'TOML' | seed config_file every-key
headroom = 20
near_miss = "90%"
over_request = 50
over_request_min_unused = 1024
evidence_dir = "/var/lib/oom-explain-evidence"
max_mem = "512000M"
highmem_partition = "bigmem"
support = "hpc-help@example.org"
help_url = "https://hpc.example.org/oom"
default_mode = "oom"
records = "opted-in"
spool_dir = "/var/spool/oom-explain"
job_log = "/var/log/oom-explain/jobs.jsonl"
TOML

# --- mode_option: what Slurm hands over.
for m in auto oom always off OFF '(null)' '' ' oom '; do
    printf '%s' "$m" | seed mode_option "mode-$(printf '%s' "$m" | sha1sum | cut -c1-8)"
done

# --- job-log lines (a few, not the whole file) and the step records inside them.
LOG=bench/job-log-sample.jsonl
head -n 3 "$LOG" | seed job_log_line first-three
sed -n '4p' "$LOG" | seed job_log_line one
head -n 5 "$LOG" | seed report_line first-five
{ sed -n '6,7p' "$LOG"; echo 'not json'; echo '{"schema":2,"job":1}'; } | seed report_line mixed

# --- accounting_value: the field as sacct prints it (ours: oe1: and the hex of job lines),
# then this node's line; another tool's value; an empty field.
oe1() { printf 'oe1:%s' "$(od -An -v -tx1 | tr -d ' \n')"; }
{ sed -n '1p' "$LOG" | head -c -1 | oe1; echo; sed -n '2p' "$LOG"; } | seed accounting_value ours-then-mine
{ head -n 3 "$LOG" | head -c -1 | oe1; echo; } | seed accounting_value ours-three
printf 'JS1:H4sIAAAAAAAAA6tWyk\n' | seed accounting_value jobstats
printf '\n' | seed accounting_value empty
for i in 1 2 3; do
    sed -n "${i}p" "$LOG" | jq -c '.steps[]' | seed step_record "job-line-$i-steps"
done

# --- sacct_output: `sacct --version`, then sacct -P -n -o FIELDS (real output from the lab).
printf 'slurm 22.05.8\n1|OUT_OF_MEMORY|200M||00:00:00||1|0:125\n1.batch|OUT_OF_MEMORY||0|00:00:00|1|1|0:125\n' |
    seed sacct_output killed-22.05
printf 'slurm-wlm 24.11.5\n7|OUT_OF_MEMORY|200M||00:00:01||1|0:125\n7.batch|OUT_OF_MEMORY||204800K|00:00:01|1|1|0:125\n' |
    seed sacct_output killed-24.11
printf 'slurm 26.05.5\n8|COMPLETED|200M||00:00:01||1|0:0\n8.batch|COMPLETED||150M|00:00:01|1|1|0:0\n' |
    seed sacct_output fine-26.05

# --- suggest_runs: sacct -n -P -o suggest::FIELDS for a job's runs, shaped as the lab's sacct prints them (a kill,
# a finish with its steps, a step killed under a failed job, two nodes, 1.50G, a pending array).
printf '16|16|smk-grow|OUT_OF_MEMORY|200M||2026-11-30T23:19:02|1||1000||\n16.batch|16.batch|batch|OUT_OF_MEMORY||0|2026-11-30T23:19:02|1|1|||\n16.extern|16.extern|extern|COMPLETED||0|2026-11-30T23:19:02|1|1|||\n18|18|smk-grow|COMPLETED|800M||2026-11-30T23:19:40|1||1000||\n18.batch|18.batch|batch|COMPLETED||782144K|2026-11-30T23:19:40|1|1|||\n' |
    seed suggest_runs kill-then-finish
printf '80|80|train|FAILED|3G||2026-11-30T09:00:00|2||1000||\n80.0|80.0|python3|OUT_OF_MEMORY||1.49G|2026-11-30T09:00:00|2|2|||\n81|81_3|train|OUT_OF_MEMORY|1.50Gn||2026-11-30T10:00:00|1||1000||\n81|81_[4-9]|train|PENDING|1.50G||Unknown|1||1000||\n' |
    seed suggest_runs step-killed-two-nodes
printf '#!/bin/sh\n#SBATCH --job-name="a b" -J c\n#SBATCH --mem=2G\npython3 x.py\n' |
    seed suggest_runs script

# --- evidence_record: a few captured evidence records, compacted.
for f in "$FX"/evidence/v1/{load-spike.batch,near-miss.batch,other-step.0}.json; do
    jq -c . "$f" | seed evidence_record "$(basename "$f" .json)"
done

du -sh "$OUT"
for d in "$OUT"/*/; do printf '%-18s %3d files\n' "$(basename "$d")" "$(ls "$d" | wc -l)"; done
