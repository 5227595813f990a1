#!/usr/bin/env bash
# Creates a user with one membership (a role in an organization and its whole subtree) and
# prints the new user as JSON.
#
#   THIDUA_NEW_PASSWORD='…' scripts/admin/create-user.sh myhoa.canbo "Nguyễn Thị Hoà" ORG_ID manager
#
# Arguments: USERNAME DISPLAY_NAME ORGANIZATION_ID ROLE (admin, manager, reviewer or member).
#
# Environment:
#   THIDUA_URL, THIDUA_TOKEN_FILE  as for every script (log in first with login.sh)
#   THIDUA_NEW_PASSWORD            the user's first password (8–128 characters); when unset a
#                                  random one is generated and printed once on standard error.
#                                  It is never put on a command line.
set -euo pipefail
# shellcheck source=scripts/admin/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

(($# == 4)) || thidua_die "usage: $0 USERNAME DISPLAY_NAME ORGANIZATION_ID ROLE"
username=$1 display_name=$2 organization_id=$3 role=$4
is_uuid "$organization_id" || thidua_die "ORGANIZATION_ID must be an organization's id (UUID), not $organization_id"
case "$role" in
admin | manager | reviewer | member) ;;
*) thidua_die "ROLE must be admin, manager, reviewer or member, not $role" ;;
esac

password=${THIDUA_NEW_PASSWORD:-}
if [[ -z "$password" ]]; then
    password=$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')
    printf 'first password of %s (give it to them, it is not shown again): %s\n' "$username" "$password" >&2
fi

body=$(jq -n --arg username "$username" --arg display_name "$display_name" \
    --arg password "$password" --arg organization_id "$organization_id" --arg role "$role" \
    '{username: $username, display_name: $display_name, password: $password,
      memberships: [{organization_id: $organization_id, role: $role}]}')
api POST /api/v1/users "$body" | jq .
