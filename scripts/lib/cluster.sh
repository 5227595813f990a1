# shellcheck shell=bash
# Private, throw-away PostgreSQL clusters for the process and fault tests (scripts/ci-processes):
# a primary made by initdb, a streaming replica made by pg_basebackup from it, each in its own
# temporary directory on its own port, so a test may restart or kill them without touching the
# shared development server on 127.0.0.1:5432.
#
# Source this file; it defines functions and runs nothing by itself. A cluster is named by its
# directory: <dir>/data is PGDATA, <dir>/postgres.log its log, <dir>/port its port. As root the
# server runs as the `postgres` OS user (PostgreSQL refuses to run as root).
#
#   dir=$(cluster_init)            # initdb on a free port, started
#   cluster_url "$dir" thidua      # postgres://postgres@127.0.0.1:<port>/thidua
#   cluster_restart "$dir"         # pg_ctl restart -m fast
#   replica=$(cluster_replica "$dir")   # streaming replica of it, started
#   cluster_remove "$replica"; cluster_remove "$dir"   # stop (fast, then kill) and delete

# The newest server binaries installed (Debian keeps them off PATH), or $PG_BINDIR.
cluster_bindir() {
    if [[ -n "${PG_BINDIR:-}" ]]; then
        printf '%s\n' "$PG_BINDIR"
        return 0
    fi
    local newest
    newest=$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -type d -printf '%f\n' 2>/dev/null | sort -V | tail -n 1)
    if [[ -n "$newest" && -x "/usr/lib/postgresql/${newest}/bin/pg_ctl" ]]; then
        printf '%s\n' "/usr/lib/postgresql/${newest}/bin"
    elif command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(command -v pg_ctl)"
    else
        printf 'error: no PostgreSQL server binaries (pg_ctl) found; set PG_BINDIR\n' >&2
        return 1
    fi
}

# Runs a command as the cluster owner: `postgres` when we are root, else ourselves.
cluster_as_owner() {
    if [[ $EUID -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# A TCP port on 127.0.0.1 nobody listens on: random in 20000–31999, below Linux's ephemeral
# range (32768–60999) so that outgoing connections do not take it before the server binds it.
cluster_free_port() {
    local port attempt
    for ((attempt = 0; attempt < 200; attempt++)); do
        port=$((20000 + RANDOM % 12000))
        if [[ -z "$(ss -Htln "sport = :${port}" 2>/dev/null)" ]]; then
            printf '%s\n' "$port"
            return 0
        fi
    done
    printf 'error: no free TCP port found\n' >&2
    return 1
}

# An empty directory owned by the cluster owner, mode 0700.
cluster_make_dir() {
    local dir
    dir=$(mktemp -d "${TMPDIR:-/tmp}/thidua-pg.XXXXXX")
    chmod 0700 "$dir"
    if [[ $EUID -eq 0 ]]; then
        chown postgres:postgres "$dir"
    fi
    printf '%s\n' "$dir"
}

cluster_port() {
    cat "$1/port"
}

# URL of database $2 (default postgres) on cluster $1.
cluster_url() {
    printf 'postgres://postgres@127.0.0.1:%s/%s\n' "$(cluster_port "$1")" "${2:-postgres}"
}

# psql on cluster $1, database $2, running SQL $3; prints unaligned tuples only.
cluster_psql() {
    psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$(cluster_url "$1" "$2")" -c "$3"
}

# Sets the settings every private cluster shares (port, sockets, logging, small memory).
cluster_configure() {
    local dir=$1 port=$2
    cluster_as_owner tee -a "$dir/data/postgresql.conf" >/dev/null <<EOF

# thidua private test cluster (scripts/lib/cluster.sh)
port = ${port}
listen_addresses = '127.0.0.1'
unix_socket_directories = '${dir}'
max_connections = 60
shared_buffers = 32MB
logging_collector = off
log_line_prefix = '%m [%p] %q%a '
EOF
    cluster_as_owner tee "$dir/port" >/dev/null <<<"$port"
}

cluster_start() {
    local dir=$1 bindir
    bindir=$(cluster_bindir) || return 1
    cluster_as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 start >/dev/null
}

# Configures cluster $1 on a free port and starts it; tries another port if the chosen one was
# taken in between (up to three times).
cluster_start_on_free_port() {
    local dir=$1 port attempt
    for ((attempt = 0; attempt < 3; attempt++)); do
        port=$(cluster_free_port) || return 1
        cluster_configure "$dir" "$port"
        if cluster_start "$dir" 2>/dev/null; then
            return 0
        fi
    done
    cat "$dir/postgres.log" >&2
    return 1
}

# Stops cluster $1 (fast shutdown); never fails (used from traps). Kills it if pg_ctl cannot.
cluster_stop() {
    local dir=$1 bindir pid
    [[ -d "$dir/data" ]] || return 0
    bindir=$(cluster_bindir) || return 0
    if [[ -f "$dir/data/postmaster.pid" ]]; then
        if ! cluster_as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null 2>&1; then
            pid=$(head -n 1 "$dir/data/postmaster.pid" 2>/dev/null || true)
            if [[ "$pid" =~ ^[0-9]+$ ]]; then
                kill -KILL "$pid" 2>/dev/null || true
            fi
        fi
    fi
    return 0
}

# Restarts cluster $1 (fast: sessions are terminated, committed data stays).
cluster_restart() {
    local dir=$1 bindir
    bindir=$(cluster_bindir) || return 1
    cluster_as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -m fast -w -t 60 restart >/dev/null
}

# Stops and deletes cluster $1; never fails.
cluster_remove() {
    local dir=$1
    [[ -n "$dir" && -d "$dir" ]] || return 0
    cluster_stop "$dir"
    rm -rf "$dir"
}

# Creates and starts a new primary on a free port; prints its directory. initdb's trust
# authentication also admits replication connections from 127.0.0.1 (pg_hba `replication` line).
cluster_init() {
    local dir bindir
    bindir=$(cluster_bindir) || return 1
    dir=$(cluster_make_dir)
    if ! cluster_as_owner "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust \
        --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1; then
        cat "$dir/initdb.log" >&2
        rm -rf "$dir"
        return 1
    fi
    if ! cluster_start_on_free_port "$dir"; then
        cluster_remove "$dir"
        return 1
    fi
    printf '%s\n' "$dir"
}

# Creates and starts a hot-standby streaming replica of the running cluster $1 on a free port;
# prints its directory. pg_basebackup -R writes standby.signal and primary_conninfo.
cluster_replica() {
    local primary=$1 dir bindir
    bindir=$(cluster_bindir) || return 1
    dir=$(cluster_make_dir)
    if ! cluster_as_owner "$bindir/pg_basebackup" -h 127.0.0.1 -p "$(cluster_port "$primary")" \
        -U postgres -D "$dir/data" -R -X stream -c fast >"$dir/basebackup.log" 2>&1; then
        cat "$dir/basebackup.log" >&2
        rm -rf "$dir"
        return 1
    fi
    # The copied postgresql.conf carries the primary's port and socket directory: the settings
    # appended here override them (the last occurrence wins).
    cluster_as_owner tee -a "$dir/data/postgresql.conf" >/dev/null <<<"hot_standby = on"
    if ! cluster_start_on_free_port "$dir"; then
        cluster_remove "$dir"
        return 1
    fi
    printf '%s\n' "$dir"
}
