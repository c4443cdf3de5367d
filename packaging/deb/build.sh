#!/usr/bin/env bash
# Builds target/deb/oom-explain_<version>-1.sl<MMmm>_<arch>.deb from `make install` into a
# staging folder: the package holds exactly the files `make install` lays out.
#
# The version carries the Slurm release the plugin was built for (0.2.0-1.sl2205 for 22.05,
# pyxis's convention), and the package depends on that release of Debian's Slurm: the plugin
# loads only on Slurm of the same major.minor, so an upgrade of Slurm asks for a rebuild.
# Run `make` first (as yourself); this needs dpkg-deb, and no root.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
TARGET=${CARGO_TARGET_DIR:-target}
OUT=$TARGET/deb
STAGE=$OUT/stage

bin=$TARGET/release/oom-explain
[ -x "$bin" ] || { echo "deb: no $bin: run make first" >&2; exit 1; }
# "oom-explain 0.2.0 (built for Slurm 22.05.8, headers: …)"
version=$("$bin" --version | awk '{print $2}')
slurm=$("$bin" --version | sed -n 's/.*built for Slurm \([0-9]*\)\.\([0-9]*\)\..*/\1.\2/p')
[ -n "$version" ] && [ -n "$slurm" ] || { echo "deb: cannot read versions from $bin --version" >&2; exit 1; }
major=${slurm%.*} minor=${slurm#*.}
next="$major.$(printf '%02d' $((10#$minor + 1)))"
deb_version="$version-1.sl${major}${minor}"
arch=$(dpkg --print-architecture)
libdir=/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)/slurm-wlm

rm -rf "$STAGE"
make --no-print-directory install DESTDIR="$STAGE" PREFIX=/usr LIBDIR="$libdir" \
    ZSHCOMPDIR=/usr/share/zsh/vendor-completions CARGO_TARGET_DIR="$TARGET" >/dev/null

# The newest glibc symbol version the two binaries need: the package's libc6 dependency.
glibc=$(objdump -T "$STAGE$libdir/oom_explain.so" "$STAGE/usr/bin/oom-explain" |
    sed -n 's/.*GLIBC_\([0-9][0-9.]*\).*/\1/p' | sort -V | tail -1)

mkdir -p "$STAGE/DEBIAN"
cat >"$STAGE/DEBIAN/control" <<CONTROL
Package: oom-explain
Version: $deb_version
Architecture: $arch
Maintainer: oom-explain developers <oom-explain@localhost>
Section: admin
Priority: optional
Installed-Size: $(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)
Depends: libc6 (>= $glibc), slurm-wlm-basic-plugins (>= $slurm~), slurm-wlm-basic-plugins (<< $next~)
Description: tells Slurm users why their job ran out of memory
 A SPANK plugin for Slurm $slurm: with sbatch --oom-explain, a job that runs out of
 memory gets, at the end of its error output, a plain-language explanation and the
 #SBATCH --mem= line to use next time. Each analysed job leaves a record for admins;
 the oom-explain command explains past jobs and reports on the cluster.
 .
 Built for Slurm $slurm only: Slurm refuses a plugin of another release.
CONTROL
( cd "$STAGE" && find etc -type f | sed 's|^|/|' ) >"$STAGE/DEBIAN/conffiles"
cat >"$STAGE/DEBIAN/postrm" <<'POSTRM'
#!/bin/sh
# On purge, the plugin's default spool and job log go too (records under other paths a site
# chose in plugstack.conf are the site's to keep or remove).
set -e
if [ "$1" = purge ]; then
    rm -rf /var/spool/oom-explain
    # The node's own job log and its rotations; anything else an admin put there stays.
    rm -f /var/log/oom-explain/jobs.jsonl /var/log/oom-explain/jobs.jsonl[.-]*
    rmdir --ignore-fail-on-non-empty /var/log/oom-explain 2>/dev/null || true
fi
POSTRM
chmod 0755 "$STAGE/DEBIAN/postrm"

deb=$OUT/oom-explain_${deb_version}_${arch}.deb
dpkg-deb --root-owner-group --build "$STAGE" "$deb" >/dev/null
echo "$deb"
