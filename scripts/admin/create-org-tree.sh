#!/usr/bin/env bash
# Creates an organization subtree from a CSV file, parents before children, and prints the id
# of every row as CSV (`ref,id`) on standard output.
#
#   scripts/admin/create-org-tree.sh tree.csv > ids.csv
#
# The CSV has a header line and the columns `ref,parent,kind,name,code`:
#   ref     a name for the row, unique in the file, that later rows use as their `parent`
#   parent  the `ref` of an earlier row, or the id (UUID) of an existing organization, or empty:
#           then $THIDUA_PARENT_ID, or a new root (administrators only) when that is unset
#   kind    province, district, commune, ward, hamlet, agency, party_committee, party_cell,
#           association, school, enterprise or other
#   name    the official name (NFC; search ignores diacritics)
#   code    optional official code, unique across the tree
# Fields may be double-quoted ("Xã Mỹ Hòa, Ba Tri"; "" for a quote); no field spans lines. A
# UTF-8 BOM and CRLF line ends (Excel) are accepted.
#
# Re-running the same file is safe: a row whose parent already has a child of the same kind and
# name is reused, not created again (it prints `exists`).
#
# Environment:
#   THIDUA_URL, THIDUA_TOKEN_FILE  as for every script (log in first with login.sh)
#   THIDUA_PARENT_ID               optional: the existing organization under which rows with an
#                                  empty `parent` are created
set -euo pipefail
# shellcheck source=scripts/admin/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

(($# == 1)) || thidua_die "usage: $0 FILE.csv"
csv=$1
[[ -r "$csv" ]] || thidua_die "cannot read $csv"

# split_csv LINE — fills the array `fields` with the fields of one CSV line.
split_csv() {
    local line=$1 field='' char quoted=0 i
    fields=()
    for ((i = 0; i < ${#line}; i++)); do
        char=${line:i:1}
        if ((quoted)); then
            if [[ "$char" == '"' && "${line:i+1:1}" == '"' ]]; then
                field+='"'
                i=$((i + 1))
            elif [[ "$char" == '"' ]]; then
                quoted=0
            else
                field+=$char
            fi
        elif [[ "$char" == '"' ]]; then
            quoted=1
        elif [[ "$char" == ',' ]]; then
            fields+=("$field")
            field=''
        else
            field+=$char
        fi
    done
    ((quoted == 0)) || thidua_die "line $line_number: unterminated quoted field"
    fields+=("$field")
}

# existing_child PARENT_ID KIND NAME — prints the id of a child with that kind and name, if any.
existing_child() {
    local parent=$1 kind=$2 name=$3 query
    query="kind=${kind}&q=$(urlencode "$name")&limit=200"
    if [[ -n "$parent" ]]; then
        query+="&parent_id=$parent"
    fi
    api GET "/api/v1/organizations?$query" |
        jq -r --arg name "$name" --arg parent "$parent" \
            '[.items[] | select(.name == $name and (.parent_id // "") == $parent)][0].id // empty'
}

declare -A ids=()
line_number=0
created=0
reused=0
printf 'ref,id\n'
while IFS= read -r line || [[ -n "$line" ]]; do
    line_number=$((line_number + 1))
    line=${line%$'\r'}
    if ((line_number == 1)); then
        line=${line#$'\xef\xbb\xbf'}
        split_csv "$line"
        [[ "$(IFS=,; echo "${fields[*]}")" == "ref,parent,kind,name,code" ]] ||
            thidua_die "$csv: the header must be ref,parent,kind,name,code (found: $line)"
        continue
    fi
    [[ -n "${line//[[:space:]]/}" ]] || continue
    split_csv "$line"
    ((${#fields[@]} == 5)) || thidua_die "$csv line $line_number: expected 5 fields, found ${#fields[@]}"
    ref=${fields[0]} parent=${fields[1]} kind=${fields[2]} name=${fields[3]} code=${fields[4]}
    [[ -n "$ref" ]] || thidua_die "$csv line $line_number: empty ref"
    [[ -z "${ids[$ref]:-}" ]] || thidua_die "$csv line $line_number: ref $ref is used twice"
    if [[ -z "$parent" ]]; then
        parent_id=${THIDUA_PARENT_ID:-}
    elif [[ -n "${ids[$parent]:-}" ]]; then
        parent_id=${ids[$parent]}
    elif is_uuid "$parent"; then
        parent_id=$parent
    else
        thidua_die "$csv line $line_number: parent $parent is neither an earlier ref nor an organization id"
    fi
    id=$(existing_child "$parent_id" "$kind" "$name")
    if [[ -n "$id" ]]; then
        printf 'exists: %s (%s)\n' "$name" "$id" >&2
        reused=$((reused + 1))
    else
        body=$(jq -n --arg parent "$parent_id" --arg kind "$kind" --arg name "$name" --arg code "$code" \
            '{kind: $kind, name: $name}
             + (if $parent == "" then {} else {parent_id: $parent} end)
             + (if $code == "" then {} else {code: $code} end)')
        id=$(api POST /api/v1/organizations "$body" | jq -er .id)
        printf 'created: %s (%s)\n' "$name" "$id" >&2
        created=$((created + 1))
    fi
    ids[$ref]=$id
    printf '%s,%s\n' "$ref" "$id"
done <"$csv"
printf '%d created, %d already there\n' "$created" "$reused" >&2
