#!/usr/bin/env bash
# Starts PostgreSQL for the shared-workspace tests: the cluster Debian's `postgresql`
# package creates, a role and a database the tests own. Idempotent: running it again on a
# started cluster with the role and database in place changes nothing.
#
# The tests read MLKUBE_TEST_POSTGRES_URI, default
# postgresql://mlkube:mlkube@127.0.0.1:5432/mlkube_test (what this script creates).
set -euo pipefail

ROLE="${MLKUBE_PG_ROLE:-mlkube}"
PASSWORD="${MLKUBE_PG_PASSWORD:-mlkube}"
DATABASE="${MLKUBE_PG_DATABASE:-mlkube_test}"

if ! command -v pg_lsclusters >/dev/null; then
    echo "postgres: the 'postgresql' Debian package is not installed (apt-get install postgresql)" >&2
    exit 1
fi

# The newest installed major version and its first cluster (Debian 12: 15 main).
read -r VERSION CLUSTER PORT STATUS _ < <(pg_lsclusters --no-header | sort -k1,1nr | head -n 1) || true
if [ -z "${VERSION:-}" ]; then
    VERSION="$(ls /usr/lib/postgresql | sort -nr | head -n 1)"
    CLUSTER=main
    pg_createcluster "$VERSION" "$CLUSTER" >/dev/null
    read -r VERSION CLUSTER PORT STATUS _ < <(pg_lsclusters --no-header | sort -k1,1nr | head -n 1)
fi

if [ "$STATUS" != "online" ]; then
    pg_ctlcluster "$VERSION" "$CLUSTER" start
fi

# Wait (with a deadline) until the server accepts connections.
for _ in $(seq 1 60); do
    if su postgres -c "psql -p $PORT -tAc 'select 1'" >/dev/null 2>&1; then
        break
    fi
    sleep 0.5
done

psql_admin() { su postgres -c "psql -p $PORT -v ON_ERROR_STOP=1 -tAc \"$1\""; }

if [ "$(psql_admin "select 1 from pg_roles where rolname='$ROLE'")" != "1" ]; then
    psql_admin "create role $ROLE login password '$PASSWORD' createdb" >/dev/null
fi
if [ "$(psql_admin "select 1 from pg_database where datname='$DATABASE'")" != "1" ]; then
    psql_admin "create database $DATABASE owner $ROLE" >/dev/null
fi

echo "postgres: $VERSION/$CLUSTER online on 127.0.0.1:$PORT, database $DATABASE (role $ROLE)"
