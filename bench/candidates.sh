#!/usr/bin/env bash
# What `GET /eligibility/candidates` costs over a province of 100 000 persons (issue 17), beside
# the physical limit measured in the same run (`pgbench -S -M prepared` at the service's pool
# size, docs/benchmarking.md).
#
#   bench/candidates.sh        BENCH_PERSONS (100000), BENCH_SECONDS (5 per scenario), and the
#                              BENCH_* of bench/lib.sh (a small generated tree by default)
#
# The tree is `thidua generate` on the real 2025 structure; the persons, their 2025 records,
# registrations and the awards of 2023–2024 are added with SQL to the communes of its first
# province: 60 % rated hoàn thành tốt, 15 % xuất sắc (all register chiến sĩ thi đua cơ sở, a
# third of them chiến sĩ thi đua tỉnh with the two earlier years awarded), 20 % hoàn thành,
# 5 % không hoàn thành; everyone registers lao động tiên tiến.
set -euo pipefail
export BENCH_DB=${BENCH_DB:-thidua_bench_titles} BENCH_ORGS=${BENCH_ORGS:-2000}
export BENCH_PLEDGES=${BENCH_PLEDGES:-10000} BENCH_OUT=${BENCH_OUT:-bench/out/titles}
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PERSONS=${BENCH_PERSONS:-100000}
SECONDS_PER_RUN=${BENCH_SECONDS:-5}

install_tools
build_release
prepare_data
PROVINCE=$(head -n 1 "$OUT/province.txt")
PROVINCE_PATH=$(psql_bench -c "SELECT path FROM organizations WHERE id = '$PROVINCE'")
present=$(psql_bench -c "SELECT count(*) FROM persons p JOIN organizations o ON o.id = p.organization_id WHERE o.path LIKE '$PROVINCE_PATH%'")
if [ "$present" -lt "$PERSONS" ]; then
  log "adding $PERSONS persons with their records, registrations and awards"
  psql_bench <<SQL
DELETE FROM awards; DELETE FROM title_registrations; DELETE FROM year_records; DELETE FROM persons;
WITH communes AS (
  SELECT array_agg(id ORDER BY id) AS ids FROM organizations
  WHERE path LIKE '$PROVINCE_PATH%' AND kind IN ('commune', 'ward'))
INSERT INTO persons (id, organization_id, full_name, position)
  SELECT gen_random_uuid(), ids[1 + g % array_length(ids, 1)], 'Cán bộ số ' || g, 'Công chức'
  FROM generate_series(1, $PERSONS) AS g, communes;
CREATE TEMP TABLE rated AS
  SELECT id, CASE WHEN r < 0.15 THEN 'hoan_thanh_xuat_sac' WHEN r < 0.75 THEN 'hoan_thanh_tot'
                  WHEN r < 0.95 THEN 'hoan_thanh' ELSE 'khong_hoan_thanh' END AS rating, r
  FROM (SELECT id, random() AS r FROM persons) s;
INSERT INTO year_records (person_id, year, completion_rating, initiative)
  SELECT id, 2025, rating, CASE WHEN r < 0.05 THEN 'Sáng kiến ' || left(id::text, 8) END FROM rated;
INSERT INTO title_registrations (id, person_id, title_code, year)
  SELECT gen_random_uuid(), id, 'lao_dong_tien_tien', 2025 FROM rated;
INSERT INTO title_registrations (id, person_id, title_code, year)
  SELECT gen_random_uuid(), id, 'chien_si_thi_dua_co_so', 2025 FROM rated WHERE r < 0.15;
INSERT INTO title_registrations (id, person_id, title_code, year)
  SELECT gen_random_uuid(), id, 'chien_si_thi_dua_tinh', 2025 FROM rated WHERE r < 0.05;
INSERT INTO awards (id, person_id, title_code, year)
  SELECT gen_random_uuid(), id, t, y FROM rated,
    unnest(ARRAY['lao_dong_tien_tien', 'chien_si_thi_dua_co_so']) AS t, unnest(ARRAY[2023, 2024]) AS y
  WHERE r < 0.05;
