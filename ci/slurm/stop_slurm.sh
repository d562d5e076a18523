#!/usr/bin/env bash
# Stop the test cluster started by ci/slurm/start_slurm.sh: cancel its jobs, stop each daemon by the pid in
# its pid file (never by name), then remove the files it wrote in /etc/slurm (only those whose first line is
# its MARK). `--purge` also deletes its state directory (logs, job state, DB).
#
# Why remove the configuration: snakemake-executor-plugin-slurm runs `scontrol show config` whenever snakemake
# starts, on any executor, and with a slurm.conf naming a controller that no longer runs, scontrol retries for
# ~9 s. Left behind, the stopped test cluster added 9 s to every later snakemake command on the machine.
set -uo pipefail
D=${PATHINT_SLURM_DIR:-/tmp/pathint-slurm}

# stop_pid <pidfile> <command name>: TERM, wait up to 20 s, then KILL
stop_pid() {
    local pid i
    pid=$(cat "$1" 2>/dev/null) || return 0
    if [ -n "$pid" ] && [ "$(ps -o comm= -p "$pid" 2>/dev/null)" = "$2" ]; then
        echo "[stop_slurm] stopping $2 ($pid)"
        kill "$pid" 2>/dev/null
        for (( i = 0; i < 80; i++ )); do
            ps -o stat= -p "$pid" 2>/dev/null | grep -qv Z || break
            sleep 0.25
        done
        if ps -o stat= -p "$pid" 2>/dev/null | grep -qv Z; then
            echo "[stop_slurm] $2 ($pid) ignored SIGTERM: SIGKILL"; kill -9 "$pid" 2>/dev/null
        fi
    fi
    rm -f "$1"
}

if [ -e "$D/pid/slurmctld.pid" ] && command -v scancel >/dev/null; then
    timeout 10 scancel --quiet --user=root 2>/dev/null || true
fi
stop_pid "$D/pid/slurmd.pid" slurmd
stop_pid "$D/pid/slurmctld.pid" slurmctld
stop_pid "$D/pid/slurmdbd.pid" slurmdbd
stop_pid "$D/dbrun/mariadbd.pid" mariadbd
stop_pid "$D/munge/munged.pid" munged
MARK="# written by pathint ci/slurm/start_slurm.sh: single-node test cluster, do not use in production"
for f in /etc/slurm/slurm.conf /etc/slurm/gres.conf /etc/slurm/slurmdbd.conf; do
    if [ -f "$f" ] && [ "$(head -n1 "$f")" = "$MARK" ]; then rm -f "$f"; echo "[stop_slurm] removed $f"; fi
done
if [ "${1:-}" = --purge ]; then rm -rf "$D"; echo "[stop_slurm] removed $D"; fi
exit 0
