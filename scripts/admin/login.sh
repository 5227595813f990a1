#!/usr/bin/env bash
# Logs in with the password grant and keeps the tokens in $THIDUA_TOKEN_FILE (mode 600) for the
# other scripts, which refresh the access token from it automatically.
#
#   THIDUA_URL=http://127.0.0.1:8080 THIDUA_USERNAME=admin scripts/admin/login.sh
#
# Environment:
#   THIDUA_URL         base URL of the service (required)
#   THIDUA_USERNAME    the administrator's (or manager's) username (required)
#   THIDUA_PASSWORD    the password; when unset it is read from the terminal without echo
#   THIDUA_TOKEN_FILE  where to keep the tokens (default ${XDG_CONFIG_HOME:-~/.config}/thidua/token.json)
set -euo pipefail
# shellcheck source=scripts/admin/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ -n "${THIDUA_USERNAME:-}" ]] || thidua_die "THIDUA_USERNAME is not set"
password=${THIDUA_PASSWORD:-}
if [[ -z "$password" ]]; then
    [[ -t 0 ]] || thidua_die "THIDUA_PASSWORD is not set and there is no terminal to ask on"
    read -r -s -p "Password of $THIDUA_USERNAME at $THIDUA_URL: " password
    printf '\n' >&2
fi

request="$thidua_scratch/login.json"
response="$thidua_scratch/tokens.json"
(
    umask 077
    jq -n --arg username "$THIDUA_USERNAME" --arg password "$password" \
        '{grant_type: "password", username: $username, password: $password}' >"$request"
)
status=$(thidua_curl POST /api/v1/auth/token "$response" "$request" 'Content-Type: application/json')
[[ "$status" == 2* ]] || thidua_fail POST /api/v1/auth/token "$status" "$response"
thidua_save_tokens "$response" "$THIDUA_USERNAME"

me=$(api GET /api/v1/me)
printf 'logged in to %s as %s (%s); tokens kept in %s\n' "$THIDUA_URL" \
    "$(jq -r .username <<<"$me")" \
    "$(jq -r '[.memberships[] | "\(.role) of \(.organization_name)"] | join(", ")' <<<"$me")" \
    "$THIDUA_TOKEN_FILE"
