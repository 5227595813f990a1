#!/usr/bin/env bash
# Fault: PostgreSQL goes away for a few seconds while a bounded write load runs (issue 6).
#
# A private cluster (never the shared 127.0.0.1:5432) serves one `thidua serve --demo`. Writers
# create pledges with an Idempotency-Key each and retry a 503 with the same key; a reader lists
# pledges. Two seconds in, the cluster is stopped (fast shutdown), kept down for two seconds and
# started again. Required:
#   - every answer is 2xx or 503 with Retry-After: no 500, no hang (curl gives up after 10 s);
#   - the outage was seen (at least one 503) and the service recovered by itself: the same
#     process answers 2xx after the restart, /readyz is 200 again;
#   - every write acknowledged with 2xx is in the database, and there is exactly one row per
#     key (retries of a write that had committed were replayed, not duplicated).
#
#   scripts/faults/pg-restart.sh     (needs a built target/debug/thidua; root or the postgres user)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# shellcheck source=scripts/lib/cluster.sh
source scripts/lib/cluster.sh
# shellcheck source=scripts/faults/lib.sh
source scripts/faults/lib.sh

WRITERS=${FAULT_WRITERS:-3}
LOAD_SECONDS=${FAULT_LOAD_SECONDS:-9}
DOWN_SECONDS=${FAULT_DOWN_SECONDS:-2}

