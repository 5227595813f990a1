#!/usr/bin/env bash
# The benchmarks of docs/benchmarking.md. Every figure is a ratio against the physical limit,
# measured side by side in the same run: `pgbench -S -M prepared` over TCP at the service's pool
# size (the cheapest single-row read PostgreSQL offers) for reads, lists and aggregates; pgbench
# running the minimal transaction that stores the same rows (bench/pgbench/create.sql) for
# creation; a bare actix-web hello world (bench/hello.rs) for the per-request overhead. Never
# the handler's own SQL: that hides slow SQL. The median of BENCH_RUNS interleaved runs goes into
# one Markdown table, printed and written to docs/benchmarks.md.
#
#   bench/run.sh                                   # full size: 10 000 orgs, 1 000 000 pledges
#   BENCH_DB=thidua_bench_quick BENCH_REPORT=bench/out/quick.md BENCH_ORGS=2000 \
#     BENCH_PLEDGES=200000 BENCH_SECONDS=3 BENCH_RUNS=1 bench/run.sh    # quick, keeps the big set
#
# Environment: BENCH_ORGS (10000), BENCH_PLEDGES (1000000), BENCH_NOMINATIONS (pledges / 5),
# BENCH_PERSONS (pledges / 10),
# BENCH_SEED (1), BENCH_RUNS (3), BENCH_SECONDS (10), BENCH_CONNECTIONS (wrk connections for the
# throughput scenarios, 16), BENCH_DB (thidua_bench), BENCH_PG_URL (postgres://postgres@127.0.0.1:5432),
# BENCH_WORKERS (the service's THIDUA_WORKERS, 1), BENCH_RUST_LOG (the service's RUST_LOG;
# default: its own default, one info line per request), BENCH_REF_DB (the reference's pgbench
# database, <BENCH_DB>_pgbench, scale BENCH_REF_SCALE 10), BENCH_HELLO_PORT (18091),
# BENCH_BIN (a release binary built elsewhere, e.g. another commit's for a before/after; not
# rebuilt), BENCH_XACT_WAIT (seconds an idle backend may hold its commit counters, 11; 0 skips the
# transactions-per-request figure), BENCH_AGGREGATES (which /stats/* scenarios: all, or none),
# BENCH_REPORT (where the table goes, docs/benchmarks.md), BENCH_ONLY (scenario names to run,
# space-separated, e.g. "read list_root overview_root"; the others show "–"; "exports" is
# bench/exports.sh, run after the table into its own section of the report).
# The database BENCH_DB is the benchmark's own: it is dropped and regenerated when it holds a tree
# of another size. Outputs (logs, id lists, the JWT key) go to bench/out/ (gitignored).
set -euo pipefail

source "$(dirname "$0")/lib.sh"
RUNS=${BENCH_RUNS:-3}
SECONDS_PER_RUN=${BENCH_SECONDS:-10}
CONNECTIONS=${BENCH_CONNECTIONS:-16}
XACT_WAIT=${BENCH_XACT_WAIT:-11}
AGGREGATES=${BENCH_AGGREGATES:-all}
REF_DB=${BENCH_REF_DB:-${DB}_pgbench}
REF_SCALE=${BENCH_REF_SCALE:-10}
HELLO_PORT=${BENCH_HELLO_PORT:-18091}
HELLO_BIN=target/release/examples/hello
RESULTS="$OUT/results.tsv"

# --- measurements -----------------------------------------------------------------------------
record() { printf '%s\t%s\t%s\t%s\n' "$RUN" "$1" "$2" "$3" >> "$RESULTS"; }
wanted() { [ -z "${BENCH_ONLY:-}" ] || [[ " $BENCH_ONLY " == *" $1 "* ]]; }

