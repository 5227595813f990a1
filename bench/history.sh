#!/usr/bin/env bash
# Overviews after a restructuring (docs/benchmarking.md): a new province's overview of a year
# before the reform, read on that year's structure (its three predecessors' subtrees), against
# today's overview of a province no restructuring touched, side by side and interleaved over
# BENCH_RUNS runs at the service's pool size (issue: "at most twice today's overview of a
# province"). The all-years overview of the new province (every year on its own structure,
# summed) is recorded too, and every other aggregate of AGGREGATE_SCENARIOS (bench/lib.sh) over
# that year, at the new province and at untouched ones. Writes the section "## History after a
# restructuring" of the report.
#
#   bench/history.sh     # its own database: 10 000 organizations, 300 000 pledges (2020–2025),
#                        # then one restructuring on 2025-07-01 merging three provinces into one
#
# Environment: BENCH_HISTORY_DB (thidua_bench_history), BENCH_HISTORY_ORGS (10000),
# BENCH_HISTORY_PLEDGES (300000), BENCH_HISTORY_PORT (18092), BENCH_HISTORY_SKIP_BUILD, and
# from bench/lib.sh BENCH_RUNS (3), BENCH_SECONDS (10), BENCH_WORKERS, BENCH_SEED, BENCH_PG_URL,
# BENCH_REPORT (docs/benchmarks.md). Outputs go to bench/out/history/.
set -euo pipefail

export BENCH_DB=${BENCH_HISTORY_DB:-thidua_bench_history}
export BENCH_ORGS=${BENCH_HISTORY_ORGS:-10000}
export BENCH_PLEDGES=${BENCH_HISTORY_PLEDGES:-300000}
export BENCH_NOMINATIONS=$((BENCH_PLEDGES / 5))
export BENCH_OUT=bench/out/history
export BENCH_PORT=${BENCH_HISTORY_PORT:-18092}
source "$(dirname "$0")/lib.sh"
RUNS=${BENCH_RUNS:-3}
SECONDS_PER_RUN=${BENCH_SECONDS:-10}
PRE_REFORM_YEAR=2024

install_tools
[ -n "${BENCH_HISTORY_SKIP_BUILD:-}" ] || build_release
prepare_data
start_service
refresh_token

# The reform: the first three provinces merge into a new one under the root on 2025-07-01
# (their communes continue under it), through POST /restructurings like any client.
if [ "$(psql_bench -c "SELECT count(*) FROM organizations WHERE code = 'REFORM-$SEED'")" = 0 ]; then
  # Three provinces whose communes have distinct names (real names repeat across provinces,
  # and one parent takes one child of a name).
  merged=()
  declare -A taken=()
  while read -r province && [ "${#merged[@]}" -lt 3 ]; do
    mapfile -t names < <(psql_bench -c "SELECT name FROM organizations WHERE parent_id = '$province'" </dev/null)
    clash=""
    for name in "${names[@]}"; do [ -z "${taken[$name]:-}" ] || clash=1; done
    [ "$(printf '%s\n' "${names[@]}" | sort | uniq -d | wc -l)" = 0 ] || clash=1
    [ -z "$clash" ] || continue
    for name in "${names[@]}"; do taken[$name]=1; done
    merged+=("$province")
  done < "$OUT/province.txt"
  body=$(jq -n --arg a "${merged[0]}" --arg b "${merged[1]}" --arg c "${merged[2]}" \
    --arg root "$ROOT_ID" --arg code "REFORM-$SEED" '{effective_on: "2025-07-01",
      legal_basis: "Benchmark: three provinces into one", steps: [{op: "merge",
      from: [{id: $a}, {id: $b}, {id: $c}], into: {ref: "new", name: "Tỉnh Hợp Nhất (benchmark)",
      kind: "province", code: $code, parent: {id: $root}}}]}')
  log "applying the restructuring (three provinces into one)"
  started=$SECONDS
  curl -sS --fail-with-body -X POST "$BASE/api/v1/restructurings" \
    -H "Authorization: Bearer $(cat "$OUT/token")" -H 'Content-Type: application/json' \
    -H "Idempotency-Key: bench-history-$(md5sum <<<"$body" | cut -c1-16)" -d "$body" > "$OUT/restructuring.json" \
    || { cat "$OUT/restructuring.json" >&2; exit 1; }
  echo "$((SECONDS - started))" > "$OUT/restructuring-seconds.txt"
fi
NEW_ID=$(psql_bench -c "SELECT id FROM organizations WHERE code = 'REFORM-$SEED'")
# Provinces no restructuring touched: the current ones other than the new one.
psql_bench -c "SELECT id FROM organizations WHERE depth = 1 AND valid_to IS NULL
    AND code <> 'REFORM-$SEED' AND path LIKE '$ROOT_PATH%' ORDER BY id" > "$OUT/untouched.txt"
for _ in $(seq 1 120); do
  [ "$(psql_bench -c "SELECT count(*) FROM tally_deltas")" = 0 ] && break
  sleep 1
done

