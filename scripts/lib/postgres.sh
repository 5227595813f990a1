# shellcheck shell=bash
# Shared PostgreSQL helpers for scripts/test, scripts/update-schema and .ci/run.
# Source this file; it defines functions and a few variables and runs nothing by itself.
#
# The local development server is PostgreSQL on 127.0.0.1:5432, user postgres, trust auth
# (a Debian cluster, or `docker compose -f docker/compose.yaml up postgres`).

THIDUA_PG_HOST=127.0.0.1
THIDUA_PG_PORT=5432
# Server URL without a database name; append "/<database>".
THIDUA_PG_SERVER_URL="postgres://postgres@${THIDUA_PG_HOST}:${THIDUA_PG_PORT}"

pg_log() {
    printf '%s\n' "$*" >&2
}

pg_is_up() {
    pg_isready -q -t 2 -h "$THIDUA_PG_HOST" -p "$THIDUA_PG_PORT"
}

# Makes sure PostgreSQL accepts connections on 127.0.0.1:5432, starting the newest local
# Debian cluster (pg_ctlcluster) if it is stopped, and waiting up to 30 s for it.
ensure_postgres() {
    if ! command -v pg_isready >/dev/null 2>&1; then
        pg_log "warning: pg_isready not found; assuming PostgreSQL runs on ${THIDUA_PG_HOST}:${THIDUA_PG_PORT}"
        return 0
    fi
    if pg_is_up; then
        return 0
    fi

    local clusters=() version
    if [[ -d /etc/postgresql ]]; then
        mapfile -t clusters < <(find /etc/postgresql -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort -V)
    fi
    if ! command -v pg_ctlcluster >/dev/null 2>&1 || ((${#clusters[@]} == 0)); then
        pg_log "error: PostgreSQL is not running on ${THIDUA_PG_HOST}:${THIDUA_PG_PORT} and no local cluster was found."
        pg_log "       Start one, for example: docker compose -f docker/compose.yaml up -d postgres"
        return 1
    fi
    version=${clusters[-1]}

    pg_log "PostgreSQL is not running; starting cluster ${version}/main"
    if ! pg_ctlcluster --skip-systemctl-redirect "$version" main start; then
        # Another process may have started it meanwhile; only the wait below decides.
        pg_log "warning: pg_ctlcluster ${version} main start failed"
    fi

    local waited
    for ((waited = 0; waited < 30; waited++)); do
        if pg_is_up; then
            return 0
        fi
        sleep 1
    done
    pg_log "error: PostgreSQL did not become ready on ${THIDUA_PG_HOST}:${THIDUA_PG_PORT} within 30 s"
    return 1
}

# Runs one SQL statement against the maintenance database "postgres".
pg_admin_sql() {
    psql -X -q -v ON_ERROR_STOP=1 -d "${THIDUA_PG_SERVER_URL}/postgres" -c "$1"
}

# Creates an empty database named $1 (a plain identifier) and prints its URL.
create_scratch_database() {
    local name=$1
    pg_admin_sql "CREATE DATABASE \"${name}\"" >&2 || return 1
    printf '%s/%s\n' "$THIDUA_PG_SERVER_URL" "$name"
}

# Drops database $1 if it exists; never fails (used from traps).
drop_scratch_database() {
    local name=$1
    pg_admin_sql "DROP DATABASE IF EXISTS \"${name}\" WITH (FORCE)" >/dev/null 2>&1 || true
}
