#!/usr/bin/env bash
# Every test of oom-explain, from a fresh machine: installs what it needs (apt), checks style,
# runs the unit and fixture tests, fuzzes every parser for a bounded time, builds the plugin for
# every vendored Slurm release and checks each plugin_version, starts a real Slurm 22.05 on
# loopback, runs the real-cluster tests (cgroup v1 on this host; faults injected, load), builds
# the .deb and the .rpm and runs a real job on the installed .deb (then purges it), stops
# every daemon it started, then runs the same real-cluster tests
# and the scenario corpus on cgroup v2 inside VMs: Slurm 22.05 (Debian 12), 24.11 under systemd
# (Debian 13) and 26.05 (Debian unstable). Run as root (it starts slurmd and qemu).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
LAB=tests/cluster/lab.sh
started=$(date +%s)
step() { echo; echo "=== $* ($(( $(date +%s) - started )) s)"; }

step "install: Slurm 22.05, munge, libclang (for bindgen), python3"
$LAB install

step "VM lanes: prepare their Debian images and kernels in the background"
bash tests/cluster/lab.sh install-pkgs qemu-system-x86 debootstrap cpio zstd kmod binutils e2fsprogs
mkdir -p target
prepare_pids=()
for lane in bookworm trixie sid; do
    bash tests/vm/lane.sh "$lane" --prepare >"target/vm-prepare-$lane.log" 2>&1 &
    prepare_pids+=("$lane:$!")
done
# If anything below fails, the preparations (debootstrap as root) stop with it.
# (Under set -e a failing command in the trap would become the script's exit status.)
stop_preparing() {
    local entry
    for entry in "${prepare_pids[@]}"; do
        pkill -P "${entry#*:}" 2>/dev/null || true
        kill "${entry#*:}" 2>/dev/null || true
    done
}
trap stop_preparing EXIT

step "style: cargo fmt --check, cargo clippy -D warnings"
cargo fmt --all -- --check
cargo clippy --all-targets --features cluster-tests,fault-injection -- -D warnings

step "unit and fixture tests (the pure core on real captured cgroup trees)"
cargo test --locked

step "fuzz every parser of hostile input (cargo-fuzz on stable; fuzz/regressions replayed first)"
FUZZ_SECONDS=${FUZZ_SECONDS:-10} bash tests/fuzz.sh

step "build the plugin for every vendored Slurm release; check each plugin_version"
bash tests/build-plugin.sh --all

step "build the plugin with fault injection (for the fault tests only, never shipped)"
cargo test --locked --features fault-injection --test faults
cargo build --locked --release --lib --features fault-injection
mkdir -p target/plugins/faults
cp target/release/liboom_explain.so target/plugins/faults/oom_explain.so

step "build the plugin (release) for this host's Slurm"
cargo build --locked --release

trap '$LAB down; stop_preparing' EXIT
step "real cluster: start Slurm with the plugin, run the scenarios"
$LAB up
cargo test --locked --features cluster-tests --test cluster

step "scenario corpus: one real workload per cause (tests/scenarios)"
cargo test --locked --features cluster-tests --test scenarios -- --nocapture

step "scenario corpus, OverMemoryKill profile (Slurm's poll enforces memory, no cgroup limit)"
OOM_EXPLAIN_LAB_PROFILE=overmemory $LAB up
cargo test --locked --features cluster-tests --test scenarios -- --nocapture

step "real cluster, faults injected at every entry point: jobs end as without the plugin"
OOM_EXPLAIN_PLUGIN_ARGS="records=all" $LAB up target/plugins/faults/oom_explain.so
cargo test --locked --features cluster-tests --test cluster_faults -- --nocapture

# Debian's packages of daemons start them where no init system stops it (node_exporter on
# :9100, rsyslogd on /dev/log): only the tests run them, on the lab's own port and socket.
install_without_starting() {
    local policy_added=no
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d
        policy_added=yes
    fi
    local rc=0
    $LAB install-pkgs "$@" || rc=$?
    # Never left behind: it would stop every later package's service from starting.
    if [ "$policy_added" = yes ]; then rm -f /usr/sbin/policy-rc.d; fi
    return $rc
}
lab_dir=$($LAB env | sed -n 's/^LAB=//p')

