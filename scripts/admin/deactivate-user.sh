#!/usr/bin/env bash
# Deactivates (disables) a user: they can no longer log in, and every refresh token they hold is
# revoked at once; an access token they already have stops working when it expires (at most
# THIDUA_ACCESS_TOKEN_TTL_SECONDS, 15 minutes). History and audit events stay. Prints the user.
#
#   scripts/admin/deactivate-user.sh USERNAME_OR_ID
#
# Environment:
#   THIDUA_URL, THIDUA_TOKEN_FILE  as for every script (log in first with login.sh)
set -euo pipefail
# shellcheck source=scripts/admin/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

(($# == 1)) || thidua_die "usage: $0 USERNAME_OR_ID"
user=$1
if is_uuid "$user"; then
    id=$user
else
    id=$(api GET "/api/v1/users?q=$(urlencode "$user")&limit=200" |
        jq -r --arg username "$user" \
            '[.items[] | select((.username | ascii_downcase) == ($username | ascii_downcase))][0].id // empty')
    [[ -n "$id" ]] || thidua_die "no user named $user (among those you may see)"
fi
api PATCH "/api/v1/users/$id" '{"disabled": true}' | jq '{id, username, display_name, disabled}'
