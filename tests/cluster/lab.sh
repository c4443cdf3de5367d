#!/usr/bin/env bash
# A real single-node Slurm on loopback, for oom-explain's tests and demo.
#
#   lab.sh install            apt packages (munge, Slurm 22.05, libclang for bindgen, python3)
#                             (`up` installs only what jobs need, and only if missing)
#   lab.sh up [PLUGIN.so]     (re)start munge, slurmctld and slurmd with the plugin installed
#   lab.sh up --installed     the same with the plugin as a package installed it: the lab's
#                             plugstack.conf only includes /etc/slurm/plugstack.conf.d/*.conf
#                             (its spool and job log are the plugin's defaults)
#   lab.sh down               stop every daemon this script started, by pid
#   lab.sh sbatch ARGS…       submit as the unprivileged job user; prints the job id
#   lab.sh run-as CMD…        run a command as the job user with SLURM_CONF set
#   lab.sh wait JOBID [SECS]  wait until the job has ended; prints its final state
#   lab.sh env                print the settings (LAB, SLURM_CONF, JOB_USER, JOBS, CGROUP, PROFILE)
#   lab.sh add-user NAME      create another unprivileged job user (for node-level scenarios)
#   lab.sh install-pkgs PKG…  apt-get install those of the Debian packages that are missing
#   lab.sh kill-slurmd [NODE] kill a slurmd hard (its jobs' slurmstepds go on); start-slurmd [NODE]
#
# OOM_EXPLAIN_LAB_PROFILE=overmemory starts the cluster as sites that let Slurm's accounting
# poll enforce memory do: JobAcctGatherParams=OverMemoryKill and no cgroup memory limit
# (ConstrainRAMSpace=no: Slurm refuses to run both enforcement mechanisms at once).
# OOM_EXPLAIN_LAB_PROFILE=accounting adds MariaDB and slurmdbd, so that sacct (MaxRSS) works.
# OOM_EXPLAIN_LAB_PROFILE=twonode runs two slurmd on this host, nodes node1 and node2, for
# multi-node jobs.
# OOM_EXPLAIN_LAB_PROFILE=twonode-accounting is both, with PrivateData=jobs (users see only
# their own jobs, in slurmctld and in slurmdbd): a small site as records at cluster scale see it.
# OOM_EXPLAIN_LAB_CGROUP_CONF adds one line to cgroup.conf (e.g. CgroupJobIdPaths=yes).
# Where systemd is PID 1 on cgroup v2 (a VM lane, or a real node), slurmd runs as Debian's
# slurmd.service with Slurm's default systemd integration (IgnoreSystemd=no: slurmd asks systemd
# over D-Bus for slurmstepd.scope); elsewhere it is started directly (IgnoreSystemd=yes on v2).
#
# Everything lives below $OOM_EXPLAIN_LAB (default /tmp/oom-explain-lab). Must run as root.
# Facts behind the settings: docs/testing.md ("The test cluster").
set -euo pipefail

LAB=${OOM_EXPLAIN_LAB:-/tmp/oom-explain-lab}
JOB_USER=${OOM_EXPLAIN_JOB_USER:-oomtest}
NODE=localhost
CTLD_PORT=${OOM_EXPLAIN_CTLD_PORT:-26817}
DBD_PORT=${OOM_EXPLAIN_DBD_PORT:-26819}
SLURMD_PORT=${OOM_EXPLAIN_SLURMD_PORT:-26818}
export SLURM_CONF=$LAB/etc/slurm.conf
JOBS=$LAB/jobs
# The plugin's step records and the node's job log (plugstack.conf spool_dir= and job_log=).
RECORDS=$LAB/records
JOB_LOG=$LAB/log/oom-explain/jobs.jsonl
# `env` reports the running lab's profile; `up` starts the one asked for (default: default).
PROFILE=${OOM_EXPLAIN_LAB_PROFILE:-$(cat "$LAB/etc/profile" 2>/dev/null || echo default)}
# Where systemd is PID 1: the runtime drop-in that points Debian's slurmd.service at the lab.
SLURMD_DROPIN=/run/systemd/system/slurmd.service.d/oom-explain-lab.conf
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)