ANALYZE persons, year_records, title_registrations, awards;
SQL
fi
COMMUNE=$(psql_bench -c "SELECT p.organization_id FROM persons p JOIN organizations o ON o.id = p.organization_id WHERE o.path LIKE '$PROVINCE_PATH%' GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")
PERSON=$(psql_bench -c "SELECT person_id FROM title_registrations WHERE title_code = 'chien_si_thi_dua_tinh' LIMIT 1")

start_service
refresh_token
results="$OUT/candidates.tsv"
: > "$results"
measure() { # measure NAME PATH
  local file="$OUT/$1.wrk.txt"
  wrk -t 2 -c "$POOL" -d "${SECONDS_PER_RUN}s" --timeout 30s --latency \
    -H "Authorization: Bearer $(cat "$OUT/token")" "$BASE$2" > "$file" 2>&1 || true
  local rps p50 non2xx
  rps=$(awk '/^Requests\/sec/ {print $2}' "$file")
  p50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$file")")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$file")
  printf '%s\t%s\t%s\t%s\n' "$1" "${rps:-0}" "$p50" "${non2xx:-0}" >> "$results"
  log "$(printf '%-28s %9s req/s  p50 %8s ms  non-2xx %s' "$1" "${rps:-0}" "$p50" "${non2xx:-0}")"
}
Q="organization_id=$PROVINCE&year=2025"
measure candidates_province_ldtt "/api/v1/eligibility/candidates?$Q&title_code=lao_dong_tien_tien"
measure candidates_province_cstdt "/api/v1/eligibility/candidates?$Q&title_code=chien_si_thi_dua_tinh"
measure candidates_province_ineligible "/api/v1/eligibility/candidates?$Q&title_code=lao_dong_tien_tien&eligible=false"
measure candidates_commune_ldtt "/api/v1/eligibility/candidates?organization_id=$COMMUNE&year=2025&title_code=lao_dong_tien_tien"
measure eligibility_person "/api/v1/eligibility?subject_type=person&subject_id=$PERSON&title_code=chien_si_thi_dua_tinh&year=2025"
stop_service

# The physical limit beside it: the simplest single-row read over TCP at the pool size.
psql_on "$PG_URL/postgres" -c "DROP DATABASE IF EXISTS thidua_bench_pgbench" -c "CREATE DATABASE thidua_bench_pgbench"
pgbench -i -q -s 10 "$PG_URL/thidua_bench_pgbench" >/dev/null 2>&1
prefix="$OUT/pgbench_log"
rm -f "$prefix".*
pgbench -n -S -M prepared -c "$POOL" -j 2 -T "$SECONDS_PER_RUN" -l --log-prefix="$prefix" \
  "$PG_URL/thidua_bench_pgbench" > "$OUT/pgbench.txt" 2>&1
pg_tps=$(awk '/^tps = / {print $3}' "$OUT/pgbench.txt")
pg_p50=$(cat "$prefix".* | awk '{print $3}' | sort -n | awk '{a[NR] = $1} END {printf "%.3f", a[int(NR / 2) + 1] / 1000}')
rm -f "$prefix".*
psql_on "$PG_URL/postgres" -c "DROP DATABASE thidua_bench_pgbench"

{
  echo "| scenario ($PERSONS persons in the province, $(date -u +%F)) | req/s | p50 ms | p50 / pgbench -S p50 | non-2xx |"
  echo "|---|---|---|---|---|"
  while IFS=$'\t' read -r name rps p50 non2xx; do
    printf '| %s | %s | %s | %s | %s |\n' "$name" "$rps" "$p50" \
      "$(awk -v a="$p50" -v b="$pg_p50" 'BEGIN {printf "%.1f", a / b}')" "$non2xx"
  done < "$results"
  printf '| pgbench -S -M prepared (%s connections) | %s | %s | 1 | – |\n' "$POOL" "$pg_tps" "$pg_p50"
} | tee "$OUT/candidates.md"
