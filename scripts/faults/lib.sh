# shellcheck shell=bash
# Shared by the scripts of scripts/faults/: start the real binary on a private cluster, log in,
# look up the demo data, and fail with a message. Source after scripts/lib/cluster.sh.

THIDUA_BIN=${THIDUA_BIN:-$PWD/target/debug/thidua}

fail() {
    printf 'FAILED: %s\n' "$*" >&2
    exit 1
}

note() {
    printf '  %s\n' "$*"
}

# service_start LOG DIR DATABASE_URL [NAME=VALUE...]: starts `thidua serve --demo` on a free
# port in a clean environment (no .env, nothing inherited but PATH and HOME), working directory
# DIR, and waits up to 90 s for /readyz. Sets SERVICE_PID, SERVICE_PORT and SERVICE_BASE.
service_start() {
    local log=$1 dir=$2 url=$3
    shift 3
    SERVICE_PORT=$(cluster_free_port)
    (
        cd "$dir" || exit 1
        exec env -i PATH="$PATH" HOME="$HOME" \
            DATABASE_URL="$url" THIDUA_ENV=development THIDUA_LOG_FORMAT=json \
            RUST_LOG=warn,thidua=info THIDUA_RATE_LIMIT_PER_IP=0 THIDUA_RATE_LIMIT_PER_PRINCIPAL=0 "$@" \
            "$THIDUA_BIN" serve --demo --bind "127.0.0.1:${SERVICE_PORT}"
    ) >"$log" 2>&1 &
    SERVICE_PID=$!
    # shellcheck disable=SC2034 # used by the sourcing scripts
    SERVICE_BASE="http://127.0.0.1:${SERVICE_PORT}/api/v1"
    local waited
    for ((waited = 0; waited < 450; waited++)); do
        if curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:${SERVICE_PORT}/readyz"; then
            return 0
        fi
        if ! kill -0 "$SERVICE_PID" 2>/dev/null; then
            tail -n 30 "$log" >&2
            fail "thidua exited during start-up"
        fi
        sleep 0.2
    done
    tail -n 30 "$log" >&2
    fail "thidua did not become ready within 90 s"
}

# service_kill PID: stops the service if it still runs (SIGTERM, then SIGKILL after 10 s);
# never fails (used from traps).
service_kill() {
    local pid=${1:-} waited
    [[ -n "$pid" ]] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((waited = 0; waited < 100; waited++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
}

# Ends the background jobs this shell started (load workers) that still run; never fails.
kill_jobs() {
    local pid
    for pid in $(jobs -p); do
        kill "$pid" 2>/dev/null || true
    done
    return 0
}

# login BASE USERNAME PASSWORD: prints an access token.
login() {
    curl -sS --max-time 30 -X POST "$1/auth/token" -H 'Content-Type: application/json' \
        -d "{\"grant_type\":\"password\",\"username\":\"$2\",\"password\":\"$3\"}" | jq -er .access_token
}

# demo_ids BASE TOKEN: sets COMMUNE (Xã Mỹ Chánh Hòa, where myhoa.manager works since the
# reform of 1/7/2025) and CAMPAIGN (Vĩnh Long 2026–2030) from the demo data.
demo_ids() {
    local base=$1 token=$2
    COMMUNE=$(curl -sS --max-time 30 "$base/organizations?q=my%20chanh%20hoa" -H "Authorization: Bearer $token" | jq -er '.items[0].id')
    CAMPAIGN=$(curl -sS --max-time 30 "$base/campaigns?q=vinh%20long" -H "Authorization: Bearer $token" | jq -er '.items[0].id')
}

# pledge_body TITLE [PADDING]: a valid pledge of Mỹ Chánh Hòa for 2026; PADDING spaces are added
# inside the JSON (insignificant whitespace) to make the body as large as wanted.
pledge_body() {
    local title=$1 padding=${2:-0}
    printf '{"campaign_id":"%s","organization_id":"%s","year":2026,"kind":"target","field":"giam_ngheo","title":"%s","target_value":1,"target_unit":"%%","deadline":"2026-12-31"%*s}' \
        "$CAMPAIGN" "$COMMUNE" "$title" "$padding" ''
}

uuid() {
    cat /proc/sys/kernel/random/uuid
}
