#!/usr/bin/env bash
# Bring up a throw-away single-node SLURM on this machine for pathint's tests (tests/test_slurm.py).
#
# Debian 12 packages (slurmctld, slurmd, slurm-client, munge; Slurm 22.05), no systemd and no cgroups:
# the daemons are started by hand and tracked through their pid files. Re-running is cheap: installed
# packages, running daemons and an unchanged configuration are left alone. Must run as root.
#
# Environment (all optional):
#   PATHINT_SLURM_DIR        state, logs, pid files, fake devices   (default /tmp/pathint-slurm)
#   PATHINT_SLURM_ACCT       none | slurmdbd                         (default none)
#       none      no accounting database: `sacct` fails, so snakemake must be told
#                 `--slurm-status-command squeue`; finished jobs stay visible to squeue (MinJobAge).
#       slurmdbd  MariaDB + slurmdbd, so `sacct` works (the slurm executor plugin's default); +10-25 s.
#   PATHINT_SLURM_PARTITIONS partitions, all over the one node; the first is the default (default "cpu gpu",
#                            the names profiles/slurm uses)
#   PATHINT_SLURM_CPUS       CPUs the node advertises                (default: nproc)
#   PATHINT_SLURM_MEM_MB     memory (MB) the node advertises: default 80 % of what slurmd detects; may be
#                            larger (config_overrides, no cgroups: nothing enforces it) so that jobs asking for
#                            a real cluster's memory (profiles/slurm) still schedule on a small test machine
#   PATHINT_SLURM_GPUS       fake GPUs, 0 for none                   (default 2)
#   PATHINT_SLURM_NO_INSTALL 1: never run apt-get; fail (exit 3) if packages are missing
#
# Exit status: 0 ready, 1 error, 2 not root, 3 packages missing and not installable, 4 /etc/slurm holds a
# configuration this script did not write (a real cluster's: never replaced; ci/slurm/stop_slurm.sh removes
# only the files carrying the MARK line below).
# The fake GPUs are character devices with /dev/null's numbers made with mknod: slurmd only binds
# gres to real device nodes (it then sets CUDA_VISIBLE_DEVICES / SLURM_JOB_GPUS), a plain file is ignored.
set -euo pipefail

D=${PATHINT_SLURM_DIR:-/tmp/pathint-slurm}
ACCT=${PATHINT_SLURM_ACCT:-none}
PARTITIONS=${PATHINT_SLURM_PARTITIONS:-cpu gpu}
NGPU=${PATHINT_SLURM_GPUS:-2}
HOST=$(hostname -s)
START=$SECONDS

say()  { printf '[start_slurm %3ds] %s\n' $(( SECONDS - START )) "$*"; }
fail() { printf '[start_slurm] ERROR: %s\n' "$1" >&2; exit "${2:-1}"; }
MARK="# written by pathint ci/slurm/start_slurm.sh: single-node test cluster, do not use in production"

# ours <file>: absent, or written by this script: its first line is MARK, or (earlier versions wrote no MARK)
# it names this script's state directory, which no real cluster's configuration does
ours() { [ ! -e "$1" ] || [ "$(head -n1 "$1")" = "$MARK" ] || grep -qF "$D/" "$1"; }

[ "$(id -u)" -eq 0 ] || fail "must run as root (daemons, /etc/slurm, mknod)" 2
[ "$ACCT" = none ] || [ "$ACCT" = slurmdbd ] || fail "PATHINT_SLURM_ACCT=$ACCT: expected none or slurmdbd"
for f in slurm.conf gres.conf slurmdbd.conf; do
    ours "/etc/slurm/$f" || fail "/etc/slurm/$f exists and was not written by this script: refusing to replace a real SLURM configuration (move it away to start the test cluster here)" 4
done
mkdir -p "$D/ctld" "$D/spool" "$D/log" "$D/pid" "$D/munge" "$D/dev" /etc/slurm
SOCK="$D/munge/socket"
NOISE="$D/log/noise.log"

# alive <pidfile> <command name>: the pid in the file runs that program and is not a zombie
alive() {
    local pid
    pid=$(cat "$1" 2>/dev/null) || return 1
    [ -n "$pid" ] || return 1
    [ "$(ps -o comm= -p "$pid" 2>/dev/null)" = "$2" ] || return 1
    [ "$(ps -o stat= -p "$pid" | cut -c1)" != Z ]
}
# retry <seconds> <cmd...>: until the command succeeds (each try capped at 10 s)
retry() {
    local until=$(( SECONDS + $1 )); shift
    until timeout 10 "$@" >>"$NOISE" 2>&1; do
        [ "$SECONDS" -lt "$until" ] || return 1
        sleep 0.3
    done
}