RESULTS="$OUT/results.tsv"
: > "$RESULTS"
# measure NAME PATH [IDS]: one wrk run at the pool size; records its p50 and req/s.
measure() {
  local name=$1 path=$2 ids=${3:-} file="$OUT/$1.$RUN.wrk.txt"
  refresh_token
  BENCH_TOKEN_FILE="$OUT/token" BENCH_PATH="$path" BENCH_IDS="$ids" wrk -t 2 -c "$POOL" \
    -d "${SECONDS_PER_RUN}s" --timeout 30s --latency -s bench/get.lua "$BASE" > "$file" 2>&1 || true
  local p50 rps non2xx
  p50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$file")")
  rps=$(awk '/^Requests\/sec/ {print $2}' "$file")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$file")
  printf '%s\t%s\t%s\t%s\t%s\n' "$RUN" "$name" "$p50" "${rps:-0}" "${non2xx:-0}" >> "$RESULTS"
  log "$(printf '%-14s run %s: p50 %8s ms  %8s req/s  non-2xx %s' "$name" "$RUN" "$p50" "${rps:-0}" "${non2xx:-0}")"
}
for RUN in $(seq 1 "$RUNS"); do
  measure today "/api/v1/stats/overview?organization_id={id}" "$OUT/untouched.txt"
  measure history "/api/v1/stats/overview?organization_id=$NEW_ID&year=$PRE_REFORM_YEAR"
  measure all_years "/api/v1/stats/overview?organization_id=$NEW_ID"
  # Every other aggregate over the year before the reform: at a province no restructuring
  # touched, and at the new province (its predecessors' subtrees as they stood).
  for entry in $AGGREGATE_SCENARIOS; do
    IFS=: read -r name endpoint query <<<"$entry"
    measure "today_$name" "/api/v1/stats/$endpoint?organization_id={id}&year=$PRE_REFORM_YEAR${query:+&$query}" \
      "$OUT/untouched.txt"
    measure "history_$name" "/api/v1/stats/$endpoint?organization_id=$NEW_ID&year=$PRE_REFORM_YEAR${query:+&$query}"
  done
done

median() { awk -F'\t' -v n="$1" -v c="$2" '$2 == n {print $c}' "$RESULTS" | sort -g \
  | awk '{v[NR] = $1} END {if (NR == 0) print "–"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b + 0 == 0) print "–"; else printf "%.2f", a / b}'; }
today=$(median today 3)
history=$(median history 3)
all_years=$(median all_years 3)
history_ratio=$(ratio "$history" "$today")
all_ratio=$(ratio "$all_years" "$today")
verdict=$(awk -v r="$history_ratio" 'BEGIN {print (r + 0 <= 2 ? "met" : "NOT met")}')
failures=$(awk -F'\t' '{s += $5} END {print s + 0}' "$RESULTS")
section=$(mktemp)
{
  echo "## History after a restructuring"
  echo
  echo "bench/history.sh, $(date -u +%Y-%m-%d): $DATASET; one restructuring on 2025-07-01 merging three provinces"
  echo "into one (applied over HTTP in $(cat "$OUT/restructuring-seconds.txt" 2>/dev/null || echo '?') s). Medians of $RUNS interleaved runs of ${SECONDS_PER_RUN} s at $POOL connections,"
  echo "release build, THIDUA_WORKERS=$WORKERS; non-2xx answers: $failures."
  echo
  echo "| scenario | p50 ms | req/s | ÷ today's province overview | goal |"
  echo "|---|---|---|---|---|"
  echo "| today's overview of a province no restructuring touched (kept overviews) | $today | $(median today 4) | 1 | |"
  echo "| the new province over $PRE_REFORM_YEAR (its predecessors' subtrees as they stood) | $history | $(median history 4) | $history_ratio | ≤ 2 ($verdict) |"
  echo "| the new province over all years (each year on its own structure, summed) | $all_years | $(median all_years 4) | $all_ratio | (recorded) |"
  echo
  echo "Every other aggregate over $PRE_REFORM_YEAR: a province no restructuring touched, and the new"
  echo "province (its predecessors' subtrees as they stood in $PRE_REFORM_YEAR), same medians."
  echo
  echo "| aggregate over $PRE_REFORM_YEAR | untouched province p50 ms | req/s | new province p50 ms | req/s | new ÷ untouched (p50) | goal |"
  echo "|---|---|---|---|---|---|---|"
  for entry in $AGGREGATE_SCENARIOS; do
    IFS=: read -r name endpoint query <<<"$entry"
    a=$(median "today_$name" 3)
    b=$(median "history_$name" 3)
    r=$(ratio "$b" "$a")
    v=$(awk -v r="$r" 'BEGIN {print (r + 0 <= 2 ? "met" : "NOT met")}')
    echo "| /stats/$endpoint${query:+?$query} | $a | $(median "today_$name" 4) | $b | $(median "history_$name" 4) | $r | ≤ 2 ($v) |"
  done
} > "$section"
cat "$section"
put_section "$REPORT" "History after a restructuring" "$section"
rm -f "$section"
