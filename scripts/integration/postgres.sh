#!/usr/bin/env bash
# Install (if needed) and start Debian's PostgreSQL, then create the integration role and database.
#
#   scripts/integration/postgres.sh            # prints the SQLAlchemy URL on its last line
#
# Idempotent: re-running finds the package installed, the cluster running and the role present.
# Environment: IT_PG_USER (seekrflow_it), IT_PG_PASSWORD (seekrflow_it), IT_PG_DB (seekrflow_it),
# IT_PG_PORT (the cluster's port, read from pg_lsclusters).
set -euo pipefail

user="${IT_PG_USER:-seekrflow_it}"
password="${IT_PG_PASSWORD:-seekrflow_it}"
db="${IT_PG_DB:-seekrflow_it}"

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo -n "$@"; else
        echo "!!! need root (or passwordless sudo) for: $*" >&2; return 1; fi
}
as_postgres() {
    if [ "$(id -un)" = postgres ]; then "$@"; else as_root su postgres -s /bin/bash -c "$(printf '%q ' "$@")"; fi
}

if ! command -v pg_lsclusters >/dev/null 2>&1 || [ -z "$(pg_lsclusters -h 2>/dev/null)" ]; then
    echo ">>> installing PostgreSQL (apt-get install -y postgresql)" >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 \
        || echo "!!! apt-get update failed; trying the install anyway" >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
fi

read -r version cluster port status _ < <(pg_lsclusters -h | head -n 1)
if [ "${status%%,*}" != "online" ]; then
    echo ">>> starting PostgreSQL cluster $version/$cluster on port $port" >&2
    # The server outlives this script: it must not inherit the caller's open files (a lock a CI
    # runner or `flock` holds on fd 3 and up would stay held for as long as PostgreSQL runs).
    # Exit status 2: "already running" (started since pg_lsclusters looked): that is fine too.
    as_root python3 -c 'import subprocess, sys; sys.exit(subprocess.call(sys.argv[1:], close_fds=True))' \
        pg_ctlcluster "$version" "$cluster" start >&2 || [ $? -eq 2 ]
fi
for _ in $(seq 1 60); do
    as_postgres psql -p "$port" -Atqc "select 1" >/dev/null 2>&1 && break
    sleep 0.5
done

if [ "$(as_postgres psql -p "$port" -Atqc "select 1 from pg_roles where rolname='$user'")" != "1" ]; then
    echo ">>> creating role $user" >&2
    as_postgres psql -p "$port" -qc "create role $user login password '$password' createdb" >&2
fi
if [ "$(as_postgres psql -p "$port" -Atqc "select 1 from pg_database where datname='$db'")" != "1" ]; then
    echo ">>> creating database $db" >&2
    as_postgres psql -p "$port" -qc "create database $db owner $user" >&2
fi
echo "postgresql+psycopg2://$user:$password@127.0.0.1:$port/$db"