say() { echo "lab: $*" >&2; }
die() { echo "lab: error: $*" >&2; exit 1; }
need_root() { [ "$(id -u)" = 0 ] || die "must run as root (it starts slurmd and creates a job user)"; }

# What jobs and daemons need; what building the plugin needs besides.
RUNTIME_PKGS=(munge slurmctld slurmd slurm-client python3 procps binutils)
BUILD_PKGS=(libslurm-dev libclang-dev clang)

cmd_install() {
    need_root
    install_pkgs "${RUNTIME_PKGS[@]}" "${BUILD_PKGS[@]}"
}

install_pkgs() {
    local pkgs=("$@")
    local missing=()
    for p in "${pkgs[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        say "installing ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

# Stops the daemon whose pid is in $1, if it is running; waits for it to go.
stop_pidfile() {
    local file=$1 pid
    [ -f "$file" ] || return 0
    pid=$(cat "$file" 2>/dev/null || true)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$file"
}

cmd_down() {
    need_root
    local f
    if under_systemd; then
        # Leave Debian's slurmd.service as it was found: not pointed at the lab any more.
        systemctl stop slurmd 2>/dev/null || true
        if [ -f "$SLURMD_DROPIN" ]; then rm -f "$SLURMD_DROPIN" && systemctl daemon-reload; fi
    fi
    for f in "$LAB"/run/slurmd*.pid; do stop_pidfile "$f"; done
    stop_pidfile "$LAB/run/slurmctld.pid"
    stop_pidfile "$LAB/run/slurmdbd.pid"
    stop_pidfile "$LAB/run/mariadbd.pid"
    stop_pidfile "$LAB/run/munged.pid"
    say "stopped"
}

write_config() {
    local cpus_line mem
    # The node as slurmd sees it; RealMemory must not exceed what it reports.
    cpus_line=$(slurmd -C | head -1 | sed -e 's/^NodeName=[^ ]* //' -e 's/ RealMemory=[0-9]*//')
    mem=$(slurmd -C | head -1 | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
    mem=$((mem * 9 / 10))
    cat >"$LAB/etc/slurm.conf" <<EOF
# Written by tests/cluster/lab.sh: a one-node Slurm on loopback for oom-explain's tests.
ClusterName=oomlab
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
AuthType=auth/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$LAB/state
SlurmdSpoolDir=$LAB/spool$(two_nodes && echo /%n)
SlurmctldPidFile=$LAB/run/slurmctld.pid
SlurmdPidFile=$LAB/run/slurmd$(two_nodes && echo -%n).pid
SlurmctldLogFile=$LAB/log/slurmctld.log
SlurmdLogFile=$LAB/log/slurmd$(two_nodes && echo -%n).log
SlurmdDebug=info
ProctrackType=proctrack/cgroup
TaskPlugin=task/cgroup,task/affinity
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
JobAcctGatherType=jobacct_gather/cgroup
JobAcctGatherFrequency=task=$([ "$PROFILE" = overmemory ] && echo 1 || echo 5)
$([ "$PROFILE" = overmemory ] && echo "JobAcctGatherParams=OverMemoryKill")
$(if with_accounting; then
    echo "AccountingStorageType=accounting_storage/slurmdbd"
    echo "AccountingStorageHost=localhost"
    echo "AccountingStoragePort=$DBD_PORT"
else
    echo "AccountingStorageType=accounting_storage/none"
fi)
JobCompType=jobcomp/filetxt
JobCompLoc=$LAB/log/jobcomp.txt
MpiDefault=none
$([ "$PROFILE" = twonode-accounting ] && echo "PrivateData=jobs")
MinJobAge=3600
ReturnToService=2
KillWait=5
PlugStackConfig=$LAB/etc/plugstack.conf
$(if two_nodes; then
    # Two slurmd on this host (Debian's Slurm is built with multiple-slurmd support), each
    # with its own name and port; they share the machine's CPUs and memory.
    echo "NodeName=node1 NodeHostname=$NODE NodeAddr=127.0.0.1 Port=$SLURMD_PORT $cpus_line RealMemory=$((mem / 2)) State=UNKNOWN"
    echo "NodeName=node2 NodeHostname=$NODE NodeAddr=127.0.0.1 Port=$((SLURMD_PORT + 2)) $cpus_line RealMemory=$((mem / 2)) State=UNKNOWN"
    echo "PartitionName=debug Nodes=node1,node2 Default=YES MaxTime=INFINITE State=UP"
else
    echo "NodeName=$NODE NodeAddr=127.0.0.1 $cpus_line RealMemory=$mem State=UNKNOWN"
    echo "PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP"
fi)
EOF
    if under_systemd; then
        # Slurm's defaults: systemd makes the scope, with the controllers delegated.
        printf 'CgroupPlugin=cgroup/v2\nConstrainRAMSpace=yes\n' >"$LAB/etc/cgroup.conf"
    elif [ "$(cgroup_version)" = v2 ]; then
        # Pure cgroup v2 without systemd (a VM lane): Slurm makes its own scope under
        # system.slice, which must exist with the controllers enabled on the way down.
        mkdir -p /sys/fs/cgroup/system.slice
        for dir in /sys/fs/cgroup /sys/fs/cgroup/system.slice; do
            for c in cpuset cpu io memory pids; do echo "+$c" >"$dir/cgroup.subtree_control" || true; done
        done
        cat >"$LAB/etc/cgroup.conf" <<EOF
CgroupPlugin=cgroup/v2
IgnoreSystemd=yes
ConstrainRAMSpace=yes
EOF
    else
        cat >"$LAB/etc/cgroup.conf" <<EOF
CgroupPlugin=autodetect
ConstrainRAMSpace=yes
EOF
    fi
    if [ "$PROFILE" = overmemory ]; then sed -i 's/^ConstrainRAMSpace=yes/ConstrainRAMSpace=no/' "$LAB/etc/cgroup.conf"; fi
    if [ -n "${OOM_EXPLAIN_LAB_CGROUP_CONF:-}" ]; then echo "$OOM_EXPLAIN_LAB_CGROUP_CONF" >>"$LAB/etc/cgroup.conf"; fi
    echo "$PROFILE" >"$LAB/etc/profile"
    if [ "${INSTALLED:-no}" = yes ]; then
        echo "include /etc/slurm/plugstack.conf.d/*.conf" >"$LAB/etc/plugstack.conf"
    else
        cat >"$LAB/etc/plugstack.conf" <<EOF
optional $LAB/lib/oom_explain.so spool_dir=$RECORDS job_log=$JOB_LOG ${OOM_EXPLAIN_PLUGIN_ARGS:-}
EOF
    fi
}

# MariaDB (root over its socket) and slurmdbd, for the accounting profile.
start_accounting() {
    # Each stage said as it starts: under emulation one of them may take minutes, and the log
    # must tell which.
    say "accounting: MariaDB"
    install_pkgs mariadb-server slurmdbd
    # Its socket where the package's own configuration puts it, which the client and slurmdbd
    # then find: /run/mysqld (MariaDB 10.11, bookworm) or /run/mariadbd (11.8, sid).
    install -d -o mysql -g mysql /run/mysqld /run/mariadbd
    if ! mariadb -e "select 1" >/dev/null 2>&1; then
        # A system whose package could not make the data folder (debootstrap's chroot, as the VM
        # lanes' images are built): make it now.
        if [ ! -d /var/lib/mysql/mysql ]; then
            install -d -o mysql -g mysql /var/lib/mysql
            mariadb-install-db --user=mysql --datadir=/var/lib/mysql --skip-test-db \
                >"$LAB/log/mariadb-install.log" 2>&1 || die "mariadb-install-db failed: $(tail -n 3 "$LAB/log/mariadb-install.log")"
        fi
        runuser -u mysql -- /usr/sbin/mariadbd --datadir=/var/lib/mysql \
            --pid-file=/run/mysqld/mysqld.pid --skip-networking </dev/null >"$LAB/log/mariadbd.log" 2>&1 &
        # Seconds on a real machine; an emulated VM takes longer. At most 60 s by the clock.
        local until=$(($(date +%s) + 60))
        while [ "$(date +%s)" -lt "$until" ]; do mariadb -e "select 1" >/dev/null 2>&1 && break; sleep 0.1; done
        mariadb -e "select 1" >/dev/null 2>&1 || die "MariaDB did not start: $(tail -n 3 "$LAB/log/mariadbd.log")"
        cp /run/mysqld/mysqld.pid "$LAB/run/mariadbd.pid"
    fi
    # slurmdbd's client library may look in the other place: the socket in both.
    local sock real=""
    for sock in /run/mysqld/mysqld.sock /run/mariadbd/mysqld.sock; do
        if [ -S "$sock" ] && [ ! -L "$sock" ]; then real=$sock; fi
    done
    for sock in /run/mysqld/mysqld.sock /run/mariadbd/mysqld.sock; do
        if [ -n "$real" ] && [ ! -e "$sock" ]; then ln -s "$real" "$sock"; fi
    done
    cat >"$LAB/etc/slurmdbd.conf" <<EOF
AuthType=auth/munge
DbdHost=localhost
DbdPort=$DBD_PORT
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=root
StorageLoc=oomlab_acct
PidFile=$LAB/run/slurmdbd.pid
LogFile=$LAB/log/slurmdbd.log
$([ "$PROFILE" = twonode-accounting ] && echo "PrivateData=jobs")
EOF
    chmod 0600 "$LAB/etc/slurmdbd.conf"
    # A fresh database, as slurmctld's state is fresh: job ids start at 1 in both (an old job
    # of the same id, an old array of it, would otherwise stay in slurmdbd).
    mariadb -e "drop database if exists oomlab_acct" || die "cannot reset the accounting database"
    say "accounting: slurmdbd (it creates its tables)"
    slurmdbd </dev/null >/dev/null 2>&1 || die "slurmdbd did not start: $(tail -n 2 "$LAB/log/slurmdbd.log")"
    for _ in $(seq 100); do sacctmgr -n list cluster >/dev/null 2>&1 && break; sleep 0.1; done
    say "accounting: the cluster, its account and users in slurmdbd"
    sacctmgr -i add cluster oomlab >/dev/null 2>&1 || true
    # Users in slurmdbd, as at real sites: with PrivateData=jobs slurmdbd answers only users it
    # knows (an unknown user sees no job at all, not even their own).
    sacctmgr -i add account lab cluster=oomlab >/dev/null 2>&1 || true
    accounting_user "$JOB_USER"
}

accounting_user() {
    sacctmgr -i add user "$1" account=lab cluster=oomlab >/dev/null 2>&1 || true
}

start_munge() {
    # Reuse a munged that already answers; otherwise start ours.
    if munge -n </dev/null >/dev/null 2>&1; then return 0; fi
    install -d -o munge -g munge -m 0755 /run/munge
    install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge /etc/munge
    [ -s /etc/munge/munge.key ] || runuser -u munge -- mungekey --create --keyfile=/etc/munge/munge.key
    runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid </dev/null >/dev/null 2>&1
    for _ in $(seq 50); do munge -n </dev/null >/dev/null 2>&1 && break; sleep 0.1; done
    munge -n </dev/null >/dev/null 2>&1 || die "munged did not start"
    cp /run/munge/munged.pid "$LAB/run/munged.pid"
}

cmd_up() {
    need_root
    local plugin=${1:-$REPO/target/release/liboom_explain.so}
    PROFILE=${OOM_EXPLAIN_LAB_PROFILE:-default}
    INSTALLED=no
    if [ "$plugin" = --installed ]; then
        INSTALLED=yes
        ls /etc/slurm/plugstack.conf.d/*.conf >/dev/null 2>&1 || die "no /etc/slurm/plugstack.conf.d/*.conf: is the package installed?"
    else
        [ -f "$plugin" ] || die "no plugin at $plugin (cargo build --release first)"
    fi
    install_pkgs "${RUNTIME_PKGS[@]}"
    cmd_down 2>/dev/null || true
    # A fresh state folder restarts job ids at 1: wipe the job outputs with it.
    rm -rf "$LAB/state" "$LAB/spool" "$LAB/jobs" "$LAB/log" "$RECORDS"
    install -d -m 0755 "$LAB" "$LAB/etc" "$LAB/lib" "$LAB/run" "$LAB/log"
    install -d -m 0700 "$LAB/state" "$LAB/spool"
    id "$JOB_USER" >/dev/null 2>&1 || useradd --no-create-home --shell /bin/sh "$JOB_USER"
    # Sticky and world-writable like /tmp: scenarios may submit as a second job user.
    install -d -m 1777 -o "$JOB_USER" "$JOBS"
    # sbatch and srun load the plugin too, as the job user: it must be world-readable.
    # Replace it with mv, never in place: running slurmstepds have it mapped.
    echo "$INSTALLED" >"$LAB/etc/installed"
    if [ "$INSTALLED" = no ]; then
        install -m 0755 "$plugin" "$LAB/lib/oom_explain.so.new"
        mv -f "$LAB/lib/oom_explain.so.new" "$LAB/lib/oom_explain.so"
    fi
    write_config
    start_munge
    if with_accounting; then start_accounting; fi
    slurmctld -i </dev/null >/dev/null 2>&1 || die "slurmctld did not start: $(tail -n 2 "$LAB/log/slurmctld.log")"
    local node
    if two_nodes; then
        # slurmd makes only the last level of its (per-node) spool folder.
        chmod 0755 "$LAB/spool"
        for node in $(nodes); do install -d -m 0755 "$LAB/spool/$node"; done
    fi
    for node in $(nodes); do start_slurmd "$node"; done
    local state=""
    for _ in $(seq 300); do
        state=$(sinfo -h -N -o %t 2>/dev/null | sort -u | tr '\n' ' ' | sed 's/ $//' || true)
        [ "$state" = idle ] && break
        sleep 0.1
    done
    [ "$state" = idle ] || { tail -n 20 "$LAB/log/slurmctld.log" "$LAB/log/slurmd.log" >&2 || true; die "node not idle (state '$state')"; }
    say "up: SLURM_CONF=$SLURM_CONF, jobs as $JOB_USER in $JOBS"
}

two_nodes() { [ "${PROFILE:-}" = twonode ] || [ "${PROFILE:-}" = twonode-accounting ]; }
with_accounting() { [ "${PROFILE:-}" = accounting ] || [ "${PROFILE:-}" = twonode-accounting ]; }
nodes() { if two_nodes; then echo node1 node2; else echo "$NODE"; fi; }

start_slurmd() {
    local log=$LAB/log/slurmd.log
    two_nodes && log=$LAB/log/slurmd-$1.log
    if under_systemd; then
        two_nodes && die "the twonode profile starts slurmd directly: not where systemd is PID 1"
        # Debian's own unit (Type=notify, Delegate=yes, KillMode=process), pointed at the lab.
        install -d "$(dirname "$SLURMD_DROPIN")"
        printf '[Service]\nEnvironment="SLURM_CONF=%s"\nEnvironment="SLURMD_OPTIONS=-N %s"\n' "$SLURM_CONF" "$1" \
            >"$SLURMD_DROPIN"
        systemctl daemon-reload
        systemctl restart slurmd || die "slurmd.service did not start: $(tail -n 3 "$log" 2>/dev/null)"
        return
    fi
    slurmd -N "$1" </dev/null >/dev/null 2>&1 || die "slurmd $1 did not start: $(tail -n 2 "$log")"
}

# Kills one node's slurmd hard (as a crash would), leaving its jobs' slurmstepds running.
cmd_kill_slurmd() {
    need_root
    local node=${1:-$NODE} file=$LAB/run/slurmd.pid
    PROFILE=$(cat "$LAB/etc/profile")
    two_nodes && file=$LAB/run/slurmd-$node.pid
    kill -9 "$(cat "$file")"
    rm -f "$file"
    say "slurmd $node killed"
}

cmd_start_slurmd() {
    need_root
    PROFILE=$(cat "$LAB/etc/profile")
    start_slurmd "${1:-$NODE}"
    say "slurmd ${1:-$NODE} started"
}

cmd_run_as() {
    runuser -u "$JOB_USER" -- env SLURM_CONF="$SLURM_CONF" PATH=/usr/local/bin:/usr/bin:/bin "$@"
}

cmd_sbatch() {
    cmd_run_as sbatch --parsable -D "$JOBS" "$@"
}

cmd_wait() {
    local job=$1 limit=${2:-120} state=""
    for _ in $(seq $((limit * 5))); do
        state=$(scontrol show job -o "$job" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p')
        case "$state" in
            PENDING|RUNNING|CONFIGURING|COMPLETING|SUSPENDED|"") sleep 0.2 ;;
            *)
                # COMPLETING is over, but slurmstepd may still be writing the last lines: on a
                # loaded machine (a VM lane under emulation) that took over 5 s once.
                for _ in $(seq 600); do pgrep -f "slurmstepd: \[$job\." >/dev/null || break; sleep 0.1; done
                if pgrep -f "slurmstepd: \[$job\." >/dev/null; then
                    echo "lab: job $job ended ($state) but its slurmstepd is still there after 60 s" >&2
                fi
                echo "$state"; return 0 ;;
        esac
    done
    die "job $job still $state after ${limit}s"
}

# systemd is PID 1 and cgroup v2 holds memory: slurmd goes through systemd, as on most v2 sites.
under_systemd() { [ -d /run/systemd/system ] && [ "$(cgroup_version)" = v2 ]; }

# Which cgroup version holds the memory controller here: v1 (legacy or hybrid) or v2.
cgroup_version() {
    if grep -qw memory /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then echo v2; else echo v1; fi
}

cmd_env() {
    echo "LAB=$LAB"; echo "SLURM_CONF=$SLURM_CONF"; echo "JOB_USER=$JOB_USER"; echo "JOBS=$JOBS"
    if [ "$(cat "$LAB/etc/installed" 2>/dev/null)" = yes ]; then
        # up --installed: the installed plugin's defaults (plugstack.conf.d has no paths).
        echo "RECORDS=/var/spool/oom-explain"; echo "JOB_LOG=/var/log/oom-explain/jobs.jsonl"
    else
        echo "RECORDS=$RECORDS"; echo "JOB_LOG=$JOB_LOG"
    fi
    echo "CGROUP=$(cgroup_version)"
    echo "PROFILE=$PROFILE"
    echo "INIT=$(under_systemd && echo systemd || echo direct)"
}

cmd_add_user() {
    need_root
    id "$1" >/dev/null 2>&1 || useradd --no-create-home --shell /bin/sh "$1"
    PROFILE=$(cat "$LAB/etc/profile" 2>/dev/null || echo default)
    if with_accounting; then accounting_user "$1"; fi
    id -u "$1"
}

case "${1:-}" in
    install) cmd_install ;;
    install-pkgs) shift; need_root; install_pkgs "$@" ;;
    up) shift; cmd_up "$@" ;;
    down) cmd_down ;;
    sbatch) shift; cmd_sbatch "$@" ;;
    run-as) shift; cmd_run_as "$@" ;;
    wait) shift; cmd_wait "$@" ;;
    env) cmd_env ;;
    add-user) shift; cmd_add_user "$1" ;;
    kill-slurmd) shift; cmd_kill_slurmd "$@" ;;
    start-slurmd) shift; cmd_start_slurmd "$@" ;;
    *) sed -n '2,12p' "$0" >&2; exit 2 ;;
esac
