//! Login throttling kept in PostgreSQL, so every instance sees the same failure counts.
//!
//! After `max_failures` failed logins for one account within the lockout window, the account
//! is locked for the lockout duration; the token endpoint answers 429 with `Retry-After`.
//! An attempt is counted *before* its password is checked, so a burst of concurrent guesses
//! gets no more checks than the limit allows.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Integer, Nullable, Text, Timestamptz};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use crate::db::schema::login_throttle;

/// Whether a login attempt may check its password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    Allowed,
    /// Locked, or as many attempts as allowed are already counted: retry after this many seconds.
    Refused {
        retry_after: u64,
    },
}

/// Counts one attempt for `account_key`, unless the account is locked or the window's
/// attempts are used up. Call before checking the password; then [`record_failure`] or
/// [`clear`].
pub async fn begin_attempt(
    conn: &mut AsyncPgConnection,
    account_key: &str,
    max_failures: u32,
    lockout: Duration,
) -> QueryResult<Attempt> {
    let max_failures = i32::try_from(max_failures).unwrap_or(i32::MAX);
    let lockout = chrono::Duration::from_std(lockout).unwrap_or(chrono::Duration::minutes(15));
    let key = account_key.to_owned();
    conn.transaction::<_, diesel::result::Error, _>(async move |conn| {
        diesel::insert_into(login_throttle::table)
            .values((
                login_throttle::account_key.eq(&key),
                login_throttle::failures.eq(0),
                login_throttle::window_start.eq(diesel::dsl::now),
            ))
            .on_conflict_do_nothing()
            .execute(conn)
            .await?;
        // The row lock serializes concurrent attempts on one account (across instances too).
        let (failures, window_start, locked_until): (i32, DateTime<Utc>, Option<DateTime<Utc>>) =
            login_throttle::table
                .find(&key)
                .select((
                    login_throttle::failures,
                    login_throttle::window_start,
                    login_throttle::locked_until,
                ))
                .for_update()
                .first(conn)
                .await?;
        let now = Utc::now();
        if let Some(until) = locked_until.filter(|until| *until > now) {
            return Ok(Attempt::Refused {
                retry_after: seconds_until(until, now),
            });
        }
        // An expired lock or window starts a new window.
        let fresh = locked_until.is_some() || window_start + lockout <= now;
        let (failures, window_start) = if fresh {
            (0, now)
        } else {
            (failures, window_start)
        };
        if failures >= max_failures {
            // Attempts still in flight hold every try of this window.
            return Ok(Attempt::Refused {
                retry_after: seconds_until(window_start + lockout, now),
            });
        }
        diesel::update(login_throttle::table.find(&key))
            .set((
                login_throttle::failures.eq(failures + 1),
                login_throttle::window_start.eq(window_start),
                login_throttle::locked_until.eq(None::<DateTime<Utc>>),
            ))
            .execute(conn)
            .await?;
        Ok(Attempt::Allowed)
    })
    .await
}

fn seconds_until(until: DateTime<Utc>, now: DateTime<Utc>) -> u64 {
    u64::try_from((until - now).num_seconds().max(1)).unwrap_or(1)
}

#[derive(QueryableByName)]
struct ThrottleState {
    #[diesel(sql_type = Nullable<Timestamptz>)]
    locked_until: Option<DateTime<Utc>>,
}

/// Records that an attempt counted by [`begin_attempt`] failed: locks the account once the
/// window's attempts are used up. Returns the lock expiry when the account is locked now.
pub async fn record_failure(
    conn: &mut AsyncPgConnection,
    account_key: &str,
    max_failures: u32,
    lockout: Duration,
) -> QueryResult<Option<DateTime<Utc>>> {
    let state: Option<ThrottleState> = diesel::sql_query(
        "UPDATE login_throttle SET locked_until = CASE WHEN failures >= $2 \
             THEN greatest(locked_until, now() + make_interval(secs => $3)) \
             ELSE locked_until END \
         WHERE account_key = $1 \
         RETURNING locked_until",
    )
    .bind::<Text, _>(account_key)
    .bind::<Integer, _>(i32::try_from(max_failures).unwrap_or(i32::MAX))
    .bind::<Integer, _>(i32::try_from(lockout.as_secs()).unwrap_or(i32::MAX))
    .get_result(conn)
    .await
    .optional()?;
    Ok(state
        .and_then(|state| state.locked_until)
        .filter(|until| *until > Utc::now()))
}

/// Forgets the failures of `account_key` after a successful login.
pub async fn clear(conn: &mut AsyncPgConnection, account_key: &str) -> QueryResult<()> {
    diesel::delete(login_throttle::table.find(account_key))
        .execute(conn)
        .await?;
    Ok(())
}
