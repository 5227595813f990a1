//! Login throttling kept in PostgreSQL, so every instance sees the same failure counts.
//!
//! After `max_failures` failed logins for one account within the lockout window, the account
//! is locked for the lockout duration; the token endpoint answers 429 with `Retry-After`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Integer, Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::schema::login_throttle;

/// Seconds until `account_key` may try again, when it is locked now.
pub async fn locked_for(
    conn: &mut AsyncPgConnection,
    account_key: &str,
) -> QueryResult<Option<u64>> {
    let locked_until: Option<Option<DateTime<Utc>>> = login_throttle::table
        .find(account_key)
        .select(login_throttle::locked_until)
        .first(conn)
        .await
        .optional()?;
    Ok(locked_until
        .flatten()
        .map(|until| (until - Utc::now()).num_seconds())
        .filter(|seconds| *seconds > 0)
        .map(|seconds| u64::try_from(seconds).unwrap_or(1)))
}

#[derive(QueryableByName)]
struct ThrottleState {
    #[diesel(sql_type = Nullable<Timestamptz>)]
    locked_until: Option<DateTime<Utc>>,
}

/// Counts one failure atomically (one statement, safe across instances); returns the lock
/// expiry when the account is locked after it.
pub async fn record_failure(
    conn: &mut AsyncPgConnection,
    account_key: &str,
    max_failures: u32,
    lockout: Duration,
) -> QueryResult<Option<DateTime<Utc>>> {
    let state: ThrottleState = diesel::sql_query(
        "WITH settings AS (SELECT make_interval(secs => $3) AS lockout) \
         INSERT INTO login_throttle AS t (account_key, failures, window_start, locked_until) \
         SELECT $1, 1, now(), CASE WHEN 1 >= $2 THEN now() + lockout END FROM settings \
         ON CONFLICT (account_key) DO UPDATE SET \
           failures = CASE WHEN t.window_start < now() - make_interval(secs => $3) \
                           THEN 1 ELSE t.failures + 1 END, \
           window_start = CASE WHEN t.window_start < now() - make_interval(secs => $3) \
                               THEN now() ELSE t.window_start END, \
           locked_until = CASE \
             WHEN (CASE WHEN t.window_start < now() - make_interval(secs => $3) \
                        THEN 1 ELSE t.failures + 1 END) >= $2 \
             THEN now() + make_interval(secs => $3) ELSE t.locked_until END \
         RETURNING t.locked_until",
    )
    .bind::<Text, _>(account_key)
    .bind::<Integer, _>(i32::try_from(max_failures).unwrap_or(i32::MAX))
    .bind::<Integer, _>(i32::try_from(lockout.as_secs()).unwrap_or(i32::MAX))
    .get_result(conn)
    .await?;
    Ok(state.locked_until.filter(|until| *until > Utc::now()))
}

/// Forgets the failures of `account_key` after a successful login.
pub async fn clear(conn: &mut AsyncPgConnection, account_key: &str) -> QueryResult<()> {
    diesel::delete(login_throttle::table.find(account_key))
        .execute(conn)
        .await?;
    Ok(())
}
