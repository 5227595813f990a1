#!/usr/bin/env bash
# The benchmarks of docs/benchmarking.md: every scenario runs the service over HTTP (wrk) and, right
# after, Postgres itself running the same SQL (pgbench -M prepared, as many connections as the
# service's pool); the median of BENCH_RUNS interleaved runs goes into one Markdown table, printed
# and written to docs/benchmarks.md.
#
#   bench/run.sh                                   # full size: 10 000 orgs, 1 000 000 pledges
#   BENCH_DB=thidua_bench_quick BENCH_REPORT=bench/out/quick.md BENCH_ORGS=2000 \
#     BENCH_PLEDGES=50000 BENCH_SECONDS=5 BENCH_RUNS=1 bench/run.sh     # quick, keeps the big set
#
# Environment: BENCH_ORGS (10000), BENCH_PLEDGES (1000000), BENCH_NOMINATIONS (pledges / 5),
# BENCH_SEED (1), BENCH_RUNS (3), BENCH_SECONDS (10), BENCH_CONNECTIONS (wrk connections for the
# throughput scenarios, 16), BENCH_DB (thidua_bench), BENCH_PG_URL (postgres://postgres@127.0.0.1:5432),
# BENCH_WORKERS (the service's THIDUA_WORKERS, 1), BENCH_RUST_LOG (the service's RUST_LOG;
# default: its own default, one info line per request),
# BENCH_REPORT (where the table goes, docs/benchmarks.md), BENCH_ONLY (scenario names to run,
# space-separated, e.g. "read overview_root"; the others show "–"; "exports" is bench/exports.sh,
# run after the table into its own section of the report).
# The database BENCH_DB is the benchmark's own: it is dropped and regenerated when it holds a tree
# of another size. Outputs (logs, id lists, the JWT key) go to bench/out/ (gitignored).
set -euo pipefail

source "$(dirname "$0")/lib.sh"
RUNS=${BENCH_RUNS:-3}
SECONDS_PER_RUN=${BENCH_SECONDS:-10}
CONNECTIONS=${BENCH_CONNECTIONS:-16}
RESULTS="$OUT/results.tsv"

# --- measurements -----------------------------------------------------------------------------
record() { printf '%s\t%s\t%s\t%s\n' "$RUN" "$1" "$2" "$3" >> "$RESULTS"; }

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

# scenario NAME CONNECTIONS PG-NAME PG-SCRIPT PG-XACTS -- WRK-ARGS... ; pgbench -D options in PG_ARGS.
# One wrk run against the service, then (when PG-NAME is set) its pgbench partner.
# Transactions per request: backends publish their commit counters when idle, and an idle
# backend can hold them for 10 s, so the second reading of pg_stat_database waits until 11 s after
# the service went idle (pgbench runs meanwhile) and the partner's commits (PG-XACTS per script
# execution, plus one per connection) are subtracted. Costs are divided by the requests the
# service handled (its log lines), which includes those wrk stopped waiting for.
scenario() {
  local name=$1 connections=$2 pg_name=$3 pg_script=$4 pg_xacts=$5; shift 6
  if [ -n "${BENCH_ONLY:-}" ] && [[ " $BENCH_ONLY " != *" $name "* ]]; then return 0; fi
  local file="$OUT/$name.$RUN.wrk.txt"
  refresh_token
  quiesce
  echo 5 > "/proc/$SERVICE_PID/clear_refs" 2>/dev/null || true # restart VmHWM at the current RSS
  local xact_before service_before pg_before served_before service_after pg_after served_after idle_since
  xact_before=$(xact_commit)
  service_before=$(ticks_of "$SERVICE_PID")
  pg_before=$(backend_ticks)
  served_before=$(wc -l < "$OUT/service.log")
  BENCH_TOKEN_FILE="$OUT/token" wrk -t 2 -c "$connections" -d "${SECONDS_PER_RUN}s" \
    --timeout 30s --latency "$@" > "$file" 2>&1 || true
  # Requests wrk gave up on still run in the service: let them finish and count them too.
  QUIESCE_POLLS=0
  quiesce
  service_after=$(ticks_of "$SERVICE_PID")
  pg_after=$(backend_ticks)
  served_after=$(wc -l < "$OUT/service.log")
  idle_since=$(date +%s.%N)
  local requests served rps p50 p99 non2xx errors hwm pg_ticks
  requests=$(awk '/requests in/ {print $1}' "$file"); requests=${requests:-0}
  # Requests the service handled (one log line each), or wrk's count when it logs less.
  served=$((served_after - served_before))
  [ "$served" -ge "$requests" ] || served=$requests
  rps=$(awk '/^Requests\/sec/ {print $2}' "$file")
  p50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$file")")
  p99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$file")")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$file"); non2xx=${non2xx:-0}
  errors=$(awk '/Socket errors/ {gsub(",", ""); print $4 + $6 + $8 + $10}' "$file"); errors=${errors:-0}
  hwm=$(awk '/VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$SERVICE_PID/status")
  pg_ticks=$(join -a 2 -e 0 -o 1.2,2.2 <(echo "$pg_before" | sort) <(echo "$pg_after" | sort) \
    | awk '{s += $2 - $1} END {print s + 0}')
  log "$(printf '%-18s run %s: %8s req/s  p50 %9s ms  p99 %9s ms  failures %s' "$name" "$RUN" "${rps:-0}" "$p50" "$p99" "$((non2xx + errors))")"
  PG_PROCESSED=0
  if [ -n "$pg_name" ]; then
    run_pgbench "$pg_name" "$pg_script" "${PG_ARGS[@]}"
  fi
  if [ "$name" != healthz ]; then
    local pause
    pause=$(awk -v e="$idle_since" -v n="$(date +%s.%N)" 'BEGIN { w = e + 11 - n; print (w > 0 ? w : 0) }')
    sleep "$pause"
  fi
  local xact_after
  xact_after=$(xact_commit)
  if [ "$requests" -gt 0 ]; then
    record "$name" svc_rps "$rps"
    record "$name" svc_p50 "$p50"
    record "$name" svc_p99 "$p99"
    # Our own commits in the window: each psql session commits twice (start-up, query): the first
    # reading, two backend listings and the idle polls.
    local partner=$((2 * (3 + QUIESCE_POLLS)))
    [ -z "$pg_name" ] || partner=$((partner + PG_PROCESSED * pg_xacts + POOL))
    record "$name" xact_per_req "$(awk -v a="$xact_before" -v b="$xact_after" -v n="$served" \
      -v pg="$partner" 'BEGIN {printf "%.2f", (b - a - pg) / n}')"
    record "$name" svc_cpu_us "$(awk -v t=$((service_after - service_before)) -v n="$served" -v hz="$CLK_TCK" 'BEGIN {printf "%.0f", t * 1e6 / hz / n}')"
    record "$name" pg_cpu_us "$(awk -v t="$pg_ticks" -v n="$served" -v hz="$CLK_TCK" 'BEGIN {printf "%.0f", t * 1e6 / hz / n}')"
  fi
  record "$name" svc_rss_mib "$hwm"
  record "$name" failures "$((non2xx + errors))"
}

