# shellcheck shell=bash
# Shared by the administrator scripts in scripts/admin/: the environment, the token file, and
# one curl wrapper that stops the script on any non-2xx answer. Source it; it runs nothing by
# itself. Needs curl and jq.
#
# Environment (see scripts/admin/README.md):
#   THIDUA_URL         base URL of the service, without /api/v1 (required),
#                      e.g. https://thidua.example.gov.vn or http://127.0.0.1:8080
#   THIDUA_TOKEN_FILE  where login.sh keeps the tokens (default:
#                      ${XDG_CONFIG_HOME:-~/.config}/thidua/token.json, created with mode 600).
#                      The access token (15 min) is refreshed from it automatically; the refresh
#                      token lasts THIDUA_REFRESH_TOKEN_TTL_DAYS (30 days by default).
#   THIDUA_CURL_OPTS   extra curl options, split on spaces (e.g. "--cacert /etc/ssl/gov-ca.pem")

thidua_die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

for thidua_tool in curl jq; do
    command -v "$thidua_tool" >/dev/null 2>&1 || thidua_die "$thidua_tool is required (apt-get install $thidua_tool)"
done
unset thidua_tool

[[ -n "${THIDUA_URL:-}" ]] || thidua_die "THIDUA_URL is not set (the service's base URL, e.g. http://127.0.0.1:8080)"
THIDUA_URL=${THIDUA_URL%/}
THIDUA_TOKEN_FILE=${THIDUA_TOKEN_FILE:-${XDG_CONFIG_HOME:-$HOME/.config}/thidua/token.json}
read -r -a thidua_curl_opts <<<"${THIDUA_CURL_OPTS:-}"

# Scratch files of this script, removed when it exits.
thidua_scratch=$(mktemp -d)
trap 'rm -rf "$thidua_scratch"' EXIT

# thidua_curl METHOD PATH OUTPUT [BODY_FILE] [HEADER...] — runs one request against
# $THIDUA_URL$PATH, writes the body to OUTPUT and prints the status code. Headers and bodies go
# through files, never the command line, so tokens and passwords do not show up in `ps`.
thidua_curl() {
    local method=$1 path=$2 output=$3 body=${4:-}
    shift 4 || shift $#
    local headers="$thidua_scratch/headers"
    : >"$headers"
    local header
    for header in "$@"; do
        printf '%s\n' "$header" >>"$headers"
    done
    local args=(-sS -X "$method" -o "$output" -w '%{http_code}' -H "@$headers")
    if [[ -n "$body" ]]; then
        args+=(--data-binary "@$body")
    fi
    curl "${thidua_curl_opts[@]}" "${args[@]}" "$THIDUA_URL$path" || thidua_die "$method $path: no answer from $THIDUA_URL"
}

# thidua_fail METHOD PATH STATUS BODY_FILE — prints the problem (problem+json when it is one)
# and stops.
thidua_fail() {
    local method=$1 path=$2 status=$3 body=$4
    printf 'error: %s %s answered %s\n' "$method" "$path" "$status" >&2
    if jq . "$body" >&2 2>/dev/null; then
        :
    else
        cat "$body" >&2
        printf '\n' >&2
    fi
    exit 1
}

# thidua_save_tokens RESPONSE_FILE USERNAME — keeps a token response (mode 600) with its expiry.
thidua_save_tokens() {
    local response=$1 username=$2
    mkdir -p "$(dirname "$THIDUA_TOKEN_FILE")"
    local now
    now=$(date +%s)
    (
        umask 077
        jq --arg url "$THIDUA_URL" --arg username "$username" --argjson now "$now" \
            '{url: $url, username: $username, access_token, refresh_token,
              expires_at: ($now + .expires_in)}' "$response" >"$THIDUA_TOKEN_FILE.tmp"
    )
    mv "$THIDUA_TOKEN_FILE.tmp" "$THIDUA_TOKEN_FILE"
}

# thidua_access_token — prints a valid access token from the token file, refreshing it (and
# rotating the refresh token) when it expires within 60 s. The refresh holds a lock on the file:
# two scripts refreshing at once would reuse one refresh token, which revokes both.
thidua_access_token() {
    [[ -r "$THIDUA_TOKEN_FILE" ]] || thidua_die "no token in $THIDUA_TOKEN_FILE: run scripts/admin/login.sh first"
    local url
    url=$(jq -r .url "$THIDUA_TOKEN_FILE")
    [[ "$url" == "$THIDUA_URL" ]] || thidua_die "$THIDUA_TOKEN_FILE holds a token of $url, not $THIDUA_URL: run login.sh again"
    exec {thidua_lock}>"$THIDUA_TOKEN_FILE.lock"
    flock "$thidua_lock"
    local expires_at now
    expires_at=$(jq -r .expires_at "$THIDUA_TOKEN_FILE")
    now=$(date +%s)
    if ((now + 60 >= expires_at)); then
        local request="$thidua_scratch/refresh.json" response="$thidua_scratch/refreshed.json" status
        jq '{grant_type: "refresh_token", refresh_token}' "$THIDUA_TOKEN_FILE" >"$request"
        status=$(thidua_curl POST /api/v1/auth/token "$response" "$request" 'Content-Type: application/json')
        if [[ "$status" != 2* ]]; then
            printf 'the saved session has ended; run scripts/admin/login.sh again\n' >&2
            thidua_fail POST /api/v1/auth/token "$status" "$response"
        fi
        thidua_save_tokens "$response" "$(jq -r .username "$THIDUA_TOKEN_FILE")"
    fi
    flock -u "$thidua_lock"
    exec {thidua_lock}>&-
    jq -er .access_token "$THIDUA_TOKEN_FILE"
}

# api METHOD PATH [JSON] — an authenticated JSON request; prints the response body. Any non-2xx
# answer prints the problem and stops the script. A POST carries a fresh Idempotency-Key (or
# $THIDUA_IDEMPOTENCY_KEY when set), so a retried request is not applied twice where the
# service supports it.
api() {
    local method=$1 path=$2 json=${3:-}
    local token body="" response="$thidua_scratch/response" status
    token=$(thidua_access_token)
    local headers=("Authorization: Bearer $token" 'Accept: application/json')
    if [[ -n "$json" ]]; then
        body="$thidua_scratch/body.json"
        printf '%s' "$json" >"$body"
        headers+=('Content-Type: application/json')
    fi
    if [[ "$method" == POST ]]; then
        headers+=("Idempotency-Key: ${THIDUA_IDEMPOTENCY_KEY:-$(cat /proc/sys/kernel/random/uuid)}")
    fi
    status=$(thidua_curl "$method" "$path" "$response" "$body" "${headers[@]}")
    [[ "$status" == 2* ]] || thidua_fail "$method" "$path" "$status" "$response"
    cat "$response"
}

# api_download PATH ACCEPT OUTPUT — an authenticated GET saved to OUTPUT (exports).
api_download() {
    local path=$1 accept=$2 output=$3
    local token status
    token=$(thidua_access_token)
    status=$(thidua_curl GET "$path" "$output.part" "" "Authorization: Bearer $token" "Accept: $accept")
    [[ "$status" == 2* ]] || thidua_fail GET "$path" "$status" "$output.part"
    mv "$output.part" "$output"
}

# urlencode TEXT — for query parameters.
urlencode() {
    jq -rn --arg value "$1" '$value | @uri'
}

# is_uuid TEXT
is_uuid() {
    [[ "$1" =~ ^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$ ]]
}
