#!/usr/bin/env bash
# Exports the pledges of an organization and its whole subtree to a CSV file (UTF-8 with BOM,
# opens in Excel) or, with --xlsx, an Excel workbook. Same visibility as the API: a manager
# exports only inside their subtree.
#
#   scripts/admin/export-pledges.sh [--campaign ID] [--year YEAR] [--status STATUS] \
#       [--unit-only] [--xlsx] ORGANIZATION_ID [OUTPUT_FILE]
#
# OUTPUT_FILE defaults to pledges-ORGANIZATION_ID.csv (or .xlsx). --unit-only leaves out the
# units below the organization. STATUS: draft, submitted, approved, assessed, returned,
# withdrawn.
#
# Environment:
#   THIDUA_URL, THIDUA_TOKEN_FILE  as for every script (log in first with login.sh)
set -euo pipefail
# shellcheck source=scripts/admin/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage="usage: $0 [--campaign ID] [--year YEAR] [--status STATUS] [--unit-only] [--xlsx] ORGANIZATION_ID [OUTPUT_FILE]"
query='' subtree=true format=csv
accept='text/csv'
while (($# > 0)); do
    case "$1" in
    --campaign) query+="&campaign_id=$(urlencode "${2:?$usage}")"; shift 2 ;;
    --year) query+="&year=$(urlencode "${2:?$usage}")"; shift 2 ;;
    --status) query+="&status=$(urlencode "${2:?$usage}")"; shift 2 ;;
    --unit-only) subtree=false; shift ;;
    --xlsx)
        format=xlsx
        accept='application/vnd.openxmlformats-officedocument.spreadsheetml.sheet'
        shift
        ;;
    --) shift; break ;;
    -*) thidua_die "$usage" ;;
    *) break ;;
    esac
done
(($# == 1 || $# == 2)) || thidua_die "$usage"
organization_id=$1
is_uuid "$organization_id" || thidua_die "ORGANIZATION_ID must be an organization's id (UUID), not $organization_id"
output=${2:-pledges-$organization_id.$format}

api_download "/api/v1/pledges?organization_id=$organization_id&subtree=$subtree$query" "$accept" "$output"
if [[ "$format" == csv ]]; then
    rows=$(($(wc -l <"$output") - 1))
    printf 'exported %d pledges to %s\n' "$rows" "$output" >&2
else
    printf 'exported to %s\n' "$output" >&2
fi
