#!/usr/bin/env bash
# Builds the plugin for Slurm releases from the vendored headers (slurm-headers/<release>/) and
# checks what Slurm will compare before loading it: the .so's plugin_version must carry that
# release's major.minor. Each build lands in target/plugins/<release>/oom_explain.so.
#
#   tests/build-plugin.sh 24.11 [26.05 …]   these releases
#   tests/build-plugin.sh --all             every vendored release
#
# Release profile, as shipped. Only the plugin crate is rebuilt per release (the dependencies
# are shared), and target/release/liboom_explain.so is left as it was found.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

vendored() { ls -d slurm-headers/*/slurm | cut -d/ -f2 | sort -V; }

# The 4 bytes at the symbol plugin_version, as a number (x86-64 and aarch64 are little-endian).
plugin_version() {
    local so=$1 addr bytes
    addr=$(nm -D --defined-only "$so" | awk '$3 == "plugin_version" {print $1}')
    [ -n "$addr" ] || { echo "no plugin_version symbol in $so" >&2; return 1; }
    bytes=$(objdump -s --start-address=0x"$addr" --stop-address=$((0x$addr + 4)) "$so" |
        awk '/^ [0-9a-f]+ [0-9a-f]+/ {print $2; exit}')
    echo $((16#${bytes:6:2}${bytes:4:2}${bytes:2:2}${bytes:0:2}))
}

header_version() {
    printf '%d\n' "$(sed -n 's/^#define SLURM_VERSION_NUMBER //p' "slurm-headers/$1/slurm/slurm_version.h")"
}

build_one() {
    local release=$1 out=target/plugins/$1 got want
    [ -d "slurm-headers/$release/slurm" ] || { echo "no vendored headers for $release (have: $(vendored | tr '\n' ' '))" >&2; exit 2; }
    SLURM_HEADERS=$release OOM_EXPLAIN_OTHER_RELEASE=$release cargo build --locked --release --lib --quiet
    mkdir -p "$out"
    cp target/release/liboom_explain.so "$out/oom_explain.so"
    got=$(plugin_version "$out/oom_explain.so")
    want=$(header_version "$release")
    if [ $((got & 0xffff00)) != $((want & 0xffff00)) ] || [ "$(printf '%d.%02d' $((got >> 16)) $(((got >> 8) & 255)))" != "$release" ]; then
        printf 'build-plugin: %s: plugin_version is 0x%06x, Slurm %s needs 0x%06x\n' "$release" "$got" "$release" "$want" >&2
        exit 1
    fi
    printf 'build-plugin: Slurm %-5s  plugin_version 0x%06x  %s (%s bytes)\n' "$release" "$got" "$out/oom_explain.so" "$(stat -c %s "$out/oom_explain.so")"
}

[ $# -gt 0 ] || { sed -n '2,10p' "$0" >&2; exit 2; }
[ "$1" = --all ] && set -- $(vendored)
# Leave the default build (the host's own release) where it was.
saved=""
if [ -f target/release/liboom_explain.so ]; then
    saved=$(mktemp)
    cp target/release/liboom_explain.so "$saved"
    trap 'mv -f "$saved" target/release/liboom_explain.so' EXIT
fi
for release in "$@"; do build_one "$release"; done
