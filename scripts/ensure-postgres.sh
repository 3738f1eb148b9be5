#!/usr/bin/env bash
# The Postgres test suite needs a server (default 127.0.0.1:5432, trust auth). Start the
# local cluster if it is installed but stopped; otherwise say what is missing.
set -uo pipefail
host=${PGHOST:-127.0.0.1}
port=${PGPORT:-5432}
if pg_isready -q -h "$host" -p "$port" 2>/dev/null; then exit 0; fi
if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
  echo "Starting the local PostgreSQL cluster..."
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  for _ in $(seq 1 30); do pg_isready -q -h "$host" -p "$port" && exit 0; sleep 0.5; done
fi
echo "PostgreSQL is not reachable at $host:$port; the Postgres tests will fail in CI and skip elsewhere." >&2
exit 0
