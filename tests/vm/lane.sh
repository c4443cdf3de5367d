#!/usr/bin/env bash
# The VM lanes: the real-cluster tests again, on a real Slurm of another release running on a
# pure cgroup v2 kernel inside a small qemu VM.
#
#   tests/vm/lane.sh LANE --prepare   only build the lane's image and kernel (no VM; several
#                             lanes may prepare at once, e.g. while other tests run)
#   tests/vm/lane.sh LANE [--capture | --store]
#                             build what is missing, boot, run the tests, report (exit 1 on any
#                             failure, including a VM that does not boot); --capture also
#                             captures real cgroup trees into tests/fixtures/ (capture.sh);
#                             --store (sid) also runs the accounting store (not yet passing:
#                             its lab did not come up in time under emulation)
#
#   LANE       Debian suite   Slurm    kernel   PID 1     cgroup.conf
#   bookworm   bookworm       22.05    6.1      script    IgnoreSystemd=yes
#   trixie     trixie         24.11    6.12     systemd   Slurm's defaults (slurmd.service, D-Bus scope)
#   sid        unstable       26.05    7.x      script    IgnoreSystemd=yes; SLUID job folders, then
#                                                         CgroupJobIdPaths=yes (job_<id> folders);
#                                                         with --store, two slurmd + slurmdbd +
#                                                         MariaDB for records in the accounting
#
# The VM image is that suite from debootstrap (Slurm, munge, python3, and systemd + D-Bus where
# PID 1 is systemd), with the plugin built against that release's vendored headers and this
# checkout's scripts and compiled test binaries copied in at the same paths, packed whole as the
# initramfs. The kernel is the suite's own. Results come back through a 9p share; a fresh ext4
# scratch disk (/scratch in the guest) holds files that must live on a disk. Needs root and the
# host's test binaries built (tests/run-all.sh does that).
#
# Work folder: $OOM_EXPLAIN_VM/LANE (default /tmp/oom-explain-vm/LANE). The suite's root file
# system, package lists and kernel there are reused while unchanged (same machine only).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
LANE=${1:-}
CAPTURE=${2:-}
case "$LANE" in
    bookworm) SUITE=bookworm HEADERS=22.05 INIT=script ;;
    trixie) SUITE=trixie HEADERS=24.11 INIT=systemd ;;
    sid) SUITE=sid HEADERS=26.05 INIT=script ;;
    *) sed -n '2,18p' "$0" >&2; exit 2 ;;
esac
case "${2:-}" in
    ""|--prepare|--capture|--store) ;;
    *) echo "vm-lane: unknown option ${2}" >&2; sed -n '2,18p' "$0" >&2; exit 2 ;;
esac
VM=${OOM_EXPLAIN_VM:-/tmp/oom-explain-vm}/$LANE
PKGS=procps,kmod,iproute2,munge,slurmd,slurmctld,slurm-client,python3,binutils
[ "$INIT" = systemd ] && PKGS=$PKGS,systemd,systemd-sysv,dbus
# The newest release also runs the records kept in Slurm's accounting (two slurmd, slurmdbd).
[ "$LANE" = sid ] && PKGS=$PKGS,mariadb-server,slurmdbd
MODULES=(virtio_pci 9pnet_virtio 9p virtio_blk ext4)
MEMORY_MIB=3072
# --store adds the accounting store (two slurmd, slurmdbd, MariaDB) under emulation.
BOOT_LIMIT_S=${OOM_EXPLAIN_VM_TIMEOUT:-$([ "${2:-}" = --store ] && echo 1800 || echo 900)}

