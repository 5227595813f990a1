#!/usr/bin/env bash
# DATABASE_REPLICA_URL against a real streaming replica (issue 8).
#
# A private primary (initdb) and a hot standby made from it by `pg_basebackup -R` (standby.signal
# and primary_conninfo), each on its own port; never the shared 127.0.0.1:5432. One
# `thidua serve --demo` writes to the primary and reads lists and aggregates from the replica,
# each pool tagged by application_name. Required:
#   - the service's replica-pool sessions are on the replica, its primary-pool sessions on the
#     primary, and neither on the other server;
#   - the replica's committed-transaction counter grows by at least one per list/stats request;
#   - with replay paused on the replica, creations still succeed (writes go to the primary and
#     are there), yet lists and stats do not show them (reads come from the replica); after
#     replay resumes they do.
#
#   scripts/faults/replica.sh     (needs a built target/debug/thidua; root or the postgres user)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# shellcheck source=scripts/lib/cluster.sh
source scripts/lib/cluster.sh
# shellcheck source=scripts/faults/lib.sh
source scripts/faults/lib.sh

YEAR=2026        # the demo leaves Mỹ Chánh Hòa without 2026 pledges; this script writes them
WRITES=3
READS=20

work=$(mktemp -d "${TMPDIR:-/tmp}/thidua-fault.XXXXXX")
primary=""
replica=""
cleanup() {
    service_kill "${SERVICE_PID:-}"
    kill_jobs
    if [[ -n "$replica" ]]; then cluster_remove "$replica"; fi
    if [[ -n "$primary" ]]; then cluster_remove "$primary"; fi
    if [[ -n "${FAULT_KEEP:-}" ]]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

primary=$(cluster_init)
replica=$(cluster_replica "$primary")
note "primary on port $(cluster_port "$primary"), streaming replica on port $(cluster_port "$replica")"
[[ $(cluster_psql "$replica" postgres "SELECT pg_is_in_recovery()") == t ]] || fail "the replica is not in recovery"
[[ $(cluster_psql "$primary" postgres "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'") == 1 ]] \
    || fail "the primary has no streaming standby"

service_start "$work/service.log" "$work" \
    "$(cluster_url "$primary" thidua)?application_name=thidua-primary" \
    DATABASE_REPLICA_URL="$(cluster_url "$replica" thidua)?application_name=thidua-replica" \
    THIDUA_WORKERS=2 THIDUA_DB_POOL_SIZE=4
note "thidua pid $SERVICE_PID on port $SERVICE_PORT"

# Waits (up to 30 s) until the replica has replayed everything the primary has written so far.
wait_replay() {
    local lsn waited
    lsn=$(cluster_psql "$primary" postgres "SELECT pg_current_wal_lsn()")
    for ((waited = 0; waited < 300; waited++)); do
        if [[ $(cluster_psql "$replica" postgres "SELECT pg_last_wal_replay_lsn() >= '$lsn'::pg_lsn") == t ]]; then
            return 0
        fi
        sleep 0.1
    done
    fail "the replica did not replay up to $lsn within 30 s"
}

# GET PATH: the body of a 200 answer (fails on anything else).
get() {
    local answer status
    answer=$(curl -sS --max-time 30 -w '\n%{http_code}' "$SERVICE_BASE$1" -H "Authorization: Bearer $token")
    status=${answer##*$'\n'}
    [[ "$status" == 200 ]] || fail "GET $1 → $status ${answer%$'\n'*}"
    printf '%s' "${answer%$'\n'*}"
}

sessions() { # sessions SERVER APPLICATION_NAME
    cluster_psql "$1" postgres "SELECT count(*) FROM pg_stat_activity WHERE application_name = '$2'"
}

commits() { # committed transactions in database thidua on SERVER
    cluster_psql "$1" postgres "SELECT xact_commit FROM pg_stat_database WHERE datname = 'thidua'"
}

wait_replay # the demo data
token=$(login "$SERVICE_BASE" bt.manager manager-demo-2022)
demo_ids "$SERVICE_BASE" "$token"
pledges_path="/pledges?organization_id=$COMMUNE&year=$YEAR&limit=200"
listed() { get "$pledges_path" | jq -er '.items | length'; }
stats_total() { get "/stats/pledges?organization_id=$COMMUNE&campaign_id=$CAMPAIGN&year=$YEAR&group_by=status" | jq -er '[.groups[].total] | add // 0'; }

# 1. Which server each pool talks to.
for ((i = 0; i < 3; i++)); do listed >/dev/null; done
on_replica=$(sessions "$replica" thidua-replica)
primary_pool_on_replica=$(sessions "$replica" thidua-primary)
on_primary=$(sessions "$primary" thidua-primary)
replica_pool_on_primary=$(sessions "$primary" thidua-replica)
note "sessions: replica pool → replica $on_replica, primary $replica_pool_on_primary; primary pool → primary $on_primary, replica $primary_pool_on_replica"
((on_replica >= 1)) || fail "no session of the replica pool on the replica"
((replica_pool_on_primary == 0)) || fail "the replica pool has $replica_pool_on_primary sessions on the primary"
((on_primary >= 1)) || fail "no session of the primary pool on the primary"
((primary_pool_on_replica == 0)) || fail "the primary pool has $primary_pool_on_replica sessions on the replica"

# 2. The replica's transaction counter moves with reads. Backends publish their statistics at
#    most once a second, so the counter is read once it is steady, and after the reads it is
#    given up to 20 s to rise.
steady_commits() {
    local before after
    after=$(commits "$replica")
    for ((i = 0; i < 20; i++)); do
        sleep 1.2
        before=$after
        after=$(commits "$replica")
        ((after == before)) && break
    done
    printf '%s\n' "$after"
}
replica_before=$(steady_commits)
for ((i = 0; i < READS / 2; i++)); do
    listed >/dev/null
    stats_total >/dev/null
done
for ((i = 0; i < 100; i++)); do
    replica_after=$(commits "$replica")
    ((replica_after - replica_before >= READS)) && break
    sleep 0.2
done
note "replica xact_commit in thidua: $replica_before → $replica_after for $READS list/stats requests"
((replica_after - replica_before >= READS)) || fail "the replica committed $((replica_after - replica_before)) transactions for $READS reads"

# 3. Replay paused: writes land on the primary, reads do not see them until replay resumes.
wait_replay
listed_before=$(listed)
stats_before=$(stats_total)
cluster_psql "$replica" postgres "SELECT pg_wal_replay_pause()" >/dev/null
for ((i = 0; i < 50; i++)); do
    [[ $(cluster_psql "$replica" postgres "SELECT pg_get_wal_replay_pause_state()") == paused ]] && break
    sleep 0.1
done
[[ $(cluster_psql "$replica" postgres "SELECT pg_get_wal_replay_pause_state()") == paused ]] || fail "replay did not pause"

manager=$(login "$SERVICE_BASE" myhoa.manager manager-demo-2022)
for ((i = 1; i <= WRITES; i++)); do
    answer=$(curl -sS --max-time 30 -o "$work/created.$i" -w '%{http_code}' -X POST "$SERVICE_BASE/pledges" \
        -H "Authorization: Bearer $manager" -H 'Content-Type: application/json' \
        -H "Idempotency-Key: $(uuid)" \
        -d "{\"campaign_id\":\"$CAMPAIGN\",\"organization_id\":\"$COMMUNE\",\"year\":$YEAR,\"kind\":\"target\",\"field\":\"giam_ngheo\",\"title\":\"replica-$i\",\"deadline\":\"$YEAR-12-31\"}")
    [[ "$answer" == 201 ]] || fail "creation $i while replay is paused → $answer $(cat "$work/created.$i")"
done
on_primary_rows=$(cluster_psql "$primary" thidua "SELECT count(*) FROM pledges WHERE year = $YEAR AND organization_id = '$COMMUNE'")
on_replica_rows=$(cluster_psql "$replica" thidua "SELECT count(*) FROM pledges WHERE year = $YEAR AND organization_id = '$COMMUNE'")
listed_paused=$(listed)
stats_paused=$(stats_total)
first_id=$(jq -r .id "$work/created.1")
fresh_status=$(curl -s -o /dev/null -w '%{http_code}' --max-time 30 "$SERVICE_BASE/pledges/$first_id" -H "Authorization: Bearer $manager")
note "replay paused: $WRITES creations answered 201; rows on primary $on_primary_rows, on replica $on_replica_rows"
note "replay paused: list shows $listed_paused (was $listed_before), stats total $stats_paused (was $stats_before)"
note "replay paused: GET /pledges/{id} of a pledge just created answers $fresh_status (reads of one resource use the primary)"
[[ $fresh_status == 200 ]] || fail "GET /pledges/{id} right after its creation answered $fresh_status while the replica lags: reads of one resource must see the caller's writes"
((on_primary_rows == listed_before + WRITES)) || fail "the primary holds $on_primary_rows pledges of $YEAR, expected $((listed_before + WRITES))"
((on_replica_rows == listed_before)) || fail "the paused replica holds $on_replica_rows pledges of $YEAR, expected $listed_before"
((listed_paused == listed_before)) || fail "the list shows $listed_paused pledges while the replica is paused: it is not read from the replica"
((stats_paused == stats_before)) || fail "the stats count $stats_paused pledges while the replica is paused: they are not read from the replica"

cluster_psql "$replica" postgres "SELECT pg_wal_replay_resume()" >/dev/null
wait_replay
listed_after=$(listed)
stats_after=$(stats_total)
note "replay resumed: list shows $listed_after, stats total $stats_after"
((listed_after == listed_before + WRITES)) || fail "after replay the list shows $listed_after, expected $((listed_before + WRITES))"
((stats_after == stats_before + WRITES)) || fail "after replay the stats count $stats_after, expected $((stats_before + WRITES))"
echo "replica: OK"
