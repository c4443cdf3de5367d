#!/usr/bin/env bash
# The packages, for real, as an admin installs them (run as root; tests/run-all.sh runs it):
#  1. `make` builds; `make deb` packs; `make rpm` builds the .rpm with rpmbuild (rpm's
#     database here knows no slurm-devel: --nodeps);
#  2. the .deb, the .rpm and `make install DESTDIR=…` lay out the same files (each in its
#     distribution's folders), and the versions carry this host's Slurm release;
#  3. `apt-get install ./oom-explain_….deb`; a real Slurm whose plugstack.conf only includes
#     /etc/slurm/plugstack.conf.d/*.conf runs a job that is killed, and its .err holds the
#     report of the installed plugin; slurmd's log names the version and Slurm release;
#     /usr/bin/oom-explain explains the job from the job log at its default path; the man
#     pages and the bash completion are found;
#  4. `apt-get purge` leaves nothing behind: no file of the package, no spool, no job log;
#  5. `make uninstall DESTDIR=…` removes every file `make install` laid out.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
LAB_SH=tests/cluster/lab.sh
TARGET=$(realpath -m "${CARGO_TARGET_DIR:-target}")
WORK=$TARGET/package-test
fail() { echo "package test: FAILED: $*" >&2; exit 1; }
ok() { echo "package test: ok: $*"; }

[ "$(id -u)" = 0 ] || fail "run as root (it installs a package and starts Slurm)"
$LAB_SH install-pkgs dpkg-dev rpm make man-db bash-completion
rm -rf "$WORK" && mkdir -p "$WORK"

# 1. Build and pack.
make --no-print-directory build >"$WORK/make.log" 2>&1 || { tail -20 "$WORK/make.log"; fail "make"; }
deb=$(make --no-print-directory deb 2>>"$WORK/make.log" | tail -1) || { tail -20 "$WORK/make.log"; fail "make deb"; }
[ -f "$deb" ] || fail "make deb made no package"
rpm=$(RPMBUILD_FLAGS=--nodeps make --no-print-directory rpm 2>>"$WORK/make.log" | tail -1) || { tail -20 "$WORK/make.log"; fail "make rpm"; }
[ -f "$rpm" ] || fail "make rpm made no package"
ok "built $(basename "$deb") and $(basename "$rpm")"

# 2. Versions and layouts.
number=$(awk '/define SLURM_VERSION_NUMBER/ {print $3}' /usr/include/slurm/slurm_version.h)
release=$(printf '%d%02d' $((number >> 16)) $(((number >> 8) & 255)))   # 2205
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
[ "$(dpkg-deb -f "$deb" Version)" = "$version-1.sl$release" ] || fail "deb version $(dpkg-deb -f "$deb" Version), want $version-1.sl$release"
case "$(rpm -qp --queryformat '%{VERSION}-%{RELEASE}' "$rpm")" in
    "$version-1.sl$release"*) ;;
    *) fail "rpm version $(rpm -qp --queryformat '%{VERSION}-%{RELEASE}' "$rpm"), want $version-1.sl$release" ;;
esac
dpkg-deb -f "$deb" Depends | grep -q "slurm-wlm-basic-plugins (>= ${release:0:2}.${release:2}~)" || fail "deb does not depend on Slurm ${release:0:2}.${release:2}: $(dpkg-deb -f "$deb" Depends)"
rpm -qp --requires "$rpm" | grep -q "^slurm >= ${release:0:2}.${release:2}" || fail "rpm does not require Slurm ${release:0:2}.${release:2}"
ok "versions $version-1.sl$release; both depend on Slurm ${release:0:2}.${release:2}"

debian_libdir=/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)/slurm-wlm
debian=(PREFIX=/usr LIBDIR="$debian_libdir" ZSHCOMPDIR=/usr/share/zsh/vendor-completions)
make --no-print-directory print-files "${debian[@]}" >"$WORK/make-debian.txt"
dpkg-deb -c "$deb" | awk '$1 !~ /^d/ {sub(/^\./, "", $6); print $6}' | sort >"$WORK/deb.txt"
diff -u "$WORK/make-debian.txt" "$WORK/deb.txt" || fail "the .deb's files differ from make install's (Debian layout)"
make --no-print-directory install DESTDIR="$WORK/destdir" "${debian[@]}" >/dev/null
(cd "$WORK/destdir" && find . -type f | sed 's|^\.||' | sort) >"$WORK/destdir.txt"
diff -u "$WORK/make-debian.txt" "$WORK/destdir.txt" || fail "make install DESTDIR= laid out other files than it lists"
cmp "$WORK/destdir$debian_libdir/oom_explain.so" <(dpkg-deb --fsys-tarfile "$deb" | tar -xOf - ".$debian_libdir/oom_explain.so") || fail "the .deb's plugin is not the one make installs"
make --no-print-directory print-files PREFIX=/usr LIBDIR=/usr/lib64/slurm >"$WORK/make-rhel.txt"
rpm -qlp "$rpm" | sort >"$WORK/rpm-all.txt"
# rpm also lists the folders it owns (%doc, the snippet's %dir): files only here.
grep -vx -e '/usr/share/doc/oom-explain' -e '/etc/slurm/plugstack.conf.d' "$WORK/rpm-all.txt" | grep -v '^/usr/share/licenses' >"$WORK/rpm.txt"
diff -u "$WORK/make-rhel.txt" "$WORK/rpm.txt" || fail "the .rpm's files differ from make install's (RHEL layout)"
# A second install keeps the site's edited snippet and puts the new one beside it.
snippet=$WORK/destdir/etc/slurm/plugstack.conf.d/oom-explain.conf
grep -q "^optional $debian_libdir/oom_explain.so\$" "$snippet" || fail "make install wrote no snippet for its LIBDIR: $(tail -1 "$snippet")"
echo "optional $debian_libdir/oom_explain.so headroom=30" >>"$snippet"
make --no-print-directory install DESTDIR="$WORK/destdir" "${debian[@]}" >/dev/null
grep -q "headroom=30" "$snippet" && [ -f "$snippet.new" ] || fail "a second make install did not keep the edited snippet"
rm -f "$snippet.new"
make --no-print-directory uninstall DESTDIR="$WORK/destdir" "${debian[@]}" >/dev/null
left=$(cd "$WORK/destdir" && find . -type f)
[ -z "$left" ] || fail "make uninstall left: $left"
ok "the .deb, the .rpm and make install DESTDIR= lay out the same $(wc -l <"$WORK/deb.txt") files; a second make install keeps an edited snippet; make uninstall removes them all"

