#!/usr/bin/env bash
# Install a single-node Slurm with accounting from Debian 12's packages: slurmctld, slurmd,
# slurmdbd (Slurm 22.05), the client tools, munge and MariaDB. Needs root. Idempotent: packages
# already present are left alone.
#
# The packages' own services are NOT started: a policy-rc.d that exits 101 is in place during the
# install, because deploy/slurm/start.sh runs every daemon itself (no systemd needed) under a
# state folder of its own.
set -euo pipefail

PACKAGES=(slurmctld slurmd slurmdbd slurm-client munge mariadb-server mariadb-client)

if [ "$(id -u)" -ne 0 ]; then
  echo "deploy/slurm/install.sh: needs root to install packages (try: sudo bash $0)" >&2
  exit 1
fi

missing=()
for package in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "deploy/slurm/install.sh: installing ${missing[*]}" >&2
# Keep an existing policy-rc.d (container images ship one); otherwise put ours and remove it after.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp /tmp/hai-slurm-apt.XXXXXX.log)
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } \
    > "$log" 2>&1; then
  tail -n 30 "$log" >&2
  echo "deploy/slurm/install.sh: apt-get install failed (full log: $log)" >&2
  exit 1
fi
rm -f "$log"
echo "deploy/slurm/install.sh: installed $(slurmctld -V)" >&2