xact_commit() { psql_bench -c "SELECT xact_commit FROM pg_stat_database WHERE datname = '$DB'"; }
# "pid ticks" of the database's client backends (the service's pool while wrk runs).
backend_ticks() {
  local pid
  for pid in $(psql_bench -c "SELECT pid FROM pg_stat_activity WHERE datname = '$DB'
      AND backend_type = 'client backend' AND pid <> pg_backend_pid()"); do
    echo "$pid $(ticks_of "$pid")"
  done
}

# Waits until no query of the database is running (an aggregate wrk left behind, say).
QUIESCE_POLLS=0
quiesce() {
  local _
  for _ in $(seq 1 120); do
    QUIESCE_POLLS=$((QUIESCE_POLLS + 1))
    [ "$(psql_bench -c "SELECT count(*) FROM pg_stat_activity WHERE datname = '$DB'
        AND state = 'active' AND pid <> pg_backend_pid()")" = 0 ] && return 0
    sleep 0.5
  done
}

# scenario NAME CONNECTIONS PG-NAME PG-XACTS -- WRK-ARGS... ; the pgbench partner's options in
# PG_ARGS (run on the benchmark's database when PG-NAME is set). One wrk run against the service
# (or the process TARGET_PID, e.g. the hello world), then its partner if any.
# Transactions per request (unless BENCH_XACT_WAIT=0 or NO_XACT=1): backends publish their
# commit counters when idle, and an idle backend can hold them for 10 s, so the second reading
# of pg_stat_database waits until BENCH_XACT_WAIT s after the service went idle (the partner
# runs meanwhile) and the partner's commits (PG-XACTS per script execution, plus one per
# connection) are subtracted. Costs are divided by the requests the service handled (its log
# lines), which includes those wrk stopped waiting for.
scenario() {
  local name=$1 connections=$2 pg_name=$3 pg_xacts=$4; shift 5
  wanted "$name" || return 0
  local pid=${TARGET_PID:-$SERVICE_PID} file="$OUT/$name.$RUN.wrk.txt" xact=1
  { [ "$XACT_WAIT" = 0 ] || [ -n "${NO_XACT:-}" ] || [ "$pid" != "$SERVICE_PID" ]; } && xact=""
  refresh_token
  quiesce
  echo 5 > "/proc/$pid/clear_refs" 2>/dev/null || true # restart VmHWM at the current RSS
  local xact_before service_before pg_before served_before service_after pg_after served_after idle_since
  xact_before=$(xact_commit)
  service_before=$(ticks_of "$pid")
  pg_before=$(backend_ticks)
  served_before=$(wc -l < "$OUT/service.log")
  BENCH_TOKEN_FILE="$OUT/token" wrk -t 2 -c "$connections" -d "${SECONDS_PER_RUN}s" \
    --timeout 30s --latency "$@" > "$file" 2>&1 || true
  # Requests wrk gave up on still run in the service: let them finish and count them too.
  QUIESCE_POLLS=0
  quiesce
  service_after=$(ticks_of "$pid")
  pg_after=$(backend_ticks)
  served_after=$(wc -l < "$OUT/service.log")
  idle_since=$(date +%s.%N)
  local requests served rps p50 p99 non2xx errors hwm pg_ticks
  requests=$(awk '/requests in/ {print $1}' "$file"); requests=${requests:-0}
  # Requests the service handled (one log line each), or wrk's count when it logs less.
  served=$((served_after - served_before))
  [ "$pid" = "$SERVICE_PID" ] || served=0
  [ "$served" -ge "$requests" ] || served=$requests
  rps=$(awk '/^Requests\/sec/ {print $2}' "$file")
  p50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$file")")
  p99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$file")")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$file"); non2xx=${non2xx:-0}
  errors=$(awk '/Socket errors/ {gsub(",", ""); print $4 + $6 + $8 + $10}' "$file"); errors=${errors:-0}
  hwm=$(awk '/VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$pid/status")
  pg_ticks=$(join -a 2 -e 0 -o 1.2,2.2 <(echo "$pg_before" | sort) <(echo "$pg_after" | sort) \
    | awk '{s += $2 - $1} END {print s + 0}')
  log "$(printf '%-28s run %s: %8s req/s  p50 %9s ms  p99 %9s ms  failures %s' "$name" "$RUN" "${rps:-0}" "$p50" "$p99" "$((non2xx + errors))")"
  PG_PROCESSED=0
  if [ -n "$pg_name" ]; then
    run_pgbench "$pg_name" "$DB_URL" "${PG_ARGS[@]}"
  fi
  if [ -n "$xact" ]; then
    local pause
    pause=$(awk -v e="$idle_since" -v n="$(date +%s.%N)" -v w="$XACT_WAIT" 'BEGIN { w = e + w - n; print (w > 0 ? w : 0) }')
    sleep "$pause"
  fi
  local xact_after
  xact_after=$(xact_commit)
  if [ "$requests" -gt 0 ]; then
    record "$name" svc_rps "$rps"
    record "$name" svc_p50 "$p50"
    record "$name" svc_p99 "$p99"
    if [ -n "$xact" ]; then
      # Our own commits in the window: each psql session commits twice (start-up, query): the
      # first reading, two backend listings and the idle polls.
      local partner=$((2 * (3 + QUIESCE_POLLS)))
      [ -z "$pg_name" ] || partner=$((partner + PG_PROCESSED * pg_xacts + POOL))
      record "$name" xact_per_req "$(awk -v a="$xact_before" -v b="$xact_after" -v n="$served" \
        -v pg="$partner" 'BEGIN {printf "%.2f", (b - a - pg) / n}')"
    fi
    record "$name" svc_cpu_us "$(awk -v t=$((service_after - service_before)) -v n="$served" -v hz="$CLK_TCK" 'BEGIN {printf "%.0f", t * 1e6 / hz / n}')"
    [ "$pid" != "$SERVICE_PID" ] || record "$name" pg_cpu_us "$(awk -v t="$pg_ticks" -v n="$served" -v hz="$CLK_TCK" 'BEGIN {printf "%.0f", t * 1e6 / hz / n}')"
  fi
  [ "$pid" != "$SERVICE_PID" ] || record "$name" svc_rss_mib "$hwm"
  record "$name" failures "$((non2xx + errors))"
}

