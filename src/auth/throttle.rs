//! Password-guess throttling (logins and password changes) kept in PostgreSQL, so every
//! instance sees the same failure counts.
//!
//! Failures are counted twice (OWASP Authentication Cheat Sheet, "account lockout"): per
//! account *and client address* (`THIDUA_LOGIN_MAX_FAILURES`, 5 by default), so an attacker
//! elsewhere locks only their own address out of the account, never its owner; and per account
//! over all addresses (`THIDUA_LOGIN_MAX_FAILURES_PER_ACCOUNT`, 50 by default), the bound a
//! distributed guesser still meets. Either count reaching its limit within the lockout window
//! locks for the lockout duration (429 with `Retry-After`). An attempt is counted *before* its
//! password is checked, so a burst of concurrent guesses gets no more checks than the limits
//! allow. A success forgets the failures of its own address only: the owner logging in must not
//! hand a distributed guesser a fresh account-wide budget.

use std::net::IpAddr;
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

/// The limits of one kind of password check.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Failures of one account from one client address.
    pub per_address: u32,
    /// Failures of one account from all addresses together.
    pub per_account: u32,
    pub lockout: Duration,
}

impl Limits {
    pub fn from_settings(settings: &crate::config::Settings) -> Self {
        Self {
            per_address: settings.login_max_failures,
            per_account: settings.login_max_failures_per_account,
            lockout: settings.login_lockout,
        }
    }
}

/// The two counters of `account_key` from `address`: (account and address, account alone).
/// Valid usernames hold no `@`, so the first never equals an account's own key.
pub fn keys(account_key: &str, address: Option<IpAddr>) -> (String, String) {
    let address = address.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
    (format!("{account_key}@{address}"), account_key.to_owned())
}

/// Counts one attempt on `account_key` from `address`, unless either counter is locked or has
/// its window's attempts used up. Call before checking the password; then [`record_failure`]
/// or [`clear`].
pub async fn begin_attempt(
    conn: &mut AsyncPgConnection,
    account_key: &str,
    address: Option<IpAddr>,
    limits: Limits,
) -> QueryResult<Attempt> {
    let (from_address, account) = keys(account_key, address);
    // The address's own counter first: an address already locked out spends nothing of the
    // account-wide budget.
    let attempt = begin_key(conn, &from_address, limits.per_address, limits.lockout).await?;
    if attempt != Attempt::Allowed {
        return Ok(attempt);
    }
    begin_key(conn, &account, limits.per_account, limits.lockout).await
}

/// Records that an attempt counted by [`begin_attempt`] failed; returns the lock expiry when
/// either counter locks now.
pub async fn record_failure(
    conn: &mut AsyncPgConnection,
    account_key: &str,
    address: Option<IpAddr>,
    limits: Limits,
) -> QueryResult<Option<DateTime<Utc>>> {
    let (from_address, account) = keys(account_key, address);
    let first = record_key_failure(conn, &from_address, limits.per_address, limits.lockout).await?;
    let second = record_key_failure(conn, &account, limits.per_account, limits.lockout).await?;
    Ok(first.max(second))
}

/// Forgets the failures of `account_key` from `address` after a successful check.
pub async fn clear(
    conn: &mut AsyncPgConnection,
    account_key: &str,
    address: Option<IpAddr>,
) -> QueryResult<()> {
    let (from_address, _) = keys(account_key, address);
    clear_key(conn, &from_address).await
}

/// Counts one attempt for the counter `account_key`, unless it is locked or the window's
/// attempts are used up.
async fn begin_key(
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

/// Records that an attempt counted by [`begin_key`] failed: locks the counter once the
/// window's attempts are used up. Returns the lock expiry when it is locked now.
async fn record_key_failure(
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

async fn clear_key(conn: &mut AsyncPgConnection, account_key: &str) -> QueryResult<()> {
    diesel::delete(login_throttle::table.find(account_key))
        .execute(conn)
        .await?;
    Ok(())
}
