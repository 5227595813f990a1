#!/usr/bin/env bash
# The exports' memory and their effect on other requests (docs/benchmarking.md): three concurrent
# exports of one ≥100 000-row selection (the root's subtree, `subtree=true`, no limit) as XLSX,
# then as CSV, each scenario on a freshly started release service so its VmHWM is the
# scenario's peak RSS. While the exports run, a steady trickle of GET /healthz and
# GET /api/v1/pledges/{id} (open loop, one request every BENCH_EXPORT_TRICKLE_MS, each with a
# BENCH_EXPORT_TIMEOUT_S deadline) records what the other requests see. Every export is checked:
# an XLSX is a valid zip whose sheet1.xml holds a header row plus one <row> per pledge, a CSV holds
# a header plus one record per pledge. The section "## Exports" of the report is written (or
# replaced); bench/run.sh calls this script after its own table.
#
#   bench/exports.sh            # 2 000 organizations, 100 000 pledges in its own database
#
# Environment: BENCH_EXPORT_DB (thidua_bench_exports), BENCH_EXPORT_ORGS (2000),
# BENCH_EXPORT_PLEDGES (100000: the rows of each export; at most 200 000, the service's XLSX
# bound), BENCH_EXPORT_TRICKLE_MS (100), BENCH_EXPORT_TIMEOUT_S (10), BENCH_EXPORT_IDLE_S (5:
# the trickle alone before the exports start, as a reference), BENCH_EXPORT_SKIP_BUILD (set by
# bench/run.sh, which has built), and from bench/lib.sh BENCH_WORKERS (1), BENCH_SEED,
# BENCH_PG_URL, BENCH_REPORT (docs/benchmarks.md). Outputs go to bench/out/exports/.
set -euo pipefail

# The data set and service of this scenario, whatever BENCH_DB/BENCH_ORGS bench/run.sh was given.
export BENCH_DB=${BENCH_EXPORT_DB:-thidua_bench_exports}
export BENCH_ORGS=${BENCH_EXPORT_ORGS:-2000}
export BENCH_PLEDGES=${BENCH_EXPORT_PLEDGES:-100000}
export BENCH_NOMINATIONS=$((BENCH_PLEDGES / 5))
export BENCH_OUT=bench/out/exports
export BENCH_PORT=${BENCH_EXPORT_PORT:-18091}
source "$(dirname "$0")/lib.sh"

MIN_ROWS=100000
# src/export.rs: an XLSX beyond this many rows is refused (400 export_too_large).
XLSX_MAX_ROWS=200000
CONCURRENT=3
TRICKLE_MS=${BENCH_EXPORT_TRICKLE_MS:-100}
TIMEOUT_S=${BENCH_EXPORT_TIMEOUT_S:-10}
IDLE_S=${BENCH_EXPORT_IDLE_S:-5}
XLSX_MEDIA=application/vnd.openxmlformats-officedocument.spreadsheetml.sheet
SUMMARY="$OUT/summary.tsv"
GOAL_MIB=150

# check_export FILE csv|xlsx: prints the data rows (header excluded), or "invalid: why".
check_export() {
  python3 - "$1" "$2" <<'PY'
import csv, sys, zipfile
path, kind = sys.argv[1], sys.argv[2]
try:
    if kind == "xlsx":
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()
            if bad is not None:
                raise ValueError(f"bad CRC in {bad}")
            rows, tail = 0, b""
            with z.open("xl/worksheets/sheet1.xml") as sheet:
                while chunk := sheet.read(1 << 20):
                    data = tail + chunk
                    rows += data.count(b"<row ")
                    # keep the last 4 bytes so a "<row " cut in two is counted once, in the next round
                    tail = data[-4:]
            print(rows - 1)
    else:
        with open(path, encoding="utf-8-sig", newline="") as f:
            print(sum(1 for _ in csv.reader(f)) - 1)
except Exception as e:  # noqa: BLE001 - any failure makes the file invalid
    print(f"invalid: {type(e).__name__}: {e}".replace("\t", " "))
PY
}

