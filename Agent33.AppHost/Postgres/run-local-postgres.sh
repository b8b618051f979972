#!/usr/bin/env bash
# Runs the machine's PostgreSQL for a local AppHost run: creates the cluster on first use, sets the
# password the AppHost generated, and keeps the server in the foreground until the AppHost stops it.
# Usage: run-local-postgres.sh <bin-dir> <data-dir> <port>   (password in AGENT33_PG_PASSWORD; with
# AGENT33_PG_DATABASE, that database is created too before the server reports itself ready)
set -euo pipefail

bin_dir="$1"
data_dir="$2"
port="$3"
: "${AGENT33_PG_PASSWORD:?AGENT33_PG_PASSWORD must be set}"

# PostgreSQL refuses to run as root; run it as the postgres user then.
as_owner=()
if [ "$(id -u)" = "0" ]; then
    id postgres >/dev/null 2>&1 || { echo "running as root needs a 'postgres' user (apt-get install -y postgresql creates it)" >&2; exit 1; }
    as_owner=(runuser -u postgres --)
fi

mkdir -p "$data_dir"
if [ "${#as_owner[@]}" -gt 0 ]; then
    chown postgres "$data_dir"
    chmod 700 "$data_dir"
fi

if [ ! -s "$data_dir/PG_VERSION" ]; then
    echo "initialising a new cluster in $data_dir"
    # The password file is readable by initdb's user alone (mode 0600; owned by postgres when it runs as
    # postgres), from before the password is written until it is removed, whatever way the script ends.
    pwfile=$(umask 077 && mktemp)
    trap 'rm -f "$pwfile"' EXIT
    if [ "${#as_owner[@]}" -gt 0 ]; then
        chown postgres "$pwfile"
    fi
    printf '%s' "$AGENT33_PG_PASSWORD" > "$pwfile"
    "${as_owner[@]}" "$bin_dir/initdb" -D "$data_dir" -U postgres --pwfile="$pwfile" \
        --auth-host=scram-sha-256 --auth-local=peer -E UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$pwfile"
    trap - EXIT
fi

"${as_owner[@]}" "$bin_dir/postgres" -D "$data_dir" -p "$port" \
    -c listen_addresses=127.0.0.1 -c unix_socket_directories="$data_dir" -c max_connections=200 &
server=$!
trap 'kill -INT "$server" 2>/dev/null; wait "$server"; exit 0' INT TERM

# The password is generated per machine; set it on every start so a kept cluster always matches it.
for _ in $(seq 1 120); do
    if "${as_owner[@]}" "$bin_dir/pg_isready" -q -h "$data_dir" -p "$port"; then
        escaped=${AGENT33_PG_PASSWORD//\'/\'\'}
        echo "ALTER ROLE postgres PASSWORD '$escaped';" | "${as_owner[@]}" "$bin_dir/psql" -q -h "$data_dir" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 >/dev/null
        # The services' databases (space-separated) exist before anyone connects: a first run logs no "does not exist".
        for db in ${AGENT33_PG_DATABASE:-}; do
            echo "SELECT format('CREATE DATABASE %I', :'db') WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec" \
                | "${as_owner[@]}" "$bin_dir/psql" -q -h "$data_dir" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -v db="$db" >/dev/null
        done
        echo "postgres ready on 127.0.0.1:$port (data: $data_dir)"
        break
    fi
    kill -0 "$server" 2>/dev/null || { wait "$server"; exit $?; }
    sleep 0.5
done

wait "$server"
