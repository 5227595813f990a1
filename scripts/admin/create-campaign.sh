#!/usr/bin/env bash
# Creates a campaign (phong trào thi đua) with its fields and prints it as JSON.
#
#   scripts/admin/create-campaign.sh [--directive TEXT] [--vision-year YEAR] [--description TEXT] \
#       CODE NAME OWNER_ORGANIZATION_ID STARTS_ON ENDS_ON FIELD...
#
#   scripts/admin/create-campaign.sh --directive "Chỉ thị 01-CT/TU" --vision-year 2030 \
#       DONG-KHOI-MOI "Đồng khởi mới" "$BEN_TRE" 2020-01-01 2025-12-31 \
#       "xay_dung_dang=Xây dựng Đảng" "nong_thon_moi=Nông thôn mới"
#
# CODE: letters, digits, `_`, `-` (unique, never changes). Dates are YYYY-MM-DD. Each FIELD is
# `code=Name` (code: a-z, 0-9, `_`); pledges and nominations name a field by its code.
#
# Environment:
#   THIDUA_URL, THIDUA_TOKEN_FILE  as for every script (log in first with login.sh)
set -euo pipefail
# shellcheck source=scripts/admin/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage="usage: $0 [--directive TEXT] [--vision-year YEAR] [--description TEXT] CODE NAME OWNER_ORGANIZATION_ID STARTS_ON ENDS_ON FIELD..."
directive='' vision_year='' description=''
while (($# > 0)); do
    case "$1" in
    --directive) directive=${2:?$usage}; shift 2 ;;
    --vision-year) vision_year=${2:?$usage}; shift 2 ;;
    --description) description=${2:?$usage}; shift 2 ;;
    --) shift; break ;;
    -*) thidua_die "$usage" ;;
    *) break ;;
    esac
done
(($# >= 6)) || thidua_die "$usage"
code=$1 name=$2 owner=$3 starts_on=$4 ends_on=$5
shift 5
is_uuid "$owner" || thidua_die "OWNER_ORGANIZATION_ID must be an organization's id (UUID), not $owner"
[[ -z "$vision_year" || "$vision_year" =~ ^[0-9]{4}$ ]] || thidua_die "--vision-year must be a year"

campaign_fields='[]'
for field in "$@"; do
    [[ "$field" == *=* ]] || thidua_die "FIELD must be code=Name, not $field"
    campaign_fields=$(jq -c --arg code "${field%%=*}" --arg name "${field#*=}" '. + [{code: $code, name: $name}]' <<<"$campaign_fields")
done

body=$(jq -n --arg code "$code" --arg name "$name" --arg owner "$owner" \
    --arg starts_on "$starts_on" --arg ends_on "$ends_on" --argjson fields "$campaign_fields" \
    --arg directive "$directive" --arg vision_year "$vision_year" --arg description "$description" \
    '{code: $code, name: $name, owner_organization_id: $owner, starts_on: $starts_on,
      ends_on: $ends_on, fields: $fields}
     + (if $directive == "" then {} else {directive: $directive} end)
     + (if $vision_year == "" then {} else {vision_year: ($vision_year | tonumber)} end)
     + (if $description == "" then {} else {description: $description} end)')
api POST /api/v1/campaigns "$body" | jq .
