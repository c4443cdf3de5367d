#!/bin/sh
# Prints the folder where this host's Slurm loads its plugins from (the Makefile's LIBDIR).
#
# First the running Slurm's own word (scontrol show config: PluginDir), then the folders the
# distributions use: Debian/Ubuntu /usr/lib/<multiarch>/slurm-wlm, RHEL-like /usr/lib64/slurm,
# a source build's /usr/local/lib/slurm. A folder counts only if Slurm's own plugins are in it.
set -eu
dir=$(timeout 5 scontrol show config 2>/dev/null | sed -n 's/^PluginDir *= *//p' | cut -d: -f1 || true)
if [ -n "$dir" ] && [ -d "$dir" ]; then echo "$dir"; exit 0; fi
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch 2>/dev/null || echo "$(uname -m)-linux-gnu")
for dir in "/usr/lib/$multiarch/slurm-wlm" /usr/lib64/slurm /usr/lib/slurm /usr/local/lib/slurm /usr/local/lib64/slurm; do
    for plugin in "$dir"/auth_munge.so "$dir"/select_cons_tres.so "$dir"/proctrack_cgroup.so; do
        if [ -f "$plugin" ]; then echo "$dir"; exit 0; fi
    done
done
echo "plugin-dir.sh: cannot find Slurm's plugin folder on this host; say it: make LIBDIR=/path/to/slurm/plugins" >&2
exit 1
