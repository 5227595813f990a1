#!/usr/bin/env bash
# Where the service's CPU goes per request: the release service under valgrind's callgrind
# (instruction counts; this machine's perf has no hardware counters), BENCH_PROFILE_REQUESTS
# requests of one path sent one at a time, then the functions with the most inclusive
# instructions, divided by the requests.
#
#   bench/profile.sh /healthz
#   bench/profile.sh '/api/v1/pledges/{id}'      # {id}: the first sampled pledge id
#
# Uses bench/run.sh's data set and settings (BENCH_DB, BENCH_BIN, ...); run bench/run.sh once
# first. Outputs go to bench/out/profile/.
set -euo pipefail
export BENCH_OUT=${BENCH_OUT:-bench/out}
source "$(dirname "$0")/lib.sh"
REQUESTS=${BENCH_PROFILE_REQUESTS:-2000}
TARGET=${1:-/healthz}
mkdir -p "$OUT/profile"
command -v valgrind >/dev/null || apt-get install -y valgrind >/dev/null
[ -x "$BIN" ] || build_release
prepare_data >/dev/null 2>&1 || true
[ -f "$OUT/jwt.pem" ] || openssl genpkey -algorithm ed25519 -out "$OUT/jwt.pem"
name=$(echo "$TARGET" | tr -c 'a-z0-9\n' '_' | sed 's/^_*//')
out="$OUT/profile/$name.callgrind"
(
  export DATABASE_URL="$DB_URL" THIDUA_BIND="127.0.0.1:$PORT" THIDUA_DB_POOL_SIZE=$POOL \
    THIDUA_JWT_PRIVATE_KEY_FILE="$OUT/jwt.pem" THIDUA_LOG_FORMAT=json THIDUA_WORKERS=1 \
    THIDUA_RATE_LIMIT_PER_IP=0 THIDUA_RATE_LIMIT_PER_PRINCIPAL=0
  exec valgrind --tool=callgrind --callgrind-out-file="$out" --instr-atstart=no \
    "$BIN" serve
) > "$OUT/profile/service.log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do curl -fsS "$BASE/healthz" >/dev/null 2>&1 && break; sleep 0.5; done
refresh_token
path=${TARGET//\{id\}/$(head -n 1 "$OUT/pledge_ids.txt" 2>/dev/null)}
# Warm up (token cache, prepared statements), then count only the measured requests.
for _ in $(seq 1 50); do curl -fsS -o /dev/null -H "Authorization: Bearer $(cat "$OUT/token")" "$BASE$path"; done
callgrind_control -i on "$pid" >/dev/null
for _ in $(seq 1 "$REQUESTS"); do echo "url = \"$BASE$path\""; echo "output = /dev/null"; done > "$OUT/profile/curl.cfg"
curl -fsS -H "Authorization: Bearer $(cat "$OUT/token")" -K "$OUT/profile/curl.cfg"
callgrind_control -i off "$pid" >/dev/null
kill "$pid"; wait "$pid" 2>/dev/null || true
total=$(callgrind_annotate "$out"* 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
echo "$TARGET: $(awk -v t="$total" -v n="$REQUESTS" 'BEGIN {printf "%.0f", t / n}') instructions per request ($REQUESTS requests)"
callgrind_annotate --inclusive=yes "$out"* 2>/dev/null | sed -n '/^Ir/,$p' | head -45
