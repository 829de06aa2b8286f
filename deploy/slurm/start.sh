#!/usr/bin/env bash
# Bring up a single-node Slurm 22.05 with accounting (munge, MariaDB, slurmdbd, slurmctld, slurmd)
# without systemd, with the partitions and QOS of a platform policy file. Needs root.
#
#   sudo bash deploy/slurm/install.sh     # once: Debian's packages
#   sudo bash deploy/slurm/start.sh       # ~20-40 s; prints the partitions when the node is idle
#   sudo bash deploy/slurm/stop.sh        # stops every daemon by the PID recorded here
#
# Settings (environment):
#   SLURM_RUN           state, logs, pid files, MariaDB data, fake devices   (/tmp/hai-slurm)
#   SLURM_POLICY        the platform policy file                             (deploy/slurm/policy.toml)
#   SLURM_CLUSTER       Slurm's cluster name                                  (hai)
#   SLURM_ACCOUNTS      accounts and their users        ("physics=root,alice,bob cms=alice")
#   SLURM_TEST_USERS    Unix users created when missing                       ("alice bob")
#   SLURM_FAKE_DEVICES  fake accelerator devices per kind                     (4)
#   SLURM_DB_PORT SLURM_CTLD_PORT SLURM_SLURMD_PORT SLURM_DBD_PORT   (3307 6817 6818 6819)
#   HAI_PYTHON          a Python that can import hakutaku   (the checkout's .venv, else python3)
#
# Outside SLURM_RUN it writes /etc/slurm/{slurm.conf,gres.conf,slurmdbd.conf,job_submit.lua}
# (refusing to overwrite a slurm.conf it did not write), /run/munge, the munge key when missing,
# and the Unix users in SLURM_TEST_USERS.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
RUN=${SLURM_RUN:-/tmp/hai-slurm}
POLICY=${SLURM_POLICY:-$HERE/policy.toml}
CLUSTER=${SLURM_CLUSTER:-hai}
ACCOUNTS=${SLURM_ACCOUNTS:-"physics=root,alice,bob cms=alice"}
TEST_USERS=${SLURM_TEST_USERS:-"alice bob"}
DEVICES=${SLURM_FAKE_DEVICES:-4}
DB_PORT=${SLURM_DB_PORT:-3307}
CTLD_PORT=${SLURM_CTLD_PORT:-6817}
SLURMD_PORT=${SLURM_SLURMD_PORT:-6818}
DBD_PORT=${SLURM_DBD_PORT:-6819}
DB_PASS=${SLURM_DB_PASS:-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')}
MARKER="# written by hakutaku deploy/slurm/start.sh"
NODE=$(hostname -s)
CPUS=$(nproc)
MEM_MB=$(( $(awk '/MemTotal/{print $2}' /proc/meminfo) / 1024 * 85 / 100 ))  # slurmd drains a node
                                                                             # that has less than this
if [ -z "${HAI_PYTHON:-}" ]; then
  if [ -x "$REPO/.venv/bin/python" ]; then HAI_PYTHON=$REPO/.venv/bin/python; else HAI_PYTHON=python3; fi
fi
FROM_POLICY=("$HAI_PYTHON" "$HERE/slurm_from_policy.py" --policy "$POLICY")

T0=$(date +%s.%N)
say() { awk -v t0="$T0" -v now="$(date +%s.%N)" -v msg="$*" 'BEGIN{printf "[%5.1fs] %s\n", now-t0, msg}'; }
die() { echo "deploy/slurm/start.sh: $*" >&2; exit 1; }
# wait_for SECONDS WHAT PIDFILE COMMAND...: poll COMMAND; fail at once if the daemon has died.
wait_for() {
  local seconds=$1 what=$2 pidfile=$3; shift 3
  local deadline=$(( $(date +%s) + seconds ))
  until "$@" > /dev/null 2>&1; do
    if [ -n "$pidfile" ] && ! alive "$(cat "$pidfile")"; then
      die "$what: the daemon exited; see the logs under $RUN/log"
    fi
    [ "$(date +%s)" -lt "$deadline" ] || die "timed out after ${seconds}s waiting for $what; see $RUN/log"
    sleep 0.2
  done
}
# start_daemon NAME COMMAND...: in a session of its own (a Ctrl-C in the caller's terminal does
# not reach it), output to $RUN/log/NAME.out, its PID (exec'd, so the daemon's own) recorded.
start_daemon() {
  local name=$1; shift
  setsid "$@" < /dev/null > "$RUN/log/$name.out" 2>&1 &
  echo $! > "$RUN/pids/$name.pid"
}
# Alive and not a zombie (a daemon whose starting shell has exited waits for init to reap it).
alive() {
  kill -0 "$1" 2> /dev/null || return 1
  [ "$(awk '{print $3}' "/proc/$1/stat" 2> /dev/null)" != Z ]
}
port_busy() { (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null; }

# ------------------------------------------------------------------ checks
[ "$(id -u)" -eq 0 ] || die "needs root (munged, slurmd and the test users); run: sudo bash $0"
for binary in slurmctld slurmd slurmdbd sbatch sacctmgr munged mariadbd mariadb-install-db; do
  command -v "$binary" > /dev/null || [ -x "/usr/sbin/$binary" ] \
    || die "$binary is not installed; run: sudo bash $HERE/install.sh"
done
"$HAI_PYTHON" "$HERE/slurm_from_policy.py" --policy "$POLICY" kinds > /dev/null \
  || die "cannot read the policy $POLICY with $HAI_PYTHON (set HAI_PYTHON to a Python >= 3.11)"
if compgen -G "$RUN/pids/*.pid" > /dev/null; then
  for pidfile in "$RUN"/pids/*.pid; do
    if alive "$(cat "$pidfile")"; then
      die "$(basename "$pidfile" .pid) is still running from an earlier start; run $HERE/stop.sh first"
    fi
  done
fi
for port in "$DB_PORT" "$CTLD_PORT" "$SLURMD_PORT" "$DBD_PORT"; do
  port_busy "$port" && die "port $port is in use (another Slurm or MariaDB?); stop it, or set SLURM_*_PORT"
done
if [ -e /etc/slurm/slurm.conf ] && ! grep -qF "$MARKER" /etc/slurm/slurm.conf; then
  die "/etc/slurm/slurm.conf was not written by this script; this machine has a Slurm of its own" \
      "(move the file away to use this one)"
fi

# ------------------------------------------------------------------ folders, users, fake devices
mkdir -p "$RUN"/{pids,log,etc,ctld,slurmd,mysql,mysqlrun,dev,jobs}
chmod 755 "$RUN"
chown slurm:slurm "$RUN/ctld" "$RUN/log"
chmod 1777 "$RUN/jobs"  # a place every user's jobs can write
for user in $TEST_USERS; do
  id "$user" > /dev/null 2>&1 || useradd --create-home --shell /bin/bash "$user"
done
# Fake accelerators: character devices with /dev/null's numbers (1,3). slurmd only stat()s them,
# hands them out like cards, and sets CUDA_VISIBLE_DEVICES for gres `gpu`.
for kind in $("${FROM_POLICY[@]}" kinds); do
  for i in $(seq 0 $((DEVICES - 1))); do
    [ -e "$RUN/dev/$kind$i" ] || mknod -m 666 "$RUN/dev/$kind$i" c 1 3
  done
done

# ------------------------------------------------------------------ munge
# Debian's package expects systemd to create /run/munge; without it munged cannot start.
mkdir -p /run/munge /var/log/munge /var/lib/munge
chown munge:munge /run/munge /var/log/munge /var/lib/munge
chmod 755 /run/munge
if [ ! -s /etc/munge/munge.key ]; then
  mungekey --create --force
  chown munge:munge /etc/munge/munge.key
  chmod 400 /etc/munge/munge.key
fi
rm -f /run/munge/munged.pid /run/munge/munge.socket.2*
start_daemon munged setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged --foreground
wait_for 15 munged "$RUN/pids/munged.pid" bash -c 'munge -n | unmunge'
say "munged up (pid $(cat "$RUN/pids/munged.pid"))"

# ------------------------------------------------------------------ MariaDB, a private instance
cat > "$RUN/etc/my.cnf" << EOF
[mysqld]
datadir=$RUN/mysql
socket=$RUN/mysqlrun/mysql.sock
pid-file=$RUN/mysqlrun/mysqld.pid
port=$DB_PORT
bind-address=127.0.0.1
user=mysql
skip-name-resolve
innodb_buffer_pool_size=256M
innodb_log_file_size=64M
innodb_lock_wait_timeout=900
log-error=$RUN/log/mariadb.err
EOF
chown -R mysql:mysql "$RUN/mysql" "$RUN/mysqlrun"  # mariadbd must own its data and socket dirs
touch "$RUN/log/mariadb.err"; chown mysql:mysql "$RUN/log/mariadb.err"
if [ ! -d "$RUN/mysql/mysql" ]; then
  mariadb-install-db --defaults-file="$RUN/etc/my.cnf" --auth-root-authentication-method=socket \
    --skip-test-db > "$RUN/log/mariadb-install.log" 2>&1 \
    || die "mariadb-install-db failed; see $RUN/log/mariadb-install.log"
fi
start_daemon mariadbd /usr/sbin/mariadbd --defaults-file="$RUN/etc/my.cnf"
MYSQL=(mariadb --socket="$RUN/mysqlrun/mysql.sock" -uroot)
wait_for 60 mariadbd "$RUN/pids/mariadbd.pid" "${MYSQL[@]}" -e 'select 1'
"${MYSQL[@]}" << EOF
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1';
ALTER USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
FLUSH PRIVILEGES;
EOF
say "mariadbd up (pid $(cat "$RUN/pids/mariadbd.pid"), port $DB_PORT)"

# ------------------------------------------------------------------ Slurm's configuration
cat > "$RUN/etc/slurm.conf" << EOF
$MARKER from $POLICY
# A single-node test cluster: see deploy/slurm/README.md. State under $RUN.
ClusterName=$CLUSTER
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=slurm
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$RUN/ctld
SlurmdSpoolDir=$RUN/slurmd
SlurmctldPidFile=$RUN/ctld/slurmctld.pid
SlurmdPidFile=$RUN/slurmd/slurmd.pid
SlurmctldLogFile=$RUN/log/slurmctld.log
SlurmdLogFile=$RUN/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ReturnToService=2
MpiDefault=none
MailProg=/bin/true
# No cgroups: containers and machines without systemd rarely give slurmd a cgroup tree of its own.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=512
# Accounting, and limits that refuse a job at submission instead of leaving it pending forever:
# EnforcePartLimits=ALL for partitions, QOS Flags=DenyOnLimit (set by sacctmgr) for QOS.
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$DBD_PORT
AccountingStorageEnforce=associations,limits,qos,safe
EnforcePartLimits=ALL
# A job that names no QOS gets its partition's default (job_submit.lua, from the policy).
JobSubmitPlugins=lua
JobCompType=jobcomp/none
PriorityType=priority/multifactor
PriorityWeightQOS=10000
PriorityWeightAge=100
PriorityWeightFairshare=1000
PriorityCalcPeriod=1
# Quick turnaround for tests: jobs killed soon after their time limit, few seconds of grace.
SchedulerParameters=sched_interval=2,bf_interval=5
OverTimeLimit=0
KillWait=2
MinJobAge=300
InactiveLimit=0
Waittime=0
EOF
"${FROM_POLICY[@]}" slurm-conf --node "$NODE" --cpus "$CPUS" --mem-mb "$MEM_MB" \
  --devices "$DEVICES" >> "$RUN/etc/slurm.conf"
{ echo "$MARKER"; "${FROM_POLICY[@]}" gres-conf --node "$NODE" --dev-dir "$RUN/dev" \
    --devices "$DEVICES"; } > "$RUN/etc/gres.conf"
"${FROM_POLICY[@]}" job-submit-lua > "$RUN/etc/job_submit.lua"
cat > "$RUN/etc/slurmdbd.conf" << EOF
$MARKER
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
SlurmUser=slurm
DebugLevel=info
LogFile=$RUN/log/slurmdbd.log
PidFile=$RUN/ctld/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
EOF
mkdir -p /etc/slurm
install -m 644 "$RUN/etc/slurm.conf" "$RUN/etc/gres.conf" "$RUN/etc/job_submit.lua" /etc/slurm/
install -m 600 -o slurm -g slurm "$RUN/etc/slurmdbd.conf" /etc/slurm/  # slurmdbd insists on 600
chmod 600 "$RUN/etc/slurmdbd.conf"  # it holds the database password

# ------------------------------------------------------------------ slurmdbd, QOS, accounts
start_daemon slurmdbd /usr/sbin/slurmdbd -D
wait_for 60 slurmdbd "$RUN/pids/slurmdbd.pid" sacctmgr -n show cluster
say "slurmdbd up (pid $(cat "$RUN/pids/slurmdbd.pid"))"
# slurmctld refuses to start while a partition's AllowQos names a QOS that does not exist, so
# the QOS come first, without gres limits (the gres TRES exist only once slurmctld registered them).
"${FROM_POLICY[@]}" sacctmgr --phase qos --cluster "$CLUSTER" --accounts "$ACCOUNTS" --run
say "QOS, accounts and users created from $POLICY"

# ------------------------------------------------------------------ slurmctld, gres limits
start_daemon slurmctld /usr/sbin/slurmctld -D -i
wait_for 60 slurmctld "$RUN/pids/slurmctld.pid" scontrol ping
for kind in $("${FROM_POLICY[@]}" kinds); do
  wait_for 60 "TRES gres/$kind registered" "$RUN/pids/slurmctld.pid" \
    bash -c "sacctmgr -n -P show tres | grep -q '^gres|$kind|'"
done
"${FROM_POLICY[@]}" sacctmgr --phase tres --cluster "$CLUSTER" --run
say "slurmctld up (pid $(cat "$RUN/pids/slurmctld.pid")); gres limits set"

# ------------------------------------------------------------------ slurmd
start_daemon slurmd /usr/sbin/slurmd -D -N "$NODE"
wait_for 60 "node $NODE idle" "$RUN/pids/slurmd.pid" \
  bash -c "sinfo -h -n '$NODE' -o %t | grep -qx idle"
say "slurmd up (pid $(cat "$RUN/pids/slurmd.pid")); node $NODE idle"
sinfo -o '%P %a %l %D %t %N %G'
echo "Slurm cluster '$CLUSTER' is up (state in $RUN). Stop it with: sudo bash $HERE/stop.sh"
