#!/usr/bin/env bash
# Install the services the integration tests start, from Debian's packages: PostgreSQL, Slurm
# with accounting (slurmctld, slurmd, slurmdbd, munge, MariaDB; see deploy/slurm/install.sh),
# Chromium for the portal's browser tests (driven by Playwright; never downloaded), and
# Prometheus' promtool, which checks deploy/monitoring's alerting rules.
# Needs root; without it, say what is missing and go on (those tests then skip, saying why).
# The packages' own daemons are never started: the tests start and stop private instances.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

have_postgres() { compgen -G "/usr/lib/postgresql/*/bin/initdb" > /dev/null; }
have_slurm() {
  local binary
  for binary in slurmctld slurmd slurmdbd sbatch sacctmgr munged mariadbd; do
    command -v "$binary" > /dev/null || [ -x "/usr/sbin/$binary" ] || return 1
  done
}

have_chromium() { [ -x /usr/bin/chromium ] && fc-list 2>/dev/null | grep -i "wenquanyi\|wqy" > /dev/null; }
have_promtool() { command -v promtool > /dev/null; }
# MPI for the workflows' MPI tasks (hakutaku.workflows: mpiexec with per-task ranks)
have_mpi() { command -v mpiexec > /dev/null; }

if have_postgres && have_slurm && have_chromium && have_promtool && have_mpi; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  have_postgres || echo "install-services: PostgreSQL server binaries are missing and this is" \
    "not root; PostgreSQL tests will be skipped (as root: apt-get install postgresql)." >&2
  have_slurm || echo "install-services: Slurm is missing and this is not root; Slurm tests" \
    "will be skipped (as root: bash deploy/slurm/install.sh)." >&2
  have_chromium || echo "install-services: Chromium is missing and this is not root; browser" \
    "tests will be skipped (as root: apt-get install chromium)." >&2
  have_promtool || echo "install-services: promtool is missing and this is not root; the" \
    "alerting-rules test will be skipped (as root: apt-get install prometheus)." >&2
  have_mpi || echo "install-services: mpiexec is missing and this is not root; the workflows'" \
    "MPI tests will be skipped (as root: apt-get install mpich)." >&2
  exit 0
fi

# apt_install WHAT PACKAGE...: install from Debian's packages, quietly. policy-rc.d stops a
# package from starting its own daemon (postgresql's cluster, prometheus' server); the tests run
# private ones. An existing policy-rc.d (container images ship one) is left in place.
apt_install() {
  echo "install-services: installing $1 from Debian's packages" >&2
  shift
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get install -y -qq "$@" > /dev/null
}

if ! have_postgres; then
  apt_install PostgreSQL postgresql
  have_postgres
fi
if ! have_slurm; then
  bash "$HERE/../slurm/install.sh"
  have_slurm
fi
if ! have_chromium; then
  # a CJK font, so that the 简体中文 pages render (and screenshot) as text, not boxes
  apt_install Chromium --no-install-recommends chromium fonts-wqy-zenhei
  have_chromium
fi
if ! have_promtool; then
  # only promtool is used; the package's server is never started
  apt_install "Prometheus (for promtool)" --no-install-recommends prometheus
  have_promtool
fi
if ! have_mpi; then
  apt_install "MPICH (for the workflows' MPI tasks)" --no-install-recommends mpich
  have_mpi
fi