# run_pgbench NAME DATABASE-URL PGBENCH-ARGS... : pgbench -M prepared at the pool size for
# BENCH_SECONDS, its throughput and its p50/p99 from the per-transaction log.
run_pgbench() {
  local name=$1 url=$2; shift 2
  local file="$OUT/$name.$RUN.pgbench.txt" prefix="$OUT/pgbench_log_$name"
  rm -f "$prefix".*
  pgbench -n -M prepared -c "$POOL" -j 2 -T "$SECONDS_PER_RUN" "$@" -l --log-prefix="$prefix" \
    "$url" > "$file" 2>&1 || true
  local tps latencies p50 p99 failed
  tps=$(awk '/^tps = / {print $3}' "$file")
  PG_PROCESSED=$(awk -F': ' '/actually processed/ {print $2 + 0}' "$file"); PG_PROCESSED=${PG_PROCESSED:-0}
  latencies=$(cat "$prefix".* 2>/dev/null | awk '{print $3}' | sort -n)
  p50=$(echo "$latencies" | awk '{a[NR] = $1} END {if (NR) printf "%.3f", a[int(NR * 0.50) + (NR * 0.50 > int(NR * 0.50))] / 1000}')
  p99=$(echo "$latencies" | awk '{a[NR] = $1} END {if (NR) printf "%.3f", a[int(NR * 0.99) + (NR * 0.99 > int(NR * 0.99))] / 1000}')
  failed=$(grep -c 'aborted\|ERROR' "$file" || true)
  rm -f "$prefix".*
  if [ -n "$tps" ]; then
    record "$name" pg_tps "$tps"
    record "$name" pg_p50 "$p50"
    record "$name" pg_p99 "$p99"
  fi
  record "$name" pg_failures "$failed"
  log "$(printf '%-28s run %s: %8s tps    p50 %9s ms  p99 %9s ms  (pgbench)%s' "$name" "$RUN" "${tps:-0}" "${p50:-?}" "${p99:-?}" "$([ "$failed" = 0 ] || echo "  FAILED, see $file")")"
}

# The physical limit: pgbench's built-in select-only script (one primary-key SELECT of
# pgbench_accounts), prepared, over TCP, at the service's pool size, on its own database.
prepare_reference() {
  local scale
  scale=$(psql_on "$PG_URL/$REF_DB" -c "SELECT count(*) / 100000 FROM pgbench_accounts" 2>/dev/null || echo 0)
  if [ "$scale" != "$REF_SCALE" ]; then
    log "initializing $REF_DB (pgbench -i -s $REF_SCALE)"
    psql_on "$PG_URL/postgres" -c "DROP DATABASE IF EXISTS \"$REF_DB\" WITH (FORCE)" -c "CREATE DATABASE \"$REF_DB\""
    pgbench -i -q -s "$REF_SCALE" "$PG_URL/$REF_DB" >/dev/null 2>&1
  fi
}
reference() {
  wanted ref || return 0
  quiesce
  run_pgbench ref "$PG_URL/$REF_DB" -S
}

