#!/usr/bin/env bash
# Stop the Slurm that deploy/slurm/start.sh started, strictly by the PIDs it recorded.
#
#   sudo bash deploy/slurm/stop.sh             # cancel jobs, stop the daemons, keep the state
#   SLURM_PURGE=1 sudo bash deploy/slurm/stop.sh   # also delete SLURM_RUN and the /etc/slurm files
#                                                  # start.sh wrote
set -uo pipefail

RUN=${SLURM_RUN:-/tmp/hai-slurm}
MARKER="# written by hakutaku deploy/slurm/start.sh"

# Alive and not a zombie: the daemons were started by a shell that has exited, so their parent is
# the init process, which may take a while to reap them.
alive() {
  kill -0 "$1" 2> /dev/null || return 1
  [ "$(awk '{print $3}' "/proc/$1/stat" 2> /dev/null)" != Z ]
}

if [ -d "$RUN/pids" ]; then
  slurmctld_pid=$(cat "$RUN/pids/slurmctld.pid" 2> /dev/null || true)
  if [ -n "$slurmctld_pid" ] && alive "$slurmctld_pid"; then
    # Jobs first, so none is left running under a slurmstepd nobody will reap.
    jobs=$(timeout 10 squeue -h -o %i 2> /dev/null | tr '\n' ' ')
    if [ -n "${jobs// /}" ]; then
      # shellcheck disable=SC2086  # a list of job ids
      timeout 10 scancel $jobs 2> /dev/null
      for _ in $(seq 1 50); do
        [ -z "$(timeout 5 squeue -h -t running,completing -o %i 2> /dev/null)" ] && break
        sleep 0.2
      done
    fi
  fi
  for daemon in slurmd slurmctld slurmdbd mariadbd munged; do
    pidfile="$RUN/pids/$daemon.pid"
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    if alive "$pid"; then
      kill -TERM "$pid"
      for _ in $(seq 1 150); do alive "$pid" || break; sleep 0.1; done
      if alive "$pid"; then
        echo "$daemon (pid $pid) did not stop within 15 s; sending SIGKILL" >&2
        kill -KILL "$pid"
      fi
      echo "stopped $daemon (pid $pid)"
    fi
    rm -f "$pidfile"
  done
else
  echo "nothing to stop: $RUN/pids does not exist"
fi

if [ "${SLURM_PURGE:-0}" = 1 ]; then
  rm -rf "$RUN"
  for f in slurm.conf gres.conf slurmdbd.conf; do
    grep -qF "$MARKER" "/etc/slurm/$f" 2> /dev/null && rm -f "/etc/slurm/$f"
  done
  grep -qF "deploy/slurm/slurm_from_policy.py" /etc/slurm/job_submit.lua 2> /dev/null \
    && rm -f /etc/slurm/job_submit.lua
  echo "purged $RUN and the /etc/slurm files start.sh wrote"
fi
exit 0