# The trickle: until $1 disappears, one request every TRICKLE_MS, alternately /healthz and a
# pledge from the sample, each in the background so a slow answer never delays the next.
# Lines: phase, kind, HTTP status (000: no answer within TIMEOUT_S), seconds.
trickle() {
  local running=$1 file=$2 phase_file=$3 i=0 id kind url pause
  local ids=()
  pause=$(awk -v ms="$TRICKLE_MS" 'BEGIN {print ms / 1000}')
  mapfile -t ids < <(head -n 1000 "$OUT/pledge_ids.txt")
  while [ -e "$running" ]; do
    if ((i % 2)); then
      id=${ids[$(((i / 2) % ${#ids[@]}))]}; kind=pledge; url="$BASE/api/v1/pledges/$id"
    else
      kind=healthz; url="$BASE/healthz"
    fi
    (
      phase=$(cat "$phase_file")
      out=$(curl -s -o /dev/null -m "$TIMEOUT_S" -H "Authorization: Bearer $TOKEN" \
        -w '%{http_code}\t%{time_total}' "$url" || true)
      printf '%s\t%s\t%s\n' "$phase" "$kind" "${out:-000	$TIMEOUT_S}" >> "$file"
    ) &
    i=$((i + 1))
    sleep "$pause"
  done
  wait
}

# Samples the service's RSS and threads every 0.2 s into $2 while $1 exists (to explain a peak).
sample_rss() {
  local running=$1 file=$2 t0
  t0=$(date +%s.%N)
  while [ -e "$running" ] && [ -r "/proc/$SERVICE_PID/status" ]; do
    awk -v t0="$t0" -v now="$(date +%s.%N)" '/^VmRSS/ {rss = $2} /^Threads/ {th = $2}
      END {printf "%.1f\t%.1f\t%s\n", now - t0, rss / 1024, th}' "/proc/$SERVICE_PID/status" >> "$file"
    sleep 0.2
  done
}

# one_export NAME INDEX MEDIA EXT: one export with its status, wall time and size, then checked.
one_export() {
  local name=$1 i=$2 media=$3 ext=$4 file="$OUT/$1.$2.$4" out rows
  out=$(curl -s -m 900 -o "$file" -H "Authorization: Bearer $TOKEN" -H "Accept: $media" \
    -w '%{http_code}\t%{time_total}\t%{size_download}\t%header{retry-after}' \
    "$BASE/api/v1/pledges?organization_id=$ROOT_ID&subtree=true" || true)
  if [ "${out%%	*}" = 200 ]; then rows=$(check_export "$file" "$ext"); else rows="–"; fi
  [ "${out%%	*}" != 200 ] || [ "$rows" = "$EXPECTED" ] || log "$name export $i: $rows rows, expected $EXPECTED"
  printf '%s\t%s\t%s\t%s\n' "$name" "$i" "$out" "$rows" >> "$SUMMARY.exports"
  rm -f "$file"
}

# scenario NAME MEDIA EXT [staggered]: a fresh service, the trickle alone for IDLE_S, then
# CONCURRENT exports at once (staggered: the last one started when the first has finished).
scenario() {
  local name=$1 media=$2 ext=$3 staggered=${4:-} running="$OUT/$1.running" phase="$OUT/$1.phase"
  local trickle_file="$OUT/$name.trickle.tsv" rss_file="$OUT/$name.rss.tsv" started pids=() i hwm
  stop_service
  start_service
  refresh_token
  TOKEN=$(cat "$OUT/token")
  : > "$trickle_file"; : > "$rss_file"; touch "$running"; echo idle > "$phase"
  sample_rss "$running" "$rss_file" &
  local sampler=$!
  trickle "$running" "$trickle_file" "$phase" &
  local trickler=$!
  sleep "$IDLE_S"
  # The peak so far is start-up and the login (argon2 holds 19 MiB while it hashes): what the
  # exports add is the difference.
  local before
  before=$(awk '/VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$SERVICE_PID/status")
  echo exports > "$phase"
  log "$name: $CONCURRENT exports${staggered:+ (the last after the first)}"
  started=$(date +%s.%N)
  for i in $(seq 1 "$CONCURRENT"); do
    if [ -n "$staggered" ] && [ "$i" = "$CONCURRENT" ]; then wait "${pids[0]}"; fi
    one_export "$name" "$i" "$media" "$ext" &
    pids+=($!)
  done
  # (staggered: the first is reaped already, and waiting for it again fails)
  wait "${pids[@]}" 2>/dev/null || true
  local wall
  wall=$(awk -v s="$started" -v n="$(date +%s.%N)" 'BEGIN {printf "%.1f", n - s}')
  rm -f "$running"
  wait "$trickler" "$sampler"
  hwm=$(awk '/VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$SERVICE_PID/status")
  printf '%s\t%s\t%s\t%s\n' "$name" "$hwm" "$wall" "$before" >> "$SUMMARY"
  log "$name: peak RSS $hwm MiB, all exports done in $wall s"
  stop_service
}

# latency PHASE FILE: requests, p50 ms, p99 ms, max ms, failures (non-200 or no answer).
latency() {
  awk -F'\t' -v p="$1" '$1 == p {print $4 * 1000, ($3 == 200 ? 0 : 1)}' "$2" | sort -g \
    | awk '{t[NR] = $1; f += $2}
      END {if (!NR) {print "0\t–\t–\t–\t0"; exit}
        i50 = int(NR * 0.50); if (i50 < NR * 0.50) i50++; i99 = int(NR * 0.99); if (i99 < NR * 0.99) i99++;
        printf "%d\t%.1f\t%.1f\t%.1f\t%d\n", NR, t[i50], t[i99], t[NR], f}'
}

section() {
  local name hwm wall verdict exports
  echo "## Exports"
  echo
  echo "Written by \`bench/exports.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC') (command: \`${EXPORT_COMMAND}\`)."
  echo
  echo "- Data set (seed $SEED, database $DB): $DATASET; $GENERATION."
  echo "- Each export: \`GET /api/v1/pledges?organization_id=<root>&subtree=true\` as bench.admin, no \`limit\`: $EXPECTED rows (counted with psql: the pledges under the root's path), $CONCURRENT at once."
  echo "- Service: release build, THIDUA_WORKERS=$WORKERS, THIDUA_DB_POOL_SIZE=$POOL, started fresh for each scenario; peak RSS is its VmHWM (/proc/<pid>/status) read after the scenario; goal: under $GOAL_MIB MiB."
  echo "- Other requests: one every $TRICKLE_MS ms, alternately \`GET /healthz\` and \`GET /api/v1/pledges/{id}\`, each given $TIMEOUT_S s (no answer: status 000); \"idle\" is the $IDLE_S s before the exports start, \"during\" is while they run."
  echo
  echo "| scenario | peak RSS MiB | goal < $GOAL_MIB MiB | peak before the exports MiB | all done s | export: status, wall s, MiB, rows checked |"
  echo "|---|---|---|---|---|---|"
  while IFS=$'\t' read -r name hwm wall before; do
    verdict=$(awk -v v="$hwm" -v g="$GOAL_MIB" 'BEGIN {print (v + 0 < g ? "met" : "**not met**")}')
    exports=$(awk -F'\t' -v s="$name" '$1 == s {
        line = $3 ", " sprintf("%.1f", $4) " s, " sprintf("%.1f", $5 / 1048576) " MiB, " $7 ($6 != "" ? " (Retry-After " $6 ")" : "");
        out = out (out ? "; " : "") "#" $2 " " line} END {print out}' "$SUMMARY.exports")
    echo "| $name | $hwm | $verdict | $before | $wall | $exports |"
  done < "$SUMMARY"
  echo
  echo "| scenario | phase | other requests | p50 ms | p99 ms | max ms | failures |"
  echo "|---|---|---|---|---|---|---|"
  while IFS=$'\t' read -r name _; do
    for phase in idle exports; do
      IFS=$'\t' read -r n p50 p99 max failures < <(latency "$phase" "$OUT/$name.trickle.tsv")
      echo "| $name | ${phase/exports/during} | $n | $p50 | $p99 | $max | $failures |"
    done
  done < "$SUMMARY"
  echo
  echo "- peak before the exports: VmHWM after start-up, the login and the idle trickle; the exports' own share is the difference at most."
  echo "- rows checked: data rows found in the file (XLSX: \`<row\` elements of xl/worksheets/sheet1.xml minus the header, after \`zipfile.testzip()\`; CSV: records minus the header); expected $EXPECTED; \"–\" when the status was not 200."
  echo "- RSS and threads sampled every 0.2 s: bench/out/exports/<scenario>.rss.tsv (seconds, MiB, threads)."
}

# --- main -------------------------------------------------------------------------------------
EXPORT_COMMAND=${BENCH_EXPORT_COMMAND:-bench/exports.sh}
[ -n "${BENCH_EXPORT_SKIP_BUILD:-}" ] || build_release
command -v openssl >/dev/null || install_tools
prepare_data
EXPECTED=$(psql_bench -c "SELECT count(*) FROM pledges WHERE organization_path LIKE '$ROOT_PATH%'")
if [ "$EXPECTED" -lt "$MIN_ROWS" ] || [ "$EXPECTED" -gt "$XLSX_MAX_ROWS" ]; then
  log "the root's subtree holds $EXPECTED pledges: the scenario needs $MIN_ROWS to $XLSX_MAX_ROWS (BENCH_EXPORT_PLEDGES)"
  exit 1
fi
log "each export: $EXPECTED rows"
: > "$SUMMARY"; : > "$SUMMARY.exports"
scenario xlsx_concurrent "$XLSX_MEDIA" xlsx
# The third may wait longer than the service's 10 s for a slot and get 503 by design: then the
# same three again, the third started when the first has finished.
if awk -F'\t' '$1 == "xlsx_concurrent" && $3 == 503 {found = 1} END {exit !found}' "$SUMMARY.exports"; then
  scenario xlsx_staggered "$XLSX_MEDIA" xlsx staggered
fi
scenario csv_concurrent text/csv csv
section > "$OUT/exports.md"
mkdir -p "$(dirname "$REPORT")"
put_section "$REPORT" Exports "$OUT/exports.md"
cat "$OUT/exports.md"