# The bare actix-web hello world of bench/hello.rs, one worker, beside the service.
HELLO_PID=""
start_hello() {
  HELLO_BIND="127.0.0.1:$HELLO_PORT" HELLO_WORKERS="$WORKERS" "$HELLO_BIN" > "$OUT/hello.log" 2>&1 &
  HELLO_PID=$!
  for _ in $(seq 1 50); do
    curl -fsS "http://127.0.0.1:$HELLO_PORT/" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  log "the hello world did not start"; exit 1
}
stop_hello() {
  if [ -n "$HELLO_PID" ] && kill -0 "$HELLO_PID" 2>/dev/null; then
    kill "$HELLO_PID"; wait "$HELLO_PID" 2>/dev/null || true
  fi
}
trap 'stop_service; stop_hello' EXIT

# Turns the tally trigger back on and gives the pledges created since $1 (while it was off) their
# deltas, so the tallies equal the raw rows again.
untally_restore() {
  psql_bench -c "ALTER TABLE pledges ENABLE TRIGGER pledges_tally_insert"
  [ -n "${1:-}" ] || return 0
  psql_bench -c "INSERT INTO tally_deltas (organization_path, entity, campaign_id, year, kind, status, result, open_deadline,
                                            field, holder_kind, month, title_name, delta)
    SELECT p.organization_path, 'p', p.campaign_id, p.year, p.kind, p.status, coalesce(p.result, 'none'),
           CASE WHEN r.pledge_is_open(p.status) THEN p.deadline ELSE 'infinity'::date END,
           f.field, f.holder_kind, f.month, f.title_name, count(*)
    FROM pledges AS p JOIN organizations AS o ON o.id = p.organization_id
    CROSS JOIN LATERAL r.pledge_facets(o.kind, p.kind, p.field, p.deadline, p.title_name) AS f
    WHERE p.created_at >= '$1' GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12"
}

# --- the lists' URLs ----------------------------------------------------------------------------
# For each level, up to 20 units of bench_orgs; per unit the first page, the page three cursors
# on (a "later page"), and the first page with the common filters (campaign, year, status). Each
# file holds request paths, one a line, for bench/get.lua (BENCH_PATH="{id}").
LIST_SAMPLE=${BENCH_LIST_SAMPLE:-20}
next_cursor() { python3 -c 'import json, sys; print(json.load(sys.stdin).get("next_cursor") or "")'; }
# Appends to file $2 the page three cursors on from the first page $1, when the list has one.
later_page() {
  local url=$1 cursor _
  for _ in 1 2 3; do
    cursor=$(curl -fsS -H "Authorization: Bearer $(cat "$OUT/token")" "$BASE$url" | next_cursor)
    [ -n "$cursor" ] || break
    url="$1&cursor=$cursor"
  done
  [ "$url" = "$1" ] || echo "$url" >> "$2"
}
prepare_lists() {
  refresh_token
  local level id resource base persons url cursor _
  for level in root province commune; do
    for resource in $LIST_SCENARIOS; do
      : > "$OUT/list_${resource}_$level.txt"
    done
    for id in $(head -n "$LIST_SAMPLE" "$OUT/$level.txt"); do
      base="/api/v1/pledges?organization_id=$id&subtree=true&limit=50"
      echo "$base" >> "$OUT/list_pledges_$level.txt"
      echo "/api/v1/nominations?organization_id=$id&subtree=true&limit=50" >> "$OUT/list_nominations_$level.txt"
      echo "/api/v1/exemplars?organization_id=$id&limit=50" >> "$OUT/list_exemplars_$level.txt"
      persons="/api/v1/persons?organization_id=$id&subtree=true&limit=50"
      echo "$persons" >> "$OUT/list_persons_$level.txt"
      # A name search ("thi": a middle name of most women, as in the generated names).
      echo "$persons&q=thi" >> "$OUT/list_persons_search_$level.txt"
      echo "/api/v1/eligibility/candidates?organization_id=$id&year=2025&title_code=lao_dong_tien_tien&limit=50" \
        >> "$OUT/list_candidates_$level.txt"
      # A title fewer register (chiến sĩ thi đua cơ sở: 15 % of the persons), whose own checks
      # read the person's lao động tiên tiến and initiative.
      echo "/api/v1/eligibility/candidates?organization_id=$id&year=2025&title_code=chien_si_thi_dua_co_so&limit=50" \
        >> "$OUT/list_candidates_cstdcs_$level.txt"
      echo "$base&campaign_id=$CAMPAIGN&year=2024&status=approved" >> "$OUT/list_pledges_filtered_$level.txt"
      later_page "$base" "$OUT/list_pledges_page_$level.txt"
      later_page "$persons" "$OUT/list_persons_page_$level.txt"
    done
  done
  # The change feed (GET /changes): its first page of 50 and the 19 pages that follow it.
  : > "$OUT/changes_pages.txt"
  url="/api/v1/changes?limit=50"
  for _ in $(seq 1 20); do
    echo "$url" >> "$OUT/changes_pages.txt"
    cursor=$(curl -fsS -H "Authorization: Bearer $(cat "$OUT/token")" "$BASE$url" | next_cursor)
    [ -n "$cursor" ] || break
    url="/api/v1/changes?limit=50&after=$cursor"
  done
}
LIST_SCENARIOS="pledges pledges_page pledges_filtered nominations exemplars persons persons_page persons_search candidates candidates_cstdcs"