# ------------------------------------------------------------------------------------------ packages
want="slurmctld slurmd sbatch munged"
pkgs="munge slurmctld slurmd slurm-client"
if [ "$ACCT" = slurmdbd ]; then want="$want slurmdbd mariadbd"; pkgs="$pkgs slurmdbd mariadb-server"; fi
missing=0
for exe in $want; do command -v "$exe" >/dev/null || missing=1; done
if [ "$missing" = 1 ]; then
    [ "${PATHINT_SLURM_NO_INSTALL:-0}" = 1 ] && fail "SLURM packages missing ($pkgs) and PATHINT_SLURM_NO_INSTALL=1" 3
    command -v apt-get >/dev/null || fail "SLURM packages missing and no apt-get to install $pkgs" 3
    say "apt-get install $pkgs"
    # no systemd here: stop the packages' maintainer scripts from trying to start services
    rcd=/usr/sbin/policy-rc.d; made_rcd=0
    if [ ! -e "$rcd" ]; then printf '#!/bin/sh\nexit 101\n' >"$rcd"; chmod +x "$rcd"; made_rcd=1; fi
    export DEBIAN_FRONTEND=noninteractive
    if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends $pkgs; } >"$D/log/apt.log" 2>&1; then
        [ "$made_rcd" = 1 ] && rm -f "$rcd"
        tail -n 15 "$D/log/apt.log" >&2
        fail "apt-get could not install $pkgs (log: $D/log/apt.log)" 3
    fi
    [ "$made_rcd" = 1 ] && rm -f "$rcd"
fi

# ------------------------------------------------------------------------------------------ slurm.conf
CPUS=${PATHINT_SLURM_CPUS:-$(nproc)}
# default: 80 % of the detected memory (headroom for the daemons and the test itself)
DETECTED_MB=$(slurmd -C | tr ' ' '\n' | sed -n 's/^RealMemory=//p')
MEM_MB=${PATHINT_SLURM_MEM_MB:-$(( DETECTED_MB * 4 / 5 ))}

gres_types=""; node_gres=""
if [ "$NGPU" -gt 0 ]; then gres_types="GresTypes=gpu"; node_gres="Gres=gpu:$NGPU"; fi
if [ "$ACCT" = slurmdbd ]; then
    accounting="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=6819
AccountingStoragePass=$SOCK
AccountingStorageTRES=gres/gpu
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30"
else
    accounting="AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none"
fi

partition_lines=""; default=YES
for p in $PARTITIONS; do
    partition_lines+="PartitionName=$p Nodes=ALL Default=$default MaxTime=INFINITE State=UP"$'\n'; default=NO
done
partition_lines=${partition_lines%$'\n'}

conf="$MARK
ClusterName=pathint
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$SOCK
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$D/ctld
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/pid/slurmctld.pid
SlurmdPidFile=$D/pid/slurmd.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
MpiDefault=none
# without systemd/cgroups: track processes by parent pid, no task binding
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
# trust the CPUs and RealMemory below rather than the detected hardware
SlurmdParameters=config_overrides
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# a job without --mem would otherwise own the whole node's memory and jobs would run one at a time
DefMemPerCPU=512
JobCompType=jobcomp/none
$accounting
# finished jobs stay in squeue for an hour: the status source when there is no accounting
MinJobAge=3600
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
Waittime=0
$gres_types
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB $node_gres State=UNKNOWN
$partition_lines"

gres=""
if [ "$NGPU" -gt 0 ]; then gres="$MARK"$'\n'; fi
for (( i = 0; i < NGPU; i++ )); do
    dev="$D/dev/fakegpu$i"
    [ -c "$dev" ] || { rm -f "$dev"; mknod -m 666 "$dev" c 1 3; }
    gres+="NodeName=$HOST Name=gpu File=$dev"$'\n'
done

changed=0
if [ "$(cat /etc/slurm/slurm.conf 2>/dev/null)" != "$conf" ]; then
    printf '%s\n' "$conf" >/etc/slurm/slurm.conf; changed=1
fi
if [ "$(cat /etc/slurm/gres.conf 2>/dev/null)" != "${gres%$'\n'}" ]; then
    if [ -n "$gres" ]; then printf '%s' "$gres" >/etc/slurm/gres.conf; else rm -f /etc/slurm/gres.conf; fi
    changed=1