# run_pgbench NAME SCRIPT [-D var=value]... : the same SQL straight to Postgres.
run_pgbench() {
  local name=$1 script=$2; shift 2
  local file="$OUT/$name.$RUN.pgbench.txt" prefix="$OUT/pgbench_log_$name"
  rm -f "$prefix".*
  pgbench -n -M prepared -c "$POOL" -j 2 -T "$SECONDS_PER_RUN" -f "$script" \
    -D nids="$NIDS" -D ncommunes="$NCOMMUNES" "$@" -l --log-prefix="$prefix" \
    "$DB_URL" > "$file" 2>&1 || true
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
  log "$(printf '%-18s run %s: %8s tps    p50 %9s ms  p99 %9s ms  (pgbench)%s' "$name" "$RUN" "${tps:-0}" "${p50:-?}" "${p99:-?}" "$([ "$failed" = 0 ] || echo "  FAILED, see $file")")"
}

# Turns the tally trigger back on and gives the pledges created since $1 (while it was off) their
# deltas, so the tallies equal the raw rows again.
untally_restore() {
  psql_bench -c "ALTER TABLE pledges ENABLE TRIGGER pledges_tally_insert"
  [ -n "${1:-}" ] || return 0
  psql_bench -c "INSERT INTO tally_deltas (organization_path, entity, campaign_id, year, kind, status, result, open_deadline, delta)
    SELECT organization_path, 'p', campaign_id, year, kind, status, coalesce(result, 'none'),
           CASE WHEN status IN ('assessed', 'withdrawn') THEN 'infinity'::date ELSE deadline END, count(*)
    FROM pledges WHERE created_at >= '$1' GROUP BY 1, 2, 3, 4, 5, 6, 7, 8"
}

