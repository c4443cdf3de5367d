#!/usr/bin/env bash
# The cgroup v2 lane: the real-cluster tests again, on a real Slurm 22.05 running on a pure
# cgroup v2 kernel (Debian's 6.1) inside a small qemu VM.
#
#   tests/vm/v2-lane.sh            build what is missing, boot, run the tests, report (exit 1 on
#                                  any failure, including a VM that does not boot)
#
# The VM image is Debian 12 from debootstrap (Slurm, munge, python3 from Debian's packages) with
# this checkout's plugin, scripts and compiled test binaries copied in at the same paths, packed
# whole as the initramfs. Results come back through a 9p share. Needs root and the release
# plugin and test binaries built (tests/run-all.sh does that). Work folder: $OOM_EXPLAIN_VM
# (default /tmp/oom-explain-vm); the Debian root filesystem and kernel there are reused while
# their package list is unchanged.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
VM=${OOM_EXPLAIN_VM:-/tmp/oom-explain-vm}
PKGS=procps,kmod,iproute2,munge,slurmd,slurmctld,slurm-client,python3,binutils
MODULES=(virtio_pci 9pnet_virtio 9p)
MEMORY_MIB=3072
BOOT_LIMIT_S=${OOM_EXPLAIN_VM_TIMEOUT:-900}