# The aggregates: AGGREGATE_SCENARIOS (bench/lib.sh). The overview has scenarios of its own
# (kept and computed, with a naive GROUP BY partner).

# Every aggregate of AGGREGATE_SCENARIOS at the three levels, named agg_<name>_<level><suffix>
# (suffix "_computed" for the run with nothing kept).
aggregate_scenarios() {
  [ "$AGGREGATES" = all ] || return 0
  local entry name endpoint query level
  for entry in $AGGREGATE_SCENARIOS; do
    IFS=: read -r name endpoint query <<< "$entry"
    for level in root province commune; do
      BENCH_PATH="/api/v1/stats/$endpoint?organization_id={id}${query:+&$query}" BENCH_IDS="$OUT/$level.txt" NO_XACT=1 \
        scenario "agg_${name}_${level}$1" "$POOL" "" 0 -- -s bench/get.lua "$BASE"
    done
  done
}

run_all() {
  export BENCH_NONCE
  BENCH_NONCE="$(date +%s%N)"
  PG_ARGS=()
  # The physical limit first, then everything measured against it.
  reference
  # HTTP ceiling: the framework alone (bench/hello.rs), then the service's /healthz.
  TARGET_PID=$HELLO_PID scenario hello "$CONNECTIONS" "" 0 -- "http://127.0.0.1:$HELLO_PORT/"
  scenario healthz "$CONNECTIONS" "" 0 -- "$BASE/healthz"
  # read one.
  BENCH_PATH="/api/v1/pledges/{id}" BENCH_IDS="$OUT/pledge_ids.txt" \
    scenario read "$CONNECTIONS" "" 0 -- -s bench/get.lua "$BASE"
  # read one again with as many connections as the aggregates use.
  BENCH_PATH="/api/v1/pledges/{id}" BENCH_IDS="$OUT/pledge_ids.txt" NO_XACT=1 \
    scenario read_pool "$POOL" "" 0 -- -s bench/get.lua "$BASE"
  # lists at every level (request paths prepared by prepare_lists).
  local level resource count entry name endpoint query
  for resource in $LIST_SCENARIOS; do
    for level in root province commune; do
      [ -s "$OUT/list_${resource}_$level.txt" ] || continue
      BENCH_PATH="{id}" BENCH_IDS="$OUT/list_${resource}_$level.txt" \
        NO_XACT=$([ "$resource:$level" = pledges:commune ] || echo 1) \
        scenario "list_${resource}_$level" "$POOL" "" 0 -- -s bench/get.lua "$BASE"
    done
  done
  # the change feed: a page of 50 events, read as a mobile app or a partner does.
  BENCH_PATH="{id}" BENCH_IDS="$OUT/changes_pages.txt" NO_XACT=1 \
    scenario changes "$POOL" "" 0 -- -s bench/get.lua "$BASE"
  # create: one transaction; the partner stores the same rows (create.sql).
  PG_ARGS=(-f bench/pgbench/create.sql -D ncommunes="$NCOMMUNES" -D campaign="$CAMPAIGN"
    -D root="$ROOT_ID" -D admin="$ADMIN_ID" -D body="$(cat bench/pgbench/body.json)")
  BENCH_CAMPAIGN="$CAMPAIGN" BENCH_IDS="$OUT/commune.txt" \
    scenario create "$CONNECTIONS" create 1 -- -s bench/create.lua "$BASE"
  # create without the aggregate machinery (the tally trigger of pledge inserts off), to show
  # what the tallies cost writers; the pledges it creates get their deltas afterwards.
  if wanted create_untallied; then
    local untallied_since
    untallied_since=$(psql_bench -c "SELECT now()")
    psql_bench -c "ALTER TABLE pledges DISABLE TRIGGER pledges_tally_insert"
    PG_ARGS=()
    BENCH_NONCE="$BENCH_NONCE-untallied" BENCH_CAMPAIGN="$CAMPAIGN" BENCH_IDS="$OUT/commune.txt" NO_XACT=1 \
      scenario create_untallied "$CONNECTIONS" "" 0 -- -s bench/create.lua "$BASE" || true
    untally_restore "$untallied_since"
  fi
  # aggregates, with as many connections as the pool (more would only queue for a connection).
  # The overview's partner is the naive GROUP BY over a unit of the same level.
  for level in root province commune; do
    count=$(wc -l < "$OUT/$level.txt")
    PG_ARGS=(-f bench/pgbench/naive.sql -D level="$level" -D nlevel="$count")
    BENCH_PATH="/api/v1/stats/overview?organization_id={id}" BENCH_IDS="$OUT/$level.txt" \
      scenario "overview_$level" "$POOL" "naive_$level" 2 -- -s bench/get.lua "$BASE"
  done
  PG_ARGS=()
  aggregate_scenarios ""
  # The same overviews and aggregates computed on every request: the service restarted keeping
  # none (THIDUA_ANSWER_CACHE_MIB=0), as when the tallies change between any two requests.
  if [ -z "${BENCH_ONLY:-}" ] || [[ " $BENCH_ONLY " == *"_computed "* ]]; then
    stop_service
    ANSWER_CACHE_MIB=0 start_service
    for level in root province commune; do
      BENCH_PATH="/api/v1/stats/overview?organization_id={id}" BENCH_IDS="$OUT/$level.txt" NO_XACT=1 \
        scenario "overview_${level}_computed" "$POOL" "" 0 -- -s bench/get.lua "$BASE"
    done
    aggregate_scenarios _computed
    stop_service
    start_service
  fi
}

