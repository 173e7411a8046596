#!/bin/sh
# Initialise PGDATA when it is empty, then run postgres in the foreground (as PID 1).
#   POSTGRES_PASSWORD_FILE  file holding the password of POSTGRES_USER (required)
#   POSTGRES_USER           superuser name (default postgres)
#   POSTGRES_DB             database created at initialisation (default: POSTGRES_USER)
#   PGDATA                  data directory (default /var/lib/postgresql/data/pgdata)
# Extra arguments go to postgres (e.g. -c max_connections=200).
set -eu
user=${POSTGRES_USER:-postgres}
db=${POSTGRES_DB:-$user}
pw_file=${POSTGRES_PASSWORD_FILE:-}
fail() { echo "logistica-postgres: $*" >&2; exit 1; }
[ -n "$pw_file" ] || fail "POSTGRES_PASSWORD_FILE is not set (a file holding the superuser password)"
[ -s "$pw_file" ] || fail "POSTGRES_PASSWORD_FILE=$pw_file is missing or empty"
case "$user$db" in *[!A-Za-z0-9_]*) fail "POSTGRES_USER and POSTGRES_DB may hold only letters, digits and _";; esac
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  mkdir -p "$PGDATA" || fail "cannot create PGDATA=$PGDATA (is the volume writable by uid $(id -u)?)"
  chmod 0700 "$PGDATA"
  echo "logistica-postgres: initialising $PGDATA (user $user, database $db)" >&2
  # the password file may end in a newline; initdb takes the first line
  initdb --username="$user" --pwfile="$pw_file" --auth-local=scram-sha-256 \
    --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 -D "$PGDATA" >&2
  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
  if [ "$db" != postgres ]; then
    echo "CREATE DATABASE \"$db\" OWNER \"$user\"" | postgres --single -D "$PGDATA" -c listen_addresses= postgres >/dev/null
  fi
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories=/tmp "$@"
