#!/usr/bin/env bash
# Bring up a real Slurm 22.05 cluster of 4 simulated nodes, n[1-4], on this host (as root).
#
#   tests/suite/cluster/slurm_up.sh STATE_DIR      start; writes STATE_DIR/env to source
#   tests/suite/cluster/slurm_down.sh STATE_DIR    stop every daemon by PID, remove what up added
#
# Daemons: munged, MariaDB + slurmdbd (accounting, so ReFrame's `slurm` scheduler can use sacct
# and reports carry job ids and node lists), slurmctld, and one slurmd per simulated node
# (Debian's build supports several slurmd per host: `slurmd -N nX`). Node names n1..n4 resolve to
# 127.0.0.1 through an /etc/hosts block marked for removal, so ranks find their rendezvous from
# SLURM_STEP_NODELIST as on a real cluster. Installs Debian's packages if they are missing.
set -euo pipefail

state="$(mkdir -p "${1:?usage: slurm_up.sh STATE_DIR}" && cd "$1" && pwd)"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
nodes=4
db_port=${ACCEPTANCE_CI_DB_PORT:-13306}
dbd_port=${ACCEPTANCE_CI_DBD_PORT:-16819}
ctld_port=${ACCEPTANCE_CI_CTLD_PORT:-16817}
first_slurmd_port=${ACCEPTANCE_CI_SLURMD_PORT:-17001}
host="$(hostname -s)"

say() { echo "slurm_up: $*" >&2; }
fail() { say "$*"; "$here/slurm_down.sh" "$state" || true; exit 1; }

if [ "$(id -u)" != 0 ]; then
  echo "slurm_up: must run as root (it starts munged, slurmdbd, slurmctld and slurmd)" >&2
  exit 1
fi
if ! command -v slurmctld >/dev/null || ! command -v slurmdbd >/dev/null || ! command -v mariadbd >/dev/null; then
  say "installing slurm-wlm, slurmdbd, munge and mariadb-server (Debian)"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm slurmdbd munge mariadb-server >/dev/null
fi

mkdir -p "$state"/{munge,db,ctld,log,spool}
: > "$state/pids"
trap 'fail "bring-up failed at line $LINENO"' ERR

# --- munge: its own key and socket, nothing shared with a system munged ---------------------------
dd if=/dev/urandom of="$state/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$state/munge/munge.key"
chmod 700 "$state/munge"
munged --force -S "$state/munge/munge.socket" --key-file="$state/munge/munge.key" \
  --pid-file="$state/munge/munged.pid" --log-file="$state/log/munged.log" --seed-file="$state/munge/seed"
echo "$(cat "$state/munge/munged.pid") munged" >> "$state/pids"

# --- MariaDB for slurmdbd, on loopback with its own port and socket -------------------------------------
mariadb-install-db --no-defaults --datadir="$state/db" --user=root --auth-root-authentication-method=normal \
  >"$state/log/mariadb-install.log" 2>&1
mariadbd --no-defaults --datadir="$state/db" --socket="$state/mysql.sock" --port="$db_port" \
  --bind-address=127.0.0.1 --user=root --pid-file="$state/mysql.pid" --log-error="$state/log/mariadb.log" \
  --skip-log-bin &
echo "$! mariadbd" >> "$state/pids"
for _ in $(seq 100); do [ -S "$state/mysql.sock" ] && break; sleep 0.2; done
[ -S "$state/mysql.sock" ] || fail "MariaDB did not start (see $state/log/mariadb.log)"
db_pass="ci-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
mariadb --no-defaults -S "$state/mysql.sock" -u root -e \
  "CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$db_pass'; GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"

# --- Slurm configuration -------------------------------------------------------------------------------------
cat > "$state/slurmdbd.conf" <<EOF
AuthType=auth/munge
AuthInfo=socket=$state/munge/munge.socket
DbdHost=localhost
DbdPort=$dbd_port
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$db_port
StorageUser=slurm
StoragePass=$db_pass
StorageLoc=slurm_acct_db
PidFile=$state/slurmdbd.pid
LogFile=$state/log/slurmdbd.log
EOF
chmod 600 "$state/slurmdbd.conf"

last_port=$((first_slurmd_port + nodes - 1))
cat > "$state/slurm.conf" <<EOF
ClusterName=ci
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$state/munge/munge.socket
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/spool/%n
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.%n.pid
SlurmctldLogFile=$state/log/slurmctld.log
SlurmdLogFile=$state/log/slurmd.%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
KillOnBadExit=1
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=$dbd_port
AccountingStoragePass=$state/munge/munge.socket
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
NodeName=n[1-$nodes] NodeHostname=$host NodeAddr=127.0.0.1 Port=[$first_slurmd_port-$last_port] CPUs=2 RealMemory=4000
PartitionName=debug Nodes=n[1-$nodes] Default=YES MaxTime=60 State=UP
EOF
export SLURM_CONF="$state/slurm.conf"

slurmdbd
for _ in $(seq 100); do [ -f "$state/slurmdbd.pid" ] && sacctmgr -i list cluster >/dev/null 2>&1 && break; sleep 0.2; done
echo "$(cat "$state/slurmdbd.pid") slurmdbd" >> "$state/pids"
sacctmgr -i add cluster ci >/dev/null

# --- node names resolve to this host (removed again by slurm_down.sh) ------------------------------------
if ! grep -q "# acceptance-ci-cluster" /etc/hosts; then
  {
    echo "# acceptance-ci-cluster begin"
    for i in $(seq "$nodes"); do echo "127.0.0.1 n$i # acceptance-ci-cluster"; done
    echo "# acceptance-ci-cluster end"
  } >> /etc/hosts
fi

slurmctld
for _ in $(seq 100); do [ -f "$state/slurmctld.pid" ] && break; sleep 0.1; done
echo "$(cat "$state/slurmctld.pid") slurmctld" >> "$state/pids"
for i in $(seq "$nodes"); do
  mkdir -p "$state/spool/n$i"
  slurmd -N "n$i"
  for _ in $(seq 100); do [ -f "$state/slurmd.n$i.pid" ] && break; sleep 0.1; done
  echo "$(cat "$state/slurmd.n$i.pid") slurmd-n$i" >> "$state/pids"
done

for _ in $(seq 150); do
  idle=$(sinfo -h -N -t idle -o "%N" 2>/dev/null | sort -u | wc -l)
  [ "$idle" -eq "$nodes" ] && break
  sleep 0.2
done
[ "$idle" -eq "$nodes" ] || fail "only $idle of $nodes nodes idle (see $state/log/)"

cat > "$state/env" <<EOF
export SLURM_CONF=$state/slurm.conf
export ACCEPTANCE_CI_SCHEDULER=slurm
EOF
trap - ERR
say "cluster 'ci' up: $(sinfo -h -o '%P %D %t %N' | tr '\n' ' ')(source $state/env)"