fi
if [ "$changed" = 1 ]; then
    # daemons still running with an older configuration must restart
    for d in slurmd slurmctld; do
        if alive "$D/pid/$d.pid" "$d"; then
            pid=$(cat "$D/pid/$d.pid"); say "configuration changed: stopping $d ($pid)"; kill "$pid"
            retry 20 sh -c "! ps -o stat= -p $pid | grep -qv Z" || true
        fi
    done
fi

# ------------------------------------------------------------------------------------------ munge
[ -s /etc/munge/munge.key ] || mungekey --create --keyfile=/etc/munge/munge.key >>"$NOISE" 2>&1
chown munge:munge /etc/munge/munge.key "$D/munge"; chmod 400 /etc/munge/munge.key; chmod 755 "$D/munge"
if ! alive "$D/munge/munged.pid" munged; then
    say "starting munged"
    runuser -u munge -- munged --socket="$SOCK" --pid-file="$D/munge/munged.pid" \
        --log-file="$D/munge/munged.log" --seed-file="$D/munge/seed"
fi
retry 20 sh -c "munge -S '$SOCK' -n | unmunge -S '$SOCK'" || fail "munge does not answer on $SOCK"

# ------------------------------------------------------------------------------------------ accounting
if [ "$ACCT" = slurmdbd ]; then
    DB="$D/db"; DBRUN="$D/dbrun"
    mkdir -p "$DBRUN"; chown mysql:mysql "$DBRUN"
    if [ ! -d "$DB/mysql" ]; then
        say "initialising MariaDB in $DB"
        mkdir -p "$DB"; chown mysql:mysql "$DB"
        mariadb-install-db --user=mysql --datadir="$DB" --auth-root-authentication-method=socket \
            --skip-test-db >"$D/log/mariadb-init.log" 2>&1 || fail "mariadb-install-db failed"
    fi
    if ! alive "$DBRUN/mariadbd.pid" mariadbd; then
        say "starting mariadbd"
        setsid mariadbd --no-defaults --user=mysql --datadir="$DB" --socket="$DBRUN/sock" \
            --pid-file="$DBRUN/mariadbd.pid" --skip-networking=0 --bind-address=127.0.0.1 --port=3317 \
            --log-error="$D/log/mariadbd.log" --innodb-buffer-pool-size=64M </dev/null >>"$NOISE" 2>&1 &
    fi
    retry 60 mariadb-admin --no-defaults --socket="$DBRUN/sock" ping || fail "mariadbd did not start"
    mariadb --no-defaults --socket="$DBRUN/sock" -u root >>"$NOISE" 2>&1 <<'SQL'
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'pathint-ci';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
SQL
    cat >/etc/slurm/slurmdbd.conf <<DBD
$MARK
AuthType=auth/munge
AuthInfo=socket=$SOCK
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=6819
SlurmUser=root
LogFile=$D/log/slurmdbd.log
PidFile=$D/pid/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=3317
StorageUser=slurm
StoragePass=pathint-ci
StorageLoc=slurm_acct_db
DBD
    chmod 600 /etc/slurm/slurmdbd.conf
    alive "$D/pid/slurmdbd.pid" slurmdbd || { say "starting slurmdbd"; slurmdbd; }
    retry 60 sacctmgr -n list cluster || fail "slurmdbd does not answer (log: $D/log/slurmdbd.log)"
fi

# ------------------------------------------------------------------------------------------ slurm daemons
alive "$D/pid/slurmctld.pid" slurmctld || { say "starting slurmctld"; slurmctld; }
retry 60 sh -c 'scontrol ping | grep -q UP' || fail "slurmctld is not up (log: $D/log/slurmctld.log)"
alive "$D/pid/slurmd.pid" slurmd || { say "starting slurmd"; slurmd; }

state() { sinfo -h -N -n "$HOST" -o %T 2>>"$NOISE" | head -n1; }
for (( i = 0; i < 200; i++ )); do
    case "$(state)" in
        idle|mixed|allocated) break ;;
        down*|drain*|fail*|inval*) scontrol update nodename="$HOST" state=resume >>"$NOISE" 2>&1 || true ;;
    esac
    sleep 0.3
done
case "$(state)" in
    idle|mixed|allocated) ;;
    *) fail "node $HOST is '$(state)' (log: $D/log/slurmd.log)" ;;
esac
if [ "$ACCT" = slurmdbd ]; then
    retry 30 sh -c 'sacctmgr -n -P list cluster format=cluster | grep -qx pathint' || fail "cluster not registered in slurmdbd"
fi
say "ready: node $HOST ($CPUS CPUs, ${MEM_MB} MB, $NGPU fake GPU) partitions: $PARTITIONS; accounting $ACCT"