# --- report -----------------------------------------------------------------------------------
median() { # median SCENARIO METRIC
  awk -F'\t' -v s="$1" -v m="$2" '$2 == s && $3 == m && $4 != "" {print $4}' "$RESULTS" | sort -g \
    | awk '{a[NR] = $1} END {if (NR == 0) print "–"; else if (NR % 2) print a[(NR + 1) / 2];
      else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2}'
}
total() { awk -F'\t' -v s="$1" -v m="$2" '$2 == s && $3 == m {t += $4} END {print t + 0}' "$RESULTS"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "–" || b == "–" || b + 0 == 0) print "–"; else printf "%.2f", a / b }'; }
fmt0() { awk -v v="$1" 'BEGIN { if (v == "–") print v; else if (v + 0 < 10) printf "%.1f", v; else printf "%.0f", v }'; }
article() { [ "$1" = root ] && echo the || echo a; }
verdict() { # verdict VALUE OP GOAL
  awk -v v="$1" -v op="$2" -v g="$3" 'BEGIN { if (v == "–") print "–";
    else if ((op == ">=" && v + 0 >= g) || (op == "<=" && v + 0 <= g)) print "met"; else print "**not met**" }'
}

row() { # row LABEL SCENARIO PG-SCENARIO RATIO GOAL-TEXT VERDICT
  local s=$2 pg=$3 svc=(– – – – – – – –) pgc=(– – –) failures=0
  if [ -n "$s" ]; then
    svc=("$(fmt0 "$(median "$s" svc_rps)")" "$(median "$s" svc_p50)" "$(median "$s" svc_p99)"
      "$(median "$s" xact_per_req)" "$(median "$s" svc_cpu_us)" "$(median "$s" pg_cpu_us)"
      "$(median "$s" svc_rss_mib)")
    failures=$(total "$s" failures)
  fi
  if [ -n "$pg" ]; then
    pgc=("$(fmt0 "$(median "$pg" pg_tps)")" "$(median "$pg" pg_p50)" "$(median "$pg" pg_p99)")
    failures=$((failures + $(total "$pg" pg_failures)))
  fi
  printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
    "$1" "${svc[0]}" "${svc[1]}" "${svc[2]}" "${pgc[0]}" "${pgc[1]}" "${pgc[2]}" \
    "$4" "$5${6:+ ($6)}" "${svc[3]}" "${svc[4]}" "${svc[5]}" "${svc[6]}" "$failures"
}
# p50_row LABEL SCENARIO GOAL: the scenario's p50 ÷ the reference's p50, against GOAL.
p50_row() {
  local r
  r=$(ratio "$(median "$2" svc_p50)" "$REF_P50")
  row "$1" "$2" "" "$r" "p50 ÷ pgbench -S p50 ≤ $3" "$(verdict "$r" "<=" "$3")"
}

