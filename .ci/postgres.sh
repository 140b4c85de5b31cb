#!/usr/bin/env bash
# Start a throwaway PostgreSQL server on loopback for the distributed-study test; print its URL on stdout.
# Installs Debian's package when missing. Needs root (CI runs as root); the server runs as the postgres user.
set -euo pipefail
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
fi
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
PORT=${METAHPO_PG_PORT:-54329}
PGDATA=$(mktemp -d /tmp/metahpo-pg.XXXXXX)
chown postgres:postgres "$PGDATA"
su postgres -s /bin/sh -c "$PGBIN/initdb -D $PGDATA -A trust -U postgres >/dev/null"
su postgres -s /bin/sh -c "$PGBIN/pg_ctl -D $PGDATA -l $PGDATA/server.log -w -o \"-c listen_addresses=127.0.0.1 -p $PORT -k $PGDATA\" start >/dev/null"
su postgres -s /bin/sh -c "$PGBIN/createdb -h 127.0.0.1 -p $PORT metahpo_test"
echo "$PGBIN/pg_ctl -D $PGDATA -m fast stop" > "$PGDATA/stop.sh"
echo "postgresql+psycopg2://postgres@127.0.0.1:$PORT/metahpo_test $PGDATA"
