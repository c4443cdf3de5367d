#!/bin/bash
# Inside a VM lane's guest (tests/vm/lane.sh packs it as /oom-vm/init): PID 1 itself, or a
# oneshot service when systemd is PID 1. Sets up the bare minimum a Slurm needs, runs the
# real-cluster test binaries, writes the results to the 9p share, powers off. Nothing here may
# print much: the serial console is slow under emulation.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
poweroff_now() { sync; echo o >/proc/sysrq-trigger; sleep 10; }

if [ $$ = 1 ]; then
    mount -t proc proc /proc
    mount -t sysfs sys /sys
    mount -t devtmpfs dev /dev
    mkdir -p /dev/pts /dev/shm /run /tmp
    mount -t devpts devpts /dev/pts
    mount -t tmpfs -o mode=1777 tmpfs /dev/shm
    mount -t tmpfs tmpfs /run
    mount -t cgroup2 -o nsdelegate,memory_recursiveprot cgroup2 /sys/fs/cgroup
    ln -sf /proc/self/fd /dev/fd
fi
# /tmp stays on the (in-memory) root file system: the checkout and its test binaries may live
# under /tmp at the same paths as on the host, and a tmpfs mounted here would hide them.
chmod 1777 /tmp

if grep -q oom_vm_probe=1 /proc/cmdline; then
    echo "OOMVM: probe ok" >/dev/console
    poweroff_now
fi

# Without a network card Slurm cannot resolve its own address: give loopback a second one.
ip link set lo up
ip addr add 10.254.254.1/32 dev lo
hostname vmtest
printf '127.0.0.1 localhost\n10.254.254.1 vmtest\n' >/etc/hosts

# Without udev: load the virtio PCI transport and 9p by hand, then mount the results share.
for m in virtio_pci 9pnet_virtio 9p; do modprobe "$m" 2>/dev/null; done
mkdir -p /out
mount -t 9p -o trans=virtio,version=9p2000.L out /out || { echo "OOMVM: no 9p share" >/dev/console; poweroff_now; }
# The scratch disk (ext4): files on a disk, for the page-cache scenario.
for m in virtio_blk ext4; do modprobe "$m" 2>/dev/null; done
mkdir -p /scratch && mount /dev/vda /scratch && chmod 1777 /scratch
echo "booted $(uname -r), PID 1: $(cat /proc/1/comm)" >/out/booted
echo "OOMVM: booted, running the tests" >/dev/console

REPO=$(cat /oom-vm/repo)
LANE=$(cat /oom-vm/lane)
cd "$REPO" || poweroff_now
LAB_SH=$REPO/tests/cluster/lab.sh
{ uname -r; slurmd -V; echo "PID 1: $(cat /proc/1/comm)"; } | tr '\n' ' ' >/out/versions.txt
"$LAB_SH" env >/out/lab-env.txt
: >/out/suites

# name, test binary, extra plugstack arguments, extra cgroup.conf line
run_suite() {
    echo "$1" >>/out/suites
    if ! OOM_EXPLAIN_PLUGIN_ARGS=$3 OOM_EXPLAIN_LAB_CGROUP_CONF=$4 "$LAB_SH" up >/out/"$1"-lab-up.log 2>&1; then
        # What systemd knows of a slurmd that did not start.
        { systemctl status slurmd --no-pager -l; journalctl -u slurmd --no-pager | tail -n 60; } \
            >>/out/"$1"-lab-up.log 2>&1
    fi
    "$2" --color never --nocapture >/out/"$1".txt 2>&1
    echo $? >/out/"$1".rc
    # One slurmd's log, or both nodes' of a two-node lab.
    cat /tmp/oom-explain-lab/log/slurmd*.log >/out/"$1"-slurmd.log 2>/dev/null
    cp /tmp/oom-explain-lab/etc/cgroup.conf /out/"$1"-cgroup.conf 2>/dev/null
}
run_suite cluster "$(cat /oom-vm/cluster-bin)" "" ""
cp /out/cluster-slurmd.log /out/slurmd.log 2>/dev/null
if [ -f /oom-vm/capture ]; then
    # Real cgroup trees of this release and kernel, for the fixture tests (lane.sh --capture).
    name=v2-slurm-$(slurmd -V | awk '{print $2}' | cut -d. -f1,2)-linux-$(uname -r | cut -d. -f1,2)
    bash "$REPO/tests/fixtures/capture.sh" "/out/capture/$name" >/out/capture.log 2>&1
fi
# The scenario corpus, on the lab the cluster suite started.
echo scenarios >>/out/suites
"$(cat /oom-vm/scenarios-bin)" --color never --nocapture >/out/scenarios.txt 2>&1
echo $? >/out/scenarios.rc
cp "$REPO"/target/scenarios-v2-default*.md /out/ 2>/dev/null
cp /tmp/oom-explain-lab/log/slurmd.log /out/scenarios-slurmd.log 2>/dev/null
# Slurm's own memory check (OverMemoryKill, no cgroup limit) on cgroup v2.
echo scenarios-overmemory >>/out/suites
OOM_EXPLAIN_LAB_PROFILE=overmemory "$LAB_SH" up >/out/scenarios-overmemory-lab-up.log 2>&1
"$(cat /oom-vm/scenarios-bin)" --color never --nocapture >/out/scenarios-overmemory.txt 2>&1
echo $? >/out/scenarios-overmemory.rc
cp /tmp/oom-explain-lab/log/slurmd.log /out/scenarios-overmemory-slurmd.log 2>/dev/null
cp /tmp/oom-explain-lab/etc/cgroup.conf /out/scenarios-overmemory-cgroup.conf 2>/dev/null
cp "$REPO"/target/scenarios-v2-overmemory*.md /out/ 2>/dev/null
run_suite bad-config "$(cat /oom-vm/bad-config-bin)" "headroom=25 hedroom=5" ""
if [ "$LANE" = sid ]; then
    # Slurm 26.05 names job folders after the SLUID; sites may restore job_<id> names.
    run_suite cluster-job-id-paths "$(cat /oom-vm/cluster-bin)" "" "CgroupJobIdPaths=yes"
    # Records in Slurm's accounting, through slurmctld (AdminComment): two slurmd, slurmdbd,
    # MariaDB, PrivateData=jobs. One test at a time (they count slurmdbd's requests). Only when
    # asked (lane.sh --store): under emulation its lab did not come up within the lane's time.
    if [ -f /oom-vm/store ]; then
        store_tests() { "$(cat /oom-vm/store-bin)" --test-threads=1 "$@"; }
        OOM_EXPLAIN_LAB_PROFILE=twonode-accounting run_suite store store_tests "accounting_field=AdminComment" ""
    fi
fi
"$LAB_SH" down >/dev/null 2>&1
# The kernel's own record of every OOM kill in the lane, for whoever reads a failure.
dmesg >/out/dmesg.txt 2>&1
echo "OOMVM: done" >/dev/console
poweroff_now