report() {
  local peak level ratio naive resource entry name endpoint query
  REF_P50=$(median ref pg_p50)
  peak=$(awk -F'\t' '$3 == "svc_rss_mib" && $4 > m {m = $4} END {print m + 0}' "$RESULTS")
  {
    echo "# Benchmarks"
    echo
    echo "Written by \`bench/run.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'); [docs/benchmarking.md](benchmarking.md) says what is measured and why."
    echo
    echo "- Machine: $(nproc) cores ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo) memory, $(uname -sr), PostgreSQL $(psql_bench -c 'SHOW server_version' | cut -d' ' -f1) on the same machine; shared with other work, so absolute figures swing, ratios hold."
    echo "- Data set (seed $SEED): $DATASET; $GENERATION."
    echo "- Service: release build, THIDUA_DB_POOL_SIZE=$POOL, THIDUA_WORKERS=$WORKERS, one log line per request${BENCH_RUST_LOG:+ (RUST_LOG=$BENCH_RUST_LOG)}; overviews and aggregates kept while the version of what they read stands (THIDUA_ANSWER_CACHE_MIB=16; the version is still read from the database on every request), except in the rows marked computed (=0)."
    echo "- Reference (the physical limit, same run): \`pgbench -S -M prepared -c $POOL -j 2\` on its own database (scale $REF_SCALE); create: pgbench running the minimal transaction that stores the same rows (bench/pgbench/create.sql); /healthz: the bare actix-web hello world of bench/hello.rs, $WORKERS worker(s)."
    echo "- Load: wrk -t2 -c$CONNECTIONS (lists and aggregates: -c$POOL) for ${SECONDS_PER_RUN} s; pgbench for the same time. Median of $RUNS interleaved run(s)."
    echo
    echo "| scenario | service req/s | p50 ms | p99 ms | pgbench tps | pg p50 ms | pg p99 ms | ratio | goal | xact/req | service CPU µs/req | Postgres CPU µs/req | peak RSS MiB | failures |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    row "**reference: pgbench -S -M prepared**" "" ref "1" "(the physical limit)" ""
    ratio=$(ratio "$(median read svc_rps)" "$(median ref pg_tps)")
    row "read one (req/s ÷ pgbench -S tps)" read "" "$ratio" "≥ 1.0" "$(verdict "$ratio" ">=" 1.0)"
    p50_row "↳ read one, p50" read 2
    row "↳ read one at $POOL connections (the lists' and aggregates' concurrency)" read_pool "" "–" "(reference)" ""
    for resource in $LIST_SCENARIOS; do
      for level in root province commune; do
        p50_row "list: $resource, $(article "$level") $level" "list_${resource}_$level" 3
      done
      ratio=$(ratio "$(median "list_${resource}_root" svc_p50)" "$(median "list_${resource}_commune" svc_p50)")
      row "↳ list: $resource, root p50 ÷ commune p50" "" "" "$ratio" "≤ 1.5" "$(verdict "$ratio" "<=" 1.5)"
    done
    p50_row "change feed: /changes, a page of 50 (admin)" changes 3
    ratio=$(ratio "$(median create svc_rps)" "$(median create pg_tps)")
    row "create (Idempotency-Key, audit, change feed event; req/s ÷ the same rows' pgbench tps)" create create "$ratio" "≥ 0.8" "$(verdict "$ratio" ">=" 0.8)"
    ratio=$(ratio "$(median create svc_rps)" "$(median create_untallied svc_rps)")
    row "↳ create with tallies ÷ create without (tally trigger off)" create_untallied "" "$ratio" "≥ 0.8 (no hot root row)" "$(verdict "$ratio" ">=" 0.8)"
    for level in root province commune; do
      p50_row "overview at $(article "$level") $level (kept; pgbench: naive GROUP BY)" "overview_$level" 3
      # the naive partner's figures
      row "↳ naive GROUP BY over $(article "$level") $level's raw rows (pgbench)" "" "naive_$level" "–" "" ""
      p50_row "↳ the same overview computed on every request" "overview_${level}_computed" 3
      naive=$(ratio "$(median "naive_$level" pg_p50)" "$(median "overview_$level" svc_p50)")
      if [ "$level" = root ]; then
        row "↳ naive ÷ overview at the root" "" "" "$naive" "≥ 10 (naive p50 ÷ overview p50)" "$(verdict "$naive" ">=" 10)"
      fi
    done
    for entry in $AGGREGATE_SCENARIOS; do
      IFS=: read -r name endpoint query <<< "$entry"
      for level in root province commune; do
        p50_row "/stats/$endpoint${query:+?$query}, $(article "$level") $level (kept)" "agg_${name}_$level" 3
        p50_row "↳ computed on every request" "agg_${name}_${level}_computed" 3
      done
    done
    ratio=$(ratio "$(median healthz svc_rps)" "$(median hello svc_rps)")
    row "HTTP ceiling: /healthz ÷ bare actix-web hello world" healthz "" "$ratio" "≥ 0.5" "$(verdict "$ratio" ">=" 0.5)"
    row "↳ bare actix-web hello world (bench/hello.rs)" hello "" "–" "(reference)" ""
    echo
    echo "- Peak RSS of the service over the whole run: ${peak} MiB (goal: under 150 MiB at 1M pledges under load)."
    echo "- ratio: the service's p50 ÷ pgbench -S p50 ($REF_P50 ms) where the goal says p50; throughput ratios where it says req/s."
    echo "- xact/req: growth of pg_stat_database.xact_commit over the wrk run, read $XACT_WAIT s after the service went idle (idle backends publish their counters late), minus the pgbench partner's and the script's own commits, ÷ requests the service handled (its log lines; wrk's count if fewer); measured for one scenario per kind."
    echo "- CPU µs/req: the service process (the hello world for its row) and the Postgres backends of its pool, from /proc (utime + stime) over the wrk run."
    echo "- failures: non-2xx responses and socket errors (wrk), aborted clients or errors (pgbench)."
  } > "$OUT/benchmarks.md"
  mkdir -p "$(dirname "$REPORT")"
  # The hand-written sections and the exports' section (bench/exports.sh) survive a run.
  : > "$OUT/kept_sections.md"
  if [ -f "$REPORT" ]; then
    awk '/^## / {on = ($0 ~ /\(added by hand\)$/ || $0 == "## Exports" || $0 ~ /^## History/)} on' "$REPORT" > "$OUT/kept_sections.md"
  fi
  { cat "$OUT/benchmarks.md"; [ ! -s "$OUT/kept_sections.md" ] || { echo; cat "$OUT/kept_sections.md"; }; } > "$REPORT"
  cat "$OUT/benchmarks.md"
}

# --- main -------------------------------------------------------------------------------------
install_tools
build_release
if [ -z "${BENCH_BIN:-}" ] || [ ! -x "$HELLO_BIN" ]; then
  log "building the hello world (bench/hello.rs)"
  cargo build --release --quiet --example hello
fi
prepare_data
prepare_reference
untally_restore ""
start_service
start_hello
prepare_lists
: > "$RESULTS"
for RUN in $(seq 1 "$RUNS"); do
  log "run $RUN of $RUNS"
  run_all
done
report
stop_hello
# The exports scenario on its own data set and freshly started service (bench/exports.sh).
if [ -z "${BENCH_SKIP_EXPORTS:-}" ] && { [ -z "${BENCH_ONLY:-}" ] || [[ " $BENCH_ONLY " == *" exports "* ]]; }; then
  stop_service
  BENCH_REPORT="$REPORT" BENCH_EXPORT_SKIP_BUILD=1 BENCH_EXPORT_COMMAND="bench/run.sh" bench/exports.sh
fi