say() { echo "vm-lane $LANE: $*" >&2; }
die() { echo "vm-lane $LANE: FAILED: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root (debootstrap, a 9p share)"

host_tools() {
    # The same "install what is missing" as the lab's, for the VM tools.
    bash "$REPO/tests/cluster/lab.sh" install-pkgs qemu-system-x86 debootstrap cpio zstd kmod binutils e2fsprogs
}

# The Debian mirror this machine's apt uses.
mirror() {
    local m
    m=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | head -1)
    [ -n "$m" ] || m=$(awk '/^deb / {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
    echo "${m:-http://deb.debian.org/debian}"
}

# apt options that see only the lane's suite (its own lists, never the host's sources).
APT_OPTS=()
suite_apt() {
    local dir=$VM/apt
    APT_OPTS=(-o "Dir::Etc::SourceList=$dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
        -o "Dir::State::Lists=$dir/lists" -o "Dir::Cache=$dir/cache" -o APT::Sandbox::User=root)
    mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $(mirror) $SUITE main" >"$dir/sources.list"
    # Fresh lists once a day are enough: the kernel package name comes from them.
    if [ -z "$(find "$dir/lists" -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null | head -1)" ]; then
        apt-get "${APT_OPTS[@]}" update -qq >"$VM/apt-update.log" 2>&1 || { cat "$VM/apt-update.log" >&2; die "apt-get update for $SUITE failed"; }
    fi
}

build_rootfs() {
    local stamp="$SUITE $PKGS"
    if [ -f "$VM/rootfs.stamp" ] && [ "$(cat "$VM/rootfs.stamp")" = "$stamp" ]; then init_mariadb; return; fi
    say "debootstrap $SUITE with $PKGS (a few minutes)"
    rm -rf "$VM/rootfs" "$VM/rootfs.stamp"
    debootstrap --variant=minbase --include="$PKGS" "$SUITE" "$VM/rootfs" "$(mirror)" >"$VM/debootstrap.log" 2>&1 ||
        { tail -n 20 "$VM/debootstrap.log" >&2; die "debootstrap failed"; }
    # The VM boots from RAM: drop what nothing there reads.
    rm -rf "$VM"/rootfs/usr/share/{doc,man,info,locale} "$VM"/rootfs/var/cache/apt/* "$VM"/rootfs/var/lib/apt/lists/*
    echo "$stamp" >"$VM/rootfs.stamp"
    init_mariadb
}

# MariaDB's data folder, made here at native speed (its package cannot in debootstrap's chroot;
# under emulation it takes minutes).
init_mariadb() {
    local root=$VM/rootfs
    [[ ",$PKGS," == *",mariadb-server,"* ]] && [ ! -d "$root/var/lib/mysql/mysql" ] || return 0
    local rc=0
    mount -t proc proc "$root/proc"
    chroot "$root" sh -c 'install -d -o mysql -g mysql /var/lib/mysql &&
        mariadb-install-db --user=mysql --datadir=/var/lib/mysql --skip-test-db' >"$VM/mariadb-install.log" 2>&1 || rc=$?
    umount "$root/proc"
    [ "$rc" = 0 ] || { tail -n 5 "$VM/mariadb-install.log" >&2; die "mariadb-install-db failed"; }
}

# The suite's current kernel and the few modules the VM loads (virtio PCI and the 9p share).
# Newer kernels come split (linux-image-V depends on linux-binary-V, modules in linux-modules-V).
build_kernel() {
    local pkg ver kver p
    pkg=$(apt-cache "${APT_OPTS[@]}" depends linux-image-amd64 | sed -n 's/.*Depends: \(linux-image-[0-9].*\)/\1/p' | head -1)
    [ -n "$pkg" ] || die "cannot find $SUITE's kernel package"
    ver=${pkg#linux-image-}
    if [ ! -f "$VM/kernel/$pkg.stamp" ]; then
        say "fetching $pkg"
        rm -rf "$VM/kernel" && mkdir -p "$VM/kernel/x"
        for p in "$pkg" "linux-binary-$ver" "linux-modules-$ver" "linux-base-$ver"; do
            apt-cache "${APT_OPTS[@]}" show "$p" >/dev/null 2>&1 || continue
            (cd "$VM/kernel" && apt-get "${APT_OPTS[@]}" download -q "$p" >/dev/null 2>&1) || die "apt-get download $p failed"
        done
        for p in "$VM"/kernel/*.deb; do dpkg-deb -x "$p" "$VM/kernel/x"; done
        rm -f "$VM"/kernel/*.deb
        touch "$VM/kernel/$pkg.stamp"
    fi
    local mods=$VM/kernel/x/lib/modules
    [ -d "$mods" ] || mods=$VM/kernel/x/usr/lib/modules
    kver=$(ls "$mods")
    cp "$(find "$VM/kernel/x" -name "vmlinuz-$kver" -o -path "*/$kver/vmlinuz" | head -1)" "$VM/vmlinuz"
    depmod -b "${mods%/lib/modules}" "$kver"
    rm -rf "$VM/rootfs/lib/modules/$kver" && mkdir -p "$VM/rootfs/lib/modules/$kver"
    for m in "${MODULES[@]}"; do
        modprobe -d "${mods%/lib/modules}" -S "$kver" --show-depends "$m" | awk '$1 == "insmod" {print $2}'
    done | sort -u | while read -r ko; do
        dest="$VM/rootfs/lib/modules/$kver/${ko#"$mods/$kver/"}"
        mkdir -p "$(dirname "$dest")" && cp "$ko" "$dest"
    done
    cp "$mods/$kver"/modules.{order,builtin,builtin.modinfo} "$VM/rootfs/lib/modules/$kver/" 2>/dev/null || true
    depmod -b "$VM/rootfs" "$kver"
    echo "$kver" >"$VM/kernel.version"
}

# The test binaries cargo built for the real-cluster tests (same paths inside the VM).
test_binary() {
    (cd "$REPO" && cargo test --locked --features cluster-tests --test "$1" --no-run --message-format=json 2>"$VM/cargo-$1.log") |
        python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == sys.argv[1]:
        print(m["executable"])' "$1" | tail -1
}

# PID 1 is systemd: our tests run as a service once the system is up, and Slurm's own daemons do
# not start by themselves (lab.sh starts them with the lab's configuration). /tmp stays on the
# root file system: the checkout may live there.
setup_systemd() {
    local root=$1 etc=$1/etc/systemd/system
    cat >"$etc/oom-vm.service" <<'EOF'
[Unit]
Description=oom-explain real-cluster tests
After=basic.target dbus.socket
Wants=dbus.socket

[Service]
Type=oneshot
ExecStart=/oom-vm/init
StandardOutput=null
StandardError=null
EOF
    mkdir -p "$etc/multi-user.target.wants"
    ln -sf ../oom-vm.service "$etc/multi-user.target.wants/oom-vm.service"
    rm -f "$etc"/multi-user.target.wants/{slurmd,slurmctld,munge}.service
    ln -sf /dev/null "$etc/tmp.mount"
    echo vmtest >"$root/etc/hostname"
}

stage() {
    local so=$REPO/target/plugins/$HEADERS/oom_explain.so bin
    bash "$REPO/tests/build-plugin.sh" "$HEADERS" # cargo rebuilds only what changed
    local cluster bad scenarios store
    cluster=$(test_binary cluster) || { cat "$VM/cargo-cluster.log" >&2; die "cannot build the cluster tests"; }
    bad=$(test_binary cluster_bad_config) || die "cannot build the bad-config tests"
    scenarios=$(test_binary scenarios) || die "cannot build the scenario tests"
    store=$(test_binary cluster_store) || die "cannot build the accounting store tests"
    [ -x "$cluster" ] && [ -x "$bad" ] && [ -x "$scenarios" ] && [ -x "$store" ] || die "cannot build the cluster test binaries"
    local root=$VM/rootfs
    rm -rf "$root$REPO" "$root/oom-vm" "$root/etc/systemd/system/oom-vm.service"
    mkdir -p "$root$REPO/target/release" "$root/oom-vm"
    cp -r "$REPO/tests" "$root$REPO/tests"
    # lab.sh installs target/release/liboom_explain.so: here, the build for this lane's release.
    cp "$so" "$root$REPO/target/release/liboom_explain.so"
    # The tests also run the oom-explain command that cargo built beside them.
    local cli=$REPO/target/debug/oom-explain
    [ -x "$cli" ] || die "no $cli (cargo test builds it)"
    for bin in "$cluster" "$bad" "$scenarios" "$store" "$cli"; do mkdir -p "$root$(dirname "$bin")" && cp "$bin" "$root$bin"; done
    echo "$store" >"$root/oom-vm/store-bin"
    echo "$cluster" >"$root/oom-vm/cluster-bin"
    echo "$scenarios" >"$root/oom-vm/scenarios-bin"
    echo "$bad" >"$root/oom-vm/bad-config-bin"
    echo "$REPO" >"$root/oom-vm/repo"
    echo "$LANE" >"$root/oom-vm/lane"
    if [ "$CAPTURE" = --capture ]; then touch "$root/oom-vm/capture"; fi
    if [ "$CAPTURE" = --store ]; then touch "$root/oom-vm/store"; fi
    install -m 0755 "$HERE/guest.sh" "$root/oom-vm/init"
    [ "$INIT" = systemd ] && setup_systemd "$root"
    say "packing the initramfs"
    (cd "$root" && find . -xdev -print0 | cpio --null -o -H newc --quiet | zstd -q -T0 -3 -o "$VM/initrd.zst" -f)
}

# qemu, with the accelerator given; serial console to $2, results in $VM/out.
boot() {
    local accel=$1 log=$2 limit=$3 append init=/oom-vm/init
    [ "$INIT" = systemd ] && init=/lib/systemd/systemd
    append="console=ttyS0 panic=-1 quiet loglevel=3 systemd.show_status=0 cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1 rdinit=$init"
    rm -rf "$VM/out" && mkdir -p "$VM/out"
    # A scratch disk (ext4, made fresh): the guest's root lives in memory, and the page-cache
    # scenario needs files on a disk.
    rm -f "$VM/scratch.img" && truncate -s 2G "$VM/scratch.img" && mkfs.ext4 -q -F "$VM/scratch.img"
    timeout --kill-after=5 "$limit" qemu-system-x86_64 -accel "$accel" -cpu max -smp 2 -m "$MEMORY_MIB" \
        -kernel "$VM/vmlinuz" -initrd "$VM/initrd.zst" -append "$append ${4:-}" \
        -virtfs "local,path=$VM/out,mount_tag=out,security_model=none" \
        -drive "file=$VM/scratch.img,if=virtio,format=raw" \
        -nic none -display none -no-reboot -serial "file:$log" </dev/null >/dev/null 2>&1 || true
}

# An accelerator is chosen by booting with it, never by trusting that /dev/kvm opens (a
# paravirtual kvm has been seen to open fine and then hang a stock kernel). One probe per
# machine boot, shared by the lanes.
pick_accel() {
    local cache=${OOM_EXPLAIN_VM:-/tmp/oom-explain-vm}/accel
    if [ -f "$cache" ] && [ "$(cat "$cache.boot" 2>/dev/null)" = "$(cat /proc/sys/kernel/random/boot_id)" ]; then
        cat "$cache"; return
    fi
    local accel="tcg,thread=multi"
    if [ -r /dev/kvm ]; then
        boot kvm "$VM/probe.log" 25 "oom_vm_probe=1 rdinit=/oom-vm/init"
        if grep -q "OOMVM: probe ok" "$VM/probe.log" 2>/dev/null; then accel=kvm
        else say "kvm did not boot the kernel within 25 s: using software emulation (tcg)"; fi
    fi
    echo "$accel" >"$cache"; cat /proc/sys/kernel/random/boot_id >"$cache.boot"
    echo "$accel"
}

main() {
    local started accel
    started=$(date +%s)
    mkdir -p "$VM"
    host_tools
    suite_apt
    build_rootfs
    build_kernel
    if [ "$CAPTURE" = --prepare ]; then say "prepared in $(( $(date +%s) - started )) s"; return; fi
    stage
    accel=$(pick_accel)
    say "booting Debian $SUITE, Linux $(cat "$VM/kernel.version"), PID 1: $INIT ($accel); serial log $VM/serial.log"
    boot "$accel" "$VM/serial.log" "$BOOT_LIMIT_S"
    if [ ! -f "$VM/out/booted" ] && grep -q "Kernel panic" "$VM/serial.log"; then
        # Emulated with several threads (tcg,thread=multi), the kernel's boot-time patching of
        # its own code (int3 breakpoints) has crashed it, rarely, before our init ran: sid's
        # 7.2 once. That is the emulator's, not the tests': boot once more.
        grep -m1 -B1 "Oops" "$VM/serial.log" >&2 || true
        say "the kernel panicked while booting; booting once more"
        boot "$accel" "$VM/serial.log" "$BOOT_LIMIT_S"
    fi
    say "VM done after $(( $(date +%s) - started )) s"
    [ -f "$VM/out/booted" ] || { tail -n 30 "$VM/serial.log" >&2 || true; die "the VM did not boot"; }
    local failed="" suite
    for suite in $(cat "$VM/out/suites" 2>/dev/null); do
        echo "--- $LANE lane: $suite tests (inside the VM)"
        cat "$VM/out/$suite.txt" 2>/dev/null || echo "(no output)"
        [ "$(cat "$VM/out/$suite.rc" 2>/dev/null)" = 0 ] || failed="$failed $suite"
    done
    [ -s "$VM/out/suites" ] || failed=" (no suite ran)"
    grep -q "^CGROUP=v2$" "$VM/out/lab-env.txt" 2>/dev/null || { cat "$VM/out/lab-env.txt" >&2 || true; die "the VM's Slurm was not on cgroup v2"; }
    if [ -n "$failed" ]; then
        # The slurmd log of each failed suite (its stepd lines say what the plugin saw).
        for suite in $failed; do
            [ -f "$VM/out/$suite-slurmd.log" ] || continue
            echo "--- $LANE lane: slurmd.log of $suite (last 60 lines; all in $VM/out)" >&2
            tail -n 60 "$VM/out/$suite-slurmd.log" >&2
        done
        die "tests failed:$failed"
    fi
    if [ "$CAPTURE" = --capture ]; then
        [ -d "$VM/out/capture" ] || { cat "$VM/out/capture.log" >&2; die "the capture failed"; }
        cp -r "$VM"/out/capture/* "$REPO/tests/fixtures/"
        say "captured: $(ls "$VM/out/capture" | tr '\n' ' ')($(tail -n 1 "$VM/out/capture.log"))"
    fi
    say "all real-cluster tests passed ($(cat "$VM/out/versions.txt"))"
}

main "$@"