say() { echo "v2-lane: $*" >&2; }
die() { echo "v2-lane: FAILED: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root (debootstrap, a 9p share)"

host_tools() {
    # The same "install what is missing" as the lab's, for the VM tools.
    bash "$REPO/tests/cluster/lab.sh" install-pkgs qemu-system-x86 debootstrap cpio zstd kmod
}

# The Debian mirror this machine's apt uses.
mirror() {
    local m
    m=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1)
    [ -n "$m" ] || m=$(awk '/^deb / {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
    echo "${m:-http://deb.debian.org/debian}"
}

build_rootfs() {
    if [ -f "$VM/rootfs.stamp" ] && [ "$(cat "$VM/rootfs.stamp")" = "$PKGS" ]; then return; fi
    say "debootstrap bookworm with $PKGS (about a minute)"
    rm -rf "$VM/rootfs" "$VM/rootfs.stamp"
    debootstrap --variant=minbase --include="$PKGS" bookworm "$VM/rootfs" "$(mirror)" >"$VM/debootstrap.log" 2>&1 ||
        { tail -n 20 "$VM/debootstrap.log" >&2; die "debootstrap failed"; }
    # The VM boots from RAM: drop what nothing there reads.
    rm -rf "$VM"/rootfs/usr/share/{doc,man,info,locale} "$VM"/rootfs/var/cache/apt/* "$VM"/rootfs/var/lib/apt/lists/*
    echo "$PKGS" >"$VM/rootfs.stamp"
}

# Debian's current 6.1 kernel and the few modules the VM loads (virtio PCI and the 9p share).
build_kernel() {
    local pkg kver
    pkg=$(apt-cache depends linux-image-amd64 | sed -n 's/.*Depends: \(linux-image-[0-9].*\)/\1/p' | head -1)
    [ -n "$pkg" ] || die "cannot find Debian's kernel package (apt-get update?)"
    if [ ! -f "$VM/kernel/$pkg.stamp" ]; then
        say "fetching $pkg"
        rm -rf "$VM/kernel" && mkdir -p "$VM/kernel/x"
        (cd "$VM/kernel" && apt-get download -q "$pkg" >/dev/null 2>&1) || die "apt-get download $pkg failed"
        dpkg-deb -x "$VM"/kernel/*.deb "$VM/kernel/x"
        rm -f "$VM"/kernel/*.deb
        touch "$VM/kernel/$pkg.stamp"
    fi
    kver=$(ls "$VM/kernel/x/lib/modules")
    cp "$VM/kernel/x/boot/vmlinuz-$kver" "$VM/vmlinuz"
    depmod -b "$VM/kernel/x" "$kver"
    rm -rf "$VM/rootfs/lib/modules" && mkdir -p "$VM/rootfs/lib/modules/$kver"
    for m in "${MODULES[@]}"; do
        modprobe -d "$VM/kernel/x" -S "$kver" --show-depends "$m" | awk '$1 == "insmod" {print $2}'
    done | sort -u | while read -r ko; do
        dest="$VM/rootfs/lib/modules/$kver/${ko#"$VM/kernel/x/lib/modules/$kver/"}"
        mkdir -p "$(dirname "$dest")" && cp "$ko" "$dest"
    done
    cp "$VM/kernel/x/lib/modules/$kver"/modules.{order,builtin,builtin.modinfo} "$VM/rootfs/lib/modules/$kver/" 2>/dev/null || true
    depmod -b "$VM/rootfs" "$kver"
}

# The test binaries cargo built for the real-cluster tests (same paths inside the VM).
test_binary() {
    (cd "$REPO" && cargo test --locked --features cluster-tests --test "$1" --no-run --message-format=json 2>/dev/null) |
        python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == sys.argv[1]:
        print(m["executable"])' "$1" | tail -1
}

stage() {
    local cluster bad so=$REPO/target/release/liboom_explain.so
    [ -f "$so" ] || die "no $so: cargo build --release first"
    cluster=$(test_binary cluster); bad=$(test_binary cluster_bad_config); scenarios=$(test_binary scenarios)
    [ -x "$cluster" ] && [ -x "$bad" ] && [ -x "$scenarios" ] || die "cannot build the cluster test binaries"
    local root=$VM/rootfs
    rm -rf "$root$REPO" "$root/oom-vm"
    mkdir -p "$root$REPO/target/release" "$root/oom-vm"
    cp -r "$REPO/tests" "$root$REPO/tests"
    cp "$so" "$root$REPO/target/release/"
    # The tests also run the oom-explain command that cargo built beside them.
    local cli=$REPO/target/debug/oom-explain
    [ -x "$cli" ] || die "no $cli (cargo test builds it)"
    for bin in "$cluster" "$bad" "$scenarios" "$cli"; do mkdir -p "$root$(dirname "$bin")" && cp "$bin" "$root$bin"; done
    echo "$cluster" >"$root/oom-vm/cluster-bin"
    echo "$scenarios" >"$root/oom-vm/scenarios-bin"
    echo "$bad" >"$root/oom-vm/bad-config-bin"
    echo "$REPO" >"$root/oom-vm/repo"
    install -m 0755 "$HERE/vm-init.sh" "$root/oom-vm/init"
    say "packing the initramfs"
    (cd "$root" && find . -xdev -print0 | cpio --null -o -H newc --quiet | zstd -q -T0 -3 -o "$VM/initrd.zst" -f)
}

# qemu, with the accelerator given; serial console to $2, results in $VM/out.
boot() {
    local accel=$1 log=$2 limit=$3 append
    append="console=ttyS0 panic=-1 quiet loglevel=3 cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1 rdinit=/oom-vm/init"
    rm -rf "$VM/out" && mkdir -p "$VM/out"
    timeout --kill-after=5 "$limit" qemu-system-x86_64 -accel "$accel" -cpu max -smp 2 -m "$MEMORY_MIB" \
        -kernel "$VM/vmlinuz" -initrd "$VM/initrd.zst" -append "$append ${4:-}" \
        -virtfs "local,path=$VM/out,mount_tag=out,security_model=none" \
        -nic none -display none -no-reboot -serial "file:$log" </dev/null >/dev/null 2>&1 || true
}

# An accelerator is chosen by booting with it, never by trusting that /dev/kvm opens (a
# paravirtual kvm has been seen to open fine and then hang a stock kernel).
pick_accel() {
    if [ -r /dev/kvm ]; then
        boot kvm "$VM/probe.log" 25 "oom_vm_probe=1"
        if grep -q "OOMVM: probe ok" "$VM/probe.log" 2>/dev/null; then echo kvm; return; fi
        say "kvm did not boot the kernel within 25 s: using software emulation (tcg)"
    fi
    echo "tcg,thread=multi"
}

main() {
    local started accel
    started=$(date +%s)
    mkdir -p "$VM"
    host_tools
    build_rootfs
    build_kernel
    stage
    accel=$(pick_accel)
    say "booting Debian $(ls "$VM/rootfs/lib/modules") with cgroup v2 ($accel); serial log $VM/serial.log"
    boot "$accel" "$VM/serial.log" "$BOOT_LIMIT_S"
    say "VM done after $(( $(date +%s) - started )) s"
    [ -f "$VM/out/booted" ] || { tail -n 30 "$VM/serial.log" >&2 || true; die "the VM did not boot"; }
    local failed=0
    for suite in cluster scenarios bad-config; do
        echo "--- cgroup v2 lane: $suite tests (inside the VM)"
        cat "$VM/out/$suite.txt" 2>/dev/null || echo "(no output)"
        [ "$(cat "$VM/out/$suite.rc" 2>/dev/null)" = 0 ] || failed=1
    done
    grep -q "^CGROUP=v2$" "$VM/out/lab-env.txt" 2>/dev/null || { cat "$VM/out/lab-env.txt" >&2 || true; die "the VM's Slurm was not on cgroup v2"; }
    if [ $failed != 0 ]; then
        tail -n 40 "$VM/out/slurmd.log" >&2 || true
        die "tests failed on cgroup v2"
    fi
    say "all real-cluster tests passed on cgroup v2 ($(cat "$VM/out/versions.txt"))"
}

main "$@"
