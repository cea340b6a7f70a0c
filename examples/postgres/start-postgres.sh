#!/bin/sh
# Starts PostgreSQL on $PGDATA after setting the postgres role's password from
# POSTGRES_PASSWORD. Only one server may run on a data folder: a container that starts
# while another still runs on the same volume waits for it, and gives up after 25 s.
set -eu

if [ -z "${POSTGRES_PASSWORD:-}" ]; then
  echo "POSTGRES_PASSWORD is not set: set it with PUT /v1/apps/<app>/env, then deploy again." >&2
  exit 1
fi

# The lock lives on the volume, so it is the same file in every container that mounts it.
# postgres inherits descriptor 9 through exec and keeps the lock until it exits.
# The runner stops the old container of a single-writer volume app before it starts the
# new one, so the wait matters only when a container outlives its stop.
exec 9>>"$PGDATA/slipway.lock"
if ! flock --wait 25 9; then
  echo "Another container still runs PostgreSQL on $PGDATA: gave up waiting after 25 s." >&2
  exit 1
fi

# Single-user mode changes the password before any client can connect. Quotes in the
# password are doubled, as SQL string literals need.
escaped=$(printf '%s' "$POSTGRES_PASSWORD" | sed "s/'/''/g")
printf "ALTER ROLE postgres PASSWORD '%s';\n" "$escaped" | postgres --single -D "$PGDATA" postgres > /dev/null

exec postgres -D "$PGDATA"