run_all() {
  export BENCH_NONCE
  BENCH_NONCE="$(date +%s%N)"
  # HTTP ceiling: the framework alone.
  PG_ARGS=()
  scenario healthz "$CONNECTIONS" "" "" 0 -- "$BASE/healthz"
  # read one: one statement (one transaction) per script execution.
  BENCH_PATH="/api/v1/pledges/{id}" BENCH_IDS="$OUT/pledge_ids.txt" \
    scenario read "$CONNECTIONS" read bench/pgbench/read.sql 1 -- -s bench/get.lua "$BASE"
  # read one again with as many connections as the aggregates use: the single-row GET the
  # overview is compared with at the same concurrency (issue: "at most 3× a single-row GET").
  BENCH_PATH="/api/v1/pledges/{id}" BENCH_IDS="$OUT/pledge_ids.txt" \
    scenario read_pool "$POOL" "" "" 0 -- -s bench/get.lua "$BASE"
  # list: the unit's path, then the page (two transactions).
  BENCH_PATH="/api/v1/pledges?organization_id={id}&subtree=true&limit=50" BENCH_IDS="$OUT/commune.txt" \
    scenario list "$CONNECTIONS" list bench/pgbench/list.sql 2 -- -s bench/get.lua "$BASE"
  # create: one transaction.
  PG_ARGS=(-D campaign="$CAMPAIGN" -D root="$ROOT_ID" -D admin="$ADMIN_ID" -D body="$(cat bench/pgbench/body.json)")
  BENCH_CAMPAIGN="$CAMPAIGN" BENCH_IDS="$OUT/commune.txt" \
    scenario create "$CONNECTIONS" create bench/pgbench/create.sql 1 -- -s bench/create.lua "$BASE"
  # create without the aggregate machinery (the tally trigger of pledge inserts off), to show
  # what the tallies cost writers; the pledges it creates get their deltas afterwards.
  local untallied_since
  untallied_since=$(psql_bench -c "SELECT now()")
  psql_bench -c "ALTER TABLE pledges DISABLE TRIGGER pledges_tally_insert"
  PG_ARGS=()
  BENCH_NONCE="$BENCH_NONCE-untallied" BENCH_CAMPAIGN="$CAMPAIGN" BENCH_IDS="$OUT/commune.txt" \
    scenario create_untallied "$CONNECTIONS" "" "" 0 -- -s bench/create.lua "$BASE" || true
  untally_restore "$untallied_since"
  # aggregates, with as many connections as the pool (more would only queue for a connection);
  # the partner is the naive GROUP BY over a unit of the same level (two transactions).
  local level count
  for level in root province commune; do
    count=$(wc -l < "$OUT/$level.txt")
    PG_ARGS=(-D level="$level" -D nlevel="$count")
    BENCH_PATH="/api/v1/stats/overview?organization_id={id}" BENCH_IDS="$OUT/$level.txt" \
      scenario "overview_$level" "$POOL" "naive_$level" bench/pgbench/naive.sql 2 -- -s bench/get.lua "$BASE"
  done
  # The same overviews computed on every request: the service restarted keeping none
  # (THIDUA_OVERVIEW_CACHE_ENTRIES=0), as when the tallies change between any two requests.
  if [ -z "${BENCH_ONLY:-}" ] || [[ " $BENCH_ONLY " == *"_computed "* ]]; then
    stop_service
    OVERVIEW_CACHE_ENTRIES=0 start_service
    PG_ARGS=()
    for level in root province commune; do
      BENCH_PATH="/api/v1/stats/overview?organization_id={id}" BENCH_IDS="$OUT/$level.txt" \
        scenario "overview_${level}_computed" "$POOL" "" "" 0 -- -s bench/get.lua "$BASE"
    done
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

report() {
  local ref peak level ratio naive
  ref=$(median read pg_p50)
  peak=$(awk -F'\t' '$3 == "svc_rss_mib" && $4 > m {m = $4} END {print m + 0}' "$RESULTS")
  {
    echo "# Benchmarks"
    echo
    echo "Written by \`bench/run.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'); [docs/benchmarking.md](benchmarking.md) says what is measured and why."
    echo
    echo "- Machine: $(nproc) cores ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo) memory, $(uname -sr), PostgreSQL $(psql_bench -c 'SHOW server_version' | cut -d' ' -f1) on the same machine; shared with other work, so absolute figures swing, ratios hold."
    echo "- Data set (seed $SEED): $DATASET; $GENERATION."
    echo "- Service: release build, THIDUA_DB_POOL_SIZE=$POOL, THIDUA_WORKERS=$WORKERS, one log line per request${BENCH_RUST_LOG:+ (RUST_LOG=$BENCH_RUST_LOG)}; overviews kept while the tallies' version stands (THIDUA_OVERVIEW_CACHE_ENTRIES=4096; the version is still checked in the database on every request), except in the rows marked computed (=0)."
    echo "- Load: wrk -t2 -c$CONNECTIONS (aggregates: -c$POOL) for ${SECONDS_PER_RUN} s; pgbench -M prepared -c $POOL -j 2 -T ${SECONDS_PER_RUN} running the handler's SQL (bench/pgbench/*.sql). Median of $RUNS interleaved run(s)."
    echo
    echo "| scenario | service req/s | p50 ms | p99 ms | pgbench tps | pg p50 ms | pg p99 ms | ratio | goal | xact/req | service CPU µs/req | Postgres CPU µs/req | peak RSS MiB | failures |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    ratio=$(ratio "$(median read svc_rps)" "$(median read pg_tps)")
    row "read one" read read "$ratio" "≥ 1.0 (req/s ÷ tps)" "$(verdict "$ratio" ">=" 1.0)"
    row "↳ read one at $POOL connections (the aggregates' concurrency)" read_pool "" "–" "(reference)" ""
    ratio=$(ratio "$(median list svc_rps)" "$(median list pg_tps)")
    row "list (commune subtree, limit 50)" list list "$ratio" "≥ 0.8" "$(verdict "$ratio" ">=" 0.8)"
    ratio=$(ratio "$(median create svc_rps)" "$(median create pg_tps)")
    row "create (Idempotency-Key, audit)" create create "$ratio" "≥ 0.8" "$(verdict "$ratio" ">=" 0.8)"
    ratio=$(ratio "$(median create svc_rps)" "$(median create_untallied svc_rps)")
    row "↳ create with tallies ÷ create without (tally trigger off)" create_untallied "" "$ratio" "≥ 0.8 (no hot root row)" "$(verdict "$ratio" ">=" 0.8)"
    for level in root province commune; do
      ratio=$(ratio "$(median "overview_$level" svc_p50)" "$ref")
      row "overview at $(article "$level") $level (pgbench: naive GROUP BY)" "overview_$level" "naive_$level" "$ratio" \
        "≤ 3 (p50 ÷ read-one pgbench p50 $ref ms)" "$(verdict "$ratio" "<=" 3)"
      ratio=$(ratio "$(median "overview_$level" svc_p50)" "$(median read_pool svc_p50)")
      row "↳ overview p50 ÷ the service's single-row GET p50, both at $POOL connections" "" "" "$ratio" \
        "≤ 3 (read-one p50 $(median read_pool svc_p50) ms)" "$(verdict "$ratio" "<=" 3)"
      ratio=$(ratio "$(median "overview_${level}_computed" svc_p50)" "$ref")
      row "↳ the same, computed on every request (kept overviews off)" "overview_${level}_computed" "" "$ratio" \
        "≤ 3 (p50 ÷ read-one pgbench p50 $ref ms)" "$(verdict "$ratio" "<=" 3)"
      ratio=$(ratio "$(median "overview_${level}_computed" svc_p50)" "$(median read_pool svc_p50)")
      row "↳ computed p50 ÷ the service's single-row GET p50, both at $POOL connections" "" "" "$ratio" \
        "≤ 3" "$(verdict "$ratio" "<=" 3)"
      naive=$(ratio "$(median "naive_$level" pg_p50)" "$(median "overview_$level" svc_p50)")
      if [ "$level" = root ]; then
        row "↳ naive ÷ overview at the root" "" "" "$naive" "≥ 10 (naive p50 ÷ overview p50)" "$(verdict "$naive" ">=" 10)"
      else
        row "↳ naive ÷ overview at $(article "$level") $level" "" "" "$naive" "(recorded)" ""
      fi
    done
    row "HTTP ceiling (/healthz)" healthz "" "–" "record it" ""
    echo
    echo "- Peak RSS of the service over the whole run: ${peak} MiB (goal: under 150 MiB at 1M pledges under load)."
    echo "- xact/req: growth of pg_stat_database.xact_commit over the wrk run, read 11 s after the service went idle (idle backends publish their counters late), minus the pgbench partner's and the script's own commits, ÷ requests the service handled (its log lines; wrk's count if fewer)."
    echo "- CPU µs/req: the service process and the Postgres backends of its pool, from /proc (utime + stime) over the wrk run."
    echo "- failures: non-2xx responses and socket errors (wrk), aborted clients or errors (pgbench)."
  } > "$OUT/benchmarks.md"
  mkdir -p "$(dirname "$REPORT")"
  # The exports' section (bench/exports.sh) survives a run that does not redo it.
  [ ! -f "$REPORT" ] || section_of "$REPORT" Exports > "$OUT/exports_kept.md"
  cp "$OUT/benchmarks.md" "$REPORT"
  [ ! -s "$OUT/exports_kept.md" ] || put_section "$REPORT" Exports "$OUT/exports_kept.md"
  cat "$REPORT"
}

# --- main -------------------------------------------------------------------------------------
install_tools
build_release
prepare_data
untally_restore ""
start_service
: > "$RESULTS"
for RUN in $(seq 1 "$RUNS"); do
  log "run $RUN of $RUNS"
  run_all
done
report
# The exports scenario on its own data set and freshly started service (bench/exports.sh).
if [ -z "${BENCH_ONLY:-}" ] || [[ " $BENCH_ONLY " == *" exports "* ]]; then
  stop_service
  BENCH_REPORT="$REPORT" BENCH_EXPORT_SKIP_BUILD=1 BENCH_EXPORT_COMMAND="bench/run.sh" bench/exports.sh
fi