# 3. Installed, on a real Slurm.
$LAB_SH down >/dev/null 2>&1 || true
cleanup() { $LAB_SH down >/dev/null 2>&1 || true; apt-get purge -y -qq oom-explain >/dev/null 2>&1 || true; }
trap cleanup EXIT
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$(realpath "$deb")" >"$WORK/apt.log" 2>&1 || { cat "$WORK/apt.log"; fail "apt-get install the .deb"; }
dpkg -L oom-explain >"$WORK/installed.txt"
grep -qx "$debian_libdir/oom_explain.so" "$WORK/installed.txt" || fail "the package installed no plugin"
# The snippet is active: Debian's plugstack.conf includes plugstack.conf.d/*.conf.
grep -q "^optional $debian_libdir/oom_explain.so" /etc/slurm/plugstack.conf.d/oom-explain.conf || fail "snippet"
oom-explain check-config /etc/slurm/plugstack.conf >"$WORK/check-config.txt" || { cat "$WORK/check-config.txt"; fail "check-config of the installed snippet"; }
ok "installed: $(dpkg-query -W -f '${Package} ${Version}' oom-explain); check-config passes"

$LAB_SH up --installed
eval "$($LAB_SH env)"
install -m 0644 tests/cluster/workloads/array.py "$JOBS/array.py"
cat >"$JOBS/package.sh" <<JOB
#!/bin/sh
#SBATCH --mem=200M
#SBATCH --oom-explain
#SBATCH --output=slurm-%j.out
#SBATCH --error=slurm-%j.err
/usr/bin/python3 $JOBS/array.py 600
JOB
job=$($LAB_SH sbatch "$JOBS/package.sh")
state=$($LAB_SH wait "$job")
[ "$state" = OUT_OF_MEMORY ] || [ "$state" = FAILED ] || fail "job $job ended $state"
grep -q "^oom-explain: " "$JOBS/slurm-$job.err" || { cat "$JOBS/slurm-$job.err"; fail "no report in slurm-$job.err"; }
grep -q "#SBATCH --mem=" "$JOBS/slurm-$job.err" || fail "no --mem line in slurm-$job.err"
grep -q "oom-explain: loaded, version $version (built for Slurm ${release:0:2}.${release:2}" "$LAB/log/slurmd.log" || fail "slurmd's log does not name the version and Slurm release"
ok "job $job ($state): the installed plugin's report is in slurm-$job.err; slurmd's log: $(grep -o 'oom-explain: loaded, version .*' "$LAB/log/slurmd.log" | head -1)"

for _ in $(seq 50); do grep -q "\"job\":$job," /var/log/oom-explain/jobs.jsonl 2>/dev/null && break; sleep 0.2; done
/usr/bin/oom-explain "$job" >"$WORK/explain.txt" || { cat "$WORK/explain.txt"; fail "oom-explain $job"; }
grep -q "#SBATCH --mem=" "$WORK/explain.txt" || { cat "$WORK/explain.txt"; fail "oom-explain $job gave no advice"; }
[ "$(stat -c %a /var/log/oom-explain/jobs.jsonl)" = 600 ] || fail "the default job log is not 0600"
man -w oom-explain >/dev/null && man -w 8 oom-explain-plugin >/dev/null || fail "man pages not found"
bash -c 'source /usr/share/bash-completion/bash_completion; source /usr/share/bash-completion/completions/oom-explain; complete -p oom-explain' >/dev/null || fail "bash completion"
ok "/usr/bin/oom-explain $job explains it from /var/log/oom-explain/jobs.jsonl (0600); man pages and completion found"

# 4. Removal.
$LAB_SH down >/dev/null
apt-get purge -y -qq oom-explain >"$WORK/purge.log" 2>&1 || { cat "$WORK/purge.log"; fail "apt-get purge"; }
trap - EXIT
while read -r path; do
    [ -d "$path" ] && continue # shared folders (/usr/bin, /etc/slurm…) stay
    [ -e "$path" ] && fail "purge left $path"
done <"$WORK/installed.txt"
for dir in /var/spool/oom-explain /var/log/oom-explain /usr/share/doc/oom-explain; do
    [ -e "$dir" ] && fail "purge left $dir"
done
dpkg-query -W -f '${Status}' oom-explain 2>/dev/null | grep -qw installed && fail "dpkg still has oom-explain installed"
ok "apt-get purge removed every file, the spool and the job log"
echo "package test: all passed"
