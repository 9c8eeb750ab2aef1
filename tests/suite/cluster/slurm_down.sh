#!/usr/bin/env bash
# Stop the cluster that slurm_up.sh started in STATE_DIR: every daemon by its PID (never by name,
# so nothing else on the host is touched), then remove the /etc/hosts block it added.
set -uo pipefail
state="${1:?usage: slurm_down.sh STATE_DIR}"
[ -d "$state" ] || exit 0

if [ -f "$state/slurm.conf" ]; then
  # Jobs first, so no step outlives its daemons.
  SLURM_CONF="$state/slurm.conf" timeout 10 scancel --full --quiet --user=root 2>/dev/null || true
fi
if [ -f "$state/pids" ]; then
  # Reverse order of start: slurmd, slurmctld, slurmdbd, mariadbd, munged.
  tac "$state/pids" | while read -r pid name; do
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && echo "slurm_down: stopping $name ($pid)" >&2
  done
  for _ in $(seq 100); do
    alive=0
    while read -r pid _; do kill -0 "$pid" 2>/dev/null && alive=1; done < "$state/pids"
    [ "$alive" = 0 ] && break
    sleep 0.2
  done
  while read -r pid name; do
    if kill -0 "$pid" 2>/dev/null; then
      echo "slurm_down: $name ($pid) ignored TERM; killing" >&2
      kill -KILL "$pid" 2>/dev/null
    fi
  done < "$state/pids"
  : > "$state/pids"
fi
if grep -q "# acceptance-ci-cluster" /etc/hosts 2>/dev/null; then
  # /etc/hosts may be a bind mount: rewrite it in place rather than replacing the file.
  grep -v "acceptance-ci-cluster" /etc/hosts > "$state/hosts.clean" && cat "$state/hosts.clean" > /etc/hosts
fi
exit 0
