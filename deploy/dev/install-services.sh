#!/usr/bin/env bash
# Install the database servers the integration tests start (PostgreSQL), from Debian's packages.
# Needs root; without it, say what is missing and go on (those tests then skip, saying why).
set -euo pipefail

have_postgres() { compgen -G "/usr/lib/postgresql/*/bin/initdb" > /dev/null; }

if have_postgres; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-services: PostgreSQL server binaries are missing and this is not root;" \
       "PostgreSQL tests will be skipped (as root: apt-get install postgresql)." >&2
  exit 0
fi
echo "install-services: installing PostgreSQL from Debian's packages" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# policy-rc.d stops the package from starting its own cluster; the tests run private ones.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
chmod +x /usr/sbin/policy-rc.d
trap 'rm -f /usr/sbin/policy-rc.d' EXIT
apt-get install -y -qq postgresql > /dev/null
have_postgres
