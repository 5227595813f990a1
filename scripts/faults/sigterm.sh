#!/usr/bin/env bash
# Fault: SIGTERM while requests are in flight (issue 6).
#
# One `thidua serve --demo` on a private cluster. Six pledge creations upload their bodies slowly
# (24 KiB at 6 KiB/s, about 4 s each) and quick readers loop on /me; once the slow uploads are
# connected the service gets SIGTERM. Required:
#   - every slow request (started before the signal, finished after it) is answered 201 and its
#     pledge is stored;
#   - while those still drain, a new connection is refused (curl exit 7) and the process is up;
#   - no request that got an answer got a non-2xx one; the process exits with status 0.
#
#   scripts/faults/sigterm.sh     (needs a built target/debug/thidua; root or the postgres user)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# shellcheck source=scripts/lib/cluster.sh
source scripts/lib/cluster.sh
# shellcheck source=scripts/faults/lib.sh
source scripts/faults/lib.sh

SLOW=${FAULT_SLOW_REQUESTS:-6}
READERS=${FAULT_READERS:-2}
PAD_BYTES=24576
RATE=6k

work=$(mktemp -d "${TMPDIR:-/tmp}/thidua-fault.XXXXXX")
cluster=""
cleanup() {
    touch "$work/stop" 2>/dev/null || true
    service_kill "${SERVICE_PID:-}"
    kill_jobs
    if [[ -n "$cluster" ]]; then cluster_remove "$cluster"; fi
    if [[ -n "${FAULT_KEEP:-}" ]]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cluster=$(cluster_init)
note "private cluster on port $(cluster_port "$cluster")"
service_start "$work/service.log" "$work" "$(cluster_url "$cluster" thidua)" THIDUA_WORKERS=2
note "thidua pid $SERVICE_PID on port $SERVICE_PORT"
token=$(login "$SERVICE_BASE" myhoa.manager manager-demo-2022)
demo_ids "$SERVICE_BASE" "$token"
run="sigterm-$$"

# slow N: one pledge creation whose body trickles in; "<status> <curl exit> <start ns> <end ns>".
slow() {
    local n=$1 start answer rc=0
    pledge_body "$run-$n" "$PAD_BYTES" >"$work/slow-body.$n"
    start=$(date +%s%N)
    answer=$(curl -s -o /dev/null --max-time 60 --limit-rate "$RATE" -w '%{http_code}' \
        -X POST "$SERVICE_BASE/pledges" -H "Authorization: Bearer $token" -H 'Expect:' \
        -H 'Content-Type: application/json' -H "Idempotency-Key: $(uuid)" \
        --data-binary "@$work/slow-body.$n") || rc=$?
    printf '%s %s %s %s\n' "$answer" "$rc" "$start" "$(date +%s%N)" >"$work/slow.$n"
}

# reader N: GET /me until told to stop; "<status> <curl exit> <start ns> <end ns>" per request.
reader() {
    local n=$1 start answer rc
    while [[ ! -f "$work/stop" ]]; do
        start=$(date +%s%N)
        rc=0
        answer=$(curl -s -o /dev/null --max-time 10 -w '%{http_code}' "$SERVICE_BASE/me" \
            -H "Authorization: Bearer $token") || rc=$?
        printf '%s %s %s %s\n' "$answer" "$rc" "$start" "$(date +%s%N)" >>"$work/reads.$n"
        sleep 0.02
    done
}

connections() {
    ss -Htn state established "( sport = :${SERVICE_PORT} )" | wc -l
}

for ((n = 1; n <= SLOW; n++)); do
    slow "$n" &
done
for ((waited = 0; waited < 100; waited++)); do
    (($(connections) >= SLOW)) && break
    sleep 0.1
done
(($(connections) >= SLOW)) || fail "the slow uploads did not connect"
readers=()
for ((n = 1; n <= READERS; n++)); do
    reader "$n" &
    readers+=($!)
done
sleep 1

term_ns=$(date +%s%N)
kill -TERM "$SERVICE_PID"
sleep 0.3
probe_rc=0
curl -s -o /dev/null --max-time 3 "http://127.0.0.1:${SERVICE_PORT}/healthz" || probe_rc=$?
alive_during_probe=no
kill -0 "$SERVICE_PID" 2>/dev/null && alive_during_probe=yes
in_flight_at_probe=$(connections)

status=0
wait "$SERVICE_PID" || status=$?
exit_ns=$(date +%s%N)
touch "$work/stop"
for pid in "${readers[@]}"; do
    wait "$pid"
done
wait # the slow uploads

# --- checks -----------------------------------------------------------------------------------
cat "$work"/slow.* >"$work/slow"
cat "$work"/reads.* >"$work/reads"
slow_ok=$(awk -v t="$term_ns" '$1 == 201 && $3 < t && $4 > t' "$work/slow" | wc -l)
slow_bad=$(awk -v t="$term_ns" '!($1 == 201 && $3 < t && $4 > t)' "$work/slow")
reads=$(wc -l <"$work/reads")
reads_ok_before=$(awk -v t="$term_ns" '$1 == 200 && $3 < t' "$work/reads" | wc -l)
reads_answered_after=$(awk -v t="$term_ns" '$1 != "000" && $3 > t' "$work/reads" | wc -l)
reads_refused=$(awk '$1 == "000" && $2 == 7' "$work/reads" | wc -l)
reads_other_failures=$(awk '$1 == "000" && $2 != 7' "$work/reads" | wc -l)
reads_non_2xx=$(awk '$1 != "000" && $1 !~ /^2/' "$work/reads")
stored=$(cluster_psql "$cluster" thidua "SELECT count(*) FROM pledges WHERE title LIKE '${run}-%'")

note "SIGTERM after $(((term_ns - $(head -n 1 "$work/slow" | awk '{print $3}')) / 1000000)) ms of upload; exit $status after $(((exit_ns - term_ns) / 1000000)) ms"
note "slow requests in flight at SIGTERM answered 201: $slow_ok of $SLOW; pledges stored: $stored"
note "new connection 300 ms after SIGTERM: curl exit $probe_rc (7 = refused), process alive: $alive_during_probe, connections still open: $in_flight_at_probe"
note "quick reads: $reads in all, $reads_ok_before 200 before SIGTERM, $reads_answered_after answered after it, $reads_refused refused, $reads_other_failures other connection failures"

((slow_ok == SLOW)) || fail "slow requests not completed with 201 across SIGTERM (status curl-exit start end):"$'\n'"$slow_bad"
((stored == SLOW)) || fail "$stored of $SLOW slow pledges stored"
((probe_rc == 7)) || fail "a new connection after SIGTERM was not refused (curl exit $probe_rc)"
[[ "$alive_during_probe" == yes ]] || fail "the process had already exited when the refusal was probed (nothing was draining)"
[[ -z "$reads_non_2xx" ]] || fail "requests answered with a non-2xx status:"$'\n'"$reads_non_2xx"
((reads_ok_before > 0)) || fail "the quick readers never got an answer before SIGTERM"
((reads_refused > 0)) || fail "no quick reader saw a refused connection after SIGTERM"
((status == 0)) || { tail -n 20 "$work/service.log" >&2; fail "thidua exited with status $status after SIGTERM (expected 0)"; }
echo "sigterm: OK"