work=$(mktemp -d "${TMPDIR:-/tmp}/thidua-fault.XXXXXX")
cluster=""
cleanup() {
    service_kill "${SERVICE_PID:-}"
    kill_jobs
    if [[ -n "$cluster" ]]; then cluster_remove "$cluster"; fi
    if [[ -n "${FAULT_KEEP:-}" ]]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cluster=$(cluster_init)
note "private cluster on port $(cluster_port "$cluster") ($cluster)"
service_start "$work/service.log" "$work" "$(cluster_url "$cluster" thidua)" \
    THIDUA_WORKERS=2 THIDUA_DB_POOL_SIZE=8 THIDUA_DB_ACQUIRE_TIMEOUT_MS=1500
note "thidua pid $SERVICE_PID on port $SERVICE_PORT"
token=$(login "$SERVICE_BASE" myhoa.manager manager-demo-2022)
demo_ids "$SERVICE_BASE" "$token"
run="fault-$$"

# writer N DEADLINE_NS: one pledge per key until the deadline; a 503 (or 409 "key in use") is
# retried with the same key and body. One line per attempt in attempts.N:
#   <key> <status> <seconds> <retry-after or -> <end ns>
# and "<key> <id>" in acked.N for each 201.
writer() {
    local n=$1 deadline=$2 i=0 key body answer status seconds retry tries
    local head="$work/head.$n" out="$work/body.$n"
    while (($(date +%s%N) < deadline)); do
        i=$((i + 1))
        key=$(uuid)
        body=$(pledge_body "$run-$n-$i")
        for ((tries = 1; tries <= 200; tries++)); do
            answer=$(curl -s -o "$out" -D "$head" --max-time 10 -w '%{http_code} %{time_total}' \
                -X POST "$SERVICE_BASE/pledges" -H "Authorization: Bearer $token" \
                -H 'Content-Type: application/json' -H "Idempotency-Key: $key" -d "$body") || true
            status=${answer%% *}
            seconds=${answer##* }
            retry=$(tr -d '\r' <"$head" 2>/dev/null | awk 'tolower($1) == "retry-after:" {print $2}')
            printf '%s %s %s %s %s\n' "$key" "$status" "$seconds" "${retry:--}" "$(date +%s%N)" >>"$work/attempts.$n"
            if [[ "$status" == 201 ]]; then
                printf '%s %s\n' "$key" "$(jq -r .id "$out")" >>"$work/acked.$n"
                break
            fi
            [[ "$status" == 503 || "$status" == 409 ]] || break
            sleep 0.1
        done
        printf '%s\n' "$key" >>"$work/keys.$n"
    done
}

# reader DEADLINE_NS: lists Mỹ Hòa's pledges; "<status> <seconds> <retry-after or -> <end ns>".
reader() {
    local deadline=$1 answer retry
    while (($(date +%s%N) < deadline)); do
        answer=$(curl -s -o /dev/null -D "$work/head.r" --max-time 10 -w '%{http_code} %{time_total}' \
            "$SERVICE_BASE/pledges?organization_id=$COMMUNE&limit=5" -H "Authorization: Bearer $token") || true
        retry=$(tr -d '\r' <"$work/head.r" 2>/dev/null | awk 'tolower($1) == "retry-after:" {print $2}')
        printf '%s %s %s\n' "$answer" "${retry:--}" "$(date +%s%N)" >>"$work/reads"
        sleep 0.05
    done
}

start_ns=$(date +%s%N)
deadline=$((start_ns + LOAD_SECONDS * 1000000000))
pids=()
for ((n = 1; n <= WRITERS; n++)); do
    writer "$n" "$deadline" &
    pids+=($!)
done
reader "$deadline" &
pids+=($!)

sleep 2
down_ns=$(date +%s%N)
cluster_stop "$cluster"
sleep "$DOWN_SECONDS"
cluster_start "$cluster"
up_ns=$(date +%s%N)
note "PostgreSQL stopped (fast) and started again; down for $(((up_ns - down_ns) / 1000000)) ms"

for pid in "${pids[@]}"; do
    wait "$pid"
done
end_ns=$(date +%s%N)

# --- checks -----------------------------------------------------------------------------------
kill -0 "$SERVICE_PID" 2>/dev/null || fail "the service process died (pid $SERVICE_PID)"
cat "$work"/attempts.* >"$work/attempts"
cat "$work"/acked.* >"$work/acked" 2>/dev/null || : >"$work/acked"
cat "$work"/keys.* >"$work/keys"

attempts=$(wc -l <"$work/attempts")
reads=$(wc -l <"$work/reads")
write_503=$(awk '$2 == 503' "$work/attempts" | wc -l)
read_503=$(awk '$1 == 503' "$work/reads" | wc -l)
write_409=$(awk '$2 == 409' "$work/attempts" | wc -l)
unexpected_writes=$(awk '$2 != 201 && $2 != 503 && $2 != 409' "$work/attempts")
unexpected_reads=$(awk '$1 != 200 && $1 != 503' "$work/reads")
missing_retry_after=$(awk '($2 == 503 && $4 == "-")' "$work/attempts"; awk '($1 == 503 && $3 == "-")' "$work/reads")
slowest_503=$( (awk '$2 == 503 {print $3}' "$work/attempts"; awk '$1 == 503 {print $2}' "$work/reads") | sort -g | tail -n 1)
slowest=$( (awk '{print $3}' "$work/attempts"; awk '{print $2}' "$work/reads") | sort -g | tail -n 1)
ok_after_restart=$(awk -v up="$up_ns" '$2 == 201 && $5 > up' "$work/attempts" | wc -l)
reads_after_restart=$(awk -v up="$up_ns" '$1 == 200 && $4 > up' "$work/reads" | wc -l)
keys=$(sort -u "$work/keys" | wc -l)
acked=$(wc -l <"$work/acked")

note "load: $WRITERS writers + 1 reader for $(((end_ns - start_ns) / 1000000)) ms"
note "writes: $keys keys, $attempts attempts, $acked acknowledged (201), $write_503 × 503, $write_409 × 409"
note "reads: $reads requests, $read_503 × 503"
note "after the restart: $ok_after_restart writes and $reads_after_restart reads answered 2xx"
note "slowest 503: ${slowest_503:-none} s; slowest request: ${slowest:-none} s"
note "service log: $(grep -c '"database connection lost"' "$work/service.log" || true) queries lost their connection mid-flight, $(grep -c '"no database connection available"' "$work/service.log" || true) requests found no connection"

[[ -z "$unexpected_writes" ]] || fail "writes answered other than 201/503/409 (key status seconds):"$'\n'"$unexpected_writes"
[[ -z "$unexpected_reads" ]] || fail "reads answered other than 200/503 (status seconds):"$'\n'"$unexpected_reads"
[[ -z "$missing_retry_after" ]] || fail "503 without Retry-After:"$'\n'"$missing_retry_after"
((write_503 + read_503 > 0)) || fail "no request saw the outage (no 503): the fault was not exercised"
((ok_after_restart > 0)) || fail "no write succeeded after PostgreSQL came back"
((reads_after_restart > 0)) || fail "no read succeeded after PostgreSQL came back"
((acked == keys)) || fail "$((keys - acked)) of $keys writes were never acknowledged (gave up retrying)"
awk -v limit=5 '$1 > limit {exit 1}' <<<"${slowest_503:-0}" || fail "a 503 took ${slowest_503} s (more than 5 s: not failing fast)"
curl -sf -o /dev/null --max-time 5 "http://127.0.0.1:${SERVICE_PORT}/readyz" || fail "/readyz is not 200 after the restart"

# Every acknowledged id is stored, and one row per key: no lost and no duplicated write.
cluster_psql "$cluster" thidua "SELECT id FROM pledges WHERE title LIKE '${run}-%' ORDER BY id" >"$work/stored"
awk '{print $2}' "$work/acked" | sort >"$work/acked_ids"
stored=$(wc -l <"$work/stored")
lost=$(comm -23 "$work/acked_ids" "$work/stored" | wc -l)
note "database: $stored rows for the $keys keys; acknowledged but missing: $lost"
((lost == 0)) || fail "$lost acknowledged writes are not in the database"
((stored == keys)) || fail "$stored rows for $keys keys (duplicates or writes nobody acknowledged)"
((acked > 0)) || fail "nothing was written"

if grep -q '"status":500' "$work/service.log"; then
    fail "the service logged a 500"
fi
echo "pg-restart: OK"