step "real cluster with metrics_file: node_exporter's textfile collector reads the epilog's counters"
install_without_starting prometheus-node-exporter
OOM_EXPLAIN_PLUGIN_ARGS="metrics_file=$lab_dir/metrics/oom_explain.prom" $LAB up
cargo test --locked --features cluster-tests --test cluster_metrics -- --nocapture

step "real cluster with job_log=syslog: a real rsyslogd writes the job lines, the command reads its file"
install_without_starting rsyslog
OOM_EXPLAIN_PLUGIN_ARGS="job_log=syslog syslog_facility=local3 syslog_socket=$lab_dir/run/oom-syslog.sock" $LAB up
cargo test --locked --features cluster-tests --test cluster_syslog -- --nocapture

step "real cluster with a bad plugstack.conf argument: the plugin steps aside"
OOM_EXPLAIN_PLUGIN_ARGS="headroom=25 hedroom=5" $LAB up
cargo test --locked --features cluster-tests --test cluster_bad_config

step "real cluster with site settings: escalation beyond the node's memory, the user's own option"
OOM_EXPLAIN_PLUGIN_ARGS="max_mem=150M highmem_partition=bigmem support=hpc-help@example.org help_url=https://hpc.example.org/oom" $LAB up
cargo test --locked --features cluster-tests --test cluster_site

step "real cluster with two slurmd nodes: a record per node, oom-explain JOBID, slurmd killed before the epilog"
OOM_EXPLAIN_LAB_PROFILE=twonode OOM_EXPLAIN_PLUGIN_ARGS=records=all $LAB up
cargo test --locked --features cluster-tests --test cluster_records -- --nocapture

step "load on the two-node cluster (same lab): 200 opted-in jobs, half OOM-killed, some on 2 nodes"
cargo test --locked --features cluster-tests --test cluster_load -- --nocapture

step "real cluster with slurmdbd + MariaDB: oom-explain JOBID from sacct for a job without a record; oom-explain suggest from earlier runs"
OOM_EXPLAIN_LAB_PROFILE=accounting OOM_EXPLAIN_PLUGIN_ARGS=job_log_mode=0644 $LAB up
cargo test --locked --features cluster-tests --test cluster_sacct

step "a workflow engine retries an OOM-killed job with oom-explain's next request (Snakemake, same lab)"
$LAB install-pkgs snakemake
cargo test --locked --features cluster-tests --test cluster_workflow -- --nocapture

step "records in Slurm's accounting: two nodes, slurmdbd, PrivateData=jobs; AdminComment through slurmctld at each step's end, then SystemComment through slurmdbd in the epilog (accounting_with_private_data=yes)"
# One at a time: the tests count slurmdbd's requests and move the job log away.
OOM_EXPLAIN_LAB_PROFILE=twonode-accounting OOM_EXPLAIN_PLUGIN_ARGS=accounting_field=AdminComment $LAB up
cargo test --locked --features cluster-tests --test cluster_store -- --test-threads=1 --nocapture
OOM_EXPLAIN_LAB_PROFILE=twonode-accounting OOM_EXPLAIN_PLUGIN_ARGS="accounting_field=SystemComment accounting_with_private_data=yes" $LAB up
cargo test --locked --features cluster-tests --test cluster_store -- --test-threads=1 --nocapture

step "packages: make deb, make rpm, make install DESTDIR= agree; the .deb installed explains a real job, then is purged"
bash tests/package.sh

$LAB down
trap stop_preparing EXIT
for entry in "${prepare_pids[@]}"; do
    wait "${entry#*:}" || { cat "target/vm-prepare-${entry%%:*}.log" >&2; echo "preparing VM lane ${entry%%:*} failed" >&2; exit 1; }
done
# Every lane runs even when one fails, so one run shows all of them.
failed_lanes=()
for lane in bookworm trixie sid; do
    step "VM lane $lane: the real-cluster tests and the scenario corpus on cgroup v2 ($(sed -n "s/^#   $lane  *//p" tests/vm/lane.sh | head -1))"
    bash tests/vm/lane.sh "$lane" || failed_lanes+=("$lane")
done
if [ ${#failed_lanes[@]} -gt 0 ]; then
    echo "FAILED VM lanes: ${failed_lanes[*]}" >&2
    exit 1
fi

step "all tests passed"
