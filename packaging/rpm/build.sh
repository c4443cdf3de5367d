#!/usr/bin/env bash
# Builds target/rpm/RPMS/<arch>/oom-explain-<version>-1.sl<MMmm>.<arch>.rpm from this checkout
# with rpmbuild: the tracked files as the source tarball, packaging/rpm/oom-explain.spec as the
# spec (its @VERSION@ from Cargo.toml).
#
# On a RHEL-like host with slurm-devel installed: bash packaging/rpm/build.sh
# Elsewhere (the tests build it on Debian, where rpm's database knows no slurm-devel):
#   RPMBUILD_FLAGS="--nodeps" bash packaging/rpm/build.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
TARGET=$(realpath -m "${CARGO_TARGET_DIR:-target}")
TOP=$TARGET/rpm
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)

rm -rf "$TOP"
mkdir -p "$TOP"/{SOURCES,SPECS,BUILD,RPMS,SRPMS}
git ls-files -z | tar --null -T - --transform "s|^|oom-explain-$version/|" -czf "$TOP/SOURCES/oom-explain-$version.tar.gz"
sed "s/@VERSION@/$version/g" packaging/rpm/oom-explain.spec >"$TOP/SPECS/oom-explain.spec"
# shellcheck disable=SC2086 # RPMBUILD_FLAGS is a list of flags
rpmbuild -bb ${RPMBUILD_FLAGS:-} --define "_topdir $TOP" --define "cargo_target_dir $TARGET" \
    "$TOP/SPECS/oom-explain.spec" >"$TOP/rpmbuild.log" 2>&1 || { tail -30 "$TOP/rpmbuild.log" >&2; exit 1; }
find "$TOP/RPMS" -name '*.rpm'
