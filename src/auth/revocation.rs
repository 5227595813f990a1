//! Access-token revocation: a "not valid before" time per principal (user or partner client)
//! and per session (refresh-token family), kept in PostgreSQL and mirrored in every instance's
//! memory, so a revoked token is refused on every route without a query per request.
//!
//! Disabling a user, changing a password and deleting a client set the principal's time;
//! logout and a reused refresh token set the session's. An access token issued before either
//! time is refused by the `Principal` extractor (401 `invalid_token`).
//!
//! Each instance loads the entries that can still matter (younger than the longest access-token
//! lifetime) when it starts, then keeps its copy current two ways: `LISTEN` on a dedicated
//! connection (reconnected after a failure) applies a revocation within milliseconds, and a poll
//! every `THIDUA_REVOCATION_POLL_MS` re-reads the entries changed lately, so even a lost
//! notification or a broken listener delays a revocation by one poll interval at most. The
//! instance that revokes applies the entry to its own copy as soon as its transaction commits.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures_util::StreamExt;
use uuid::Uuid;

use super::tokens::AccessClaims;
use crate::config::MAX_ACCESS_TOKEN_TTL;
use crate::db::Databases;

/// The notification channel every instance listens on.
pub const CHANNEL: &str = "thidua_token_revocations";
/// A poll re-reads entries changed this long before the previous poll began: a revoking
/// transaction may commit a while after it wrote its row (its `changed_at`), and an entry it
/// commits late must not fall between two polls.
const POLL_OVERLAP: Duration = Duration::from_secs(30);
/// Entries are kept in memory this long past the longest token lifetime (clock leeway).
const KEEP_BEYOND_TTL: Duration = Duration::from_secs(60);
/// Wait before reconnecting a listener whose connection failed.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// Whether an entry ends every token of a principal or those of one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Principal,
    Session,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Principal => "principal",
            Kind::Session => "session",
        }
    }
}

/// One revocation written to the database: tokens of `subject` issued before `not_before`
/// are refused. Hand it to [`Revocations::apply`] once its transaction has committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "apply the revocation to this instance once the transaction commits"]
pub struct Revoked {
    pub subject: Uuid,
    /// Milliseconds since the Unix epoch.
    pub not_before_ms: i64,
}

/// This instance's copy of the recent revocations.
#[derive(Debug, Default)]
pub struct Revocations {
    /// Subject (principal or session id) → not-before, in milliseconds since the epoch.
    entries: RwLock<HashMap<Uuid, i64>>,
    /// False until the entries were read from the database once: tokens are refused meanwhile.
    loaded: AtomicBool,
}

impl Revocations {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the copy was loaded from the database at least once.
    pub fn is_loaded(&self) -> bool {
        AtomicBool::load(&self.loaded, Ordering::Acquire)
    }

    /// Whether `claims` were issued before their principal's or their session's not-before.
    pub fn is_revoked(&self, claims: &AccessClaims) -> bool {
        let issued = claims.issued_at_ms();
        let Ok(entries) = self.entries.read() else {
            return true;
        };
        let before = |subject: &Uuid| entries.get(subject).is_some_and(|nb| issued < *nb);
        before(&claims.sub) || claims.sid.as_ref().is_some_and(before)
    }

    /// Records a revocation (keeping the later time when one is already known).
    pub fn apply(&self, revoked: Revoked) {
        if let Ok(mut entries) = self.entries.write() {
            let entry = entries.entry(revoked.subject).or_insert(i64::MIN);
            *entry = (*entry).max(revoked.not_before_ms);
        }
    }

    /// Forgets entries no unexpired token can be older than.
    fn prune(&self) {
        let horizon = Utc::now().timestamp_millis() - horizon_ms();
        if let Ok(mut entries) = self.entries.write() {
            entries.retain(|_, not_before| *not_before > horizon);
        }
    }

    /// Reads the entries changed since `since` (all recent ones when `None`) and applies them;
    /// returns the database time the read started, the `since` of the next read.
    pub async fn refresh(
        &self,
        conn: &mut AsyncPgConnection,
        since: Option<DateTime<Utc>>,
    ) -> QueryResult<DateTime<Utc>> {
        let rows: Vec<Row> = diesel::sql_query(
            "SELECT subject_id, not_before, now() AS read_at FROM token_revocations \
             WHERE changed_at >= $1 AND not_before > now() - make_interval(secs => $2) \
             UNION ALL SELECT NULL::uuid, NULL::timestamptz, now()",
        )
        .bind::<Timestamptz, _>(
            since.map_or(DateTime::<Utc>::UNIX_EPOCH, |since| since - overlap()),
        )
        .bind::<diesel::sql_types::Double, _>(horizon_ms() as f64 / 1000.0)
        .load(conn)
        .await?;
        let mut read_at = Utc::now();
        for row in rows {
            read_at = row.read_at;
            if let (Some(subject), Some(not_before)) = (row.subject_id, row.not_before) {
                self.apply(Revoked {
                    subject,
                    not_before_ms: not_before.timestamp_millis(),
                });
            }
        }
        self.loaded.store(true, Ordering::Release);
        Ok(read_at)
    }

    /// Loads the recent entries once (at start, before serving); a failure is logged and left
    /// to the poll, and authenticated requests are refused with 503 until it succeeds.
    pub async fn load(&self, db: &Databases) -> Option<DateTime<Utc>> {
        let result = match db.write().await {
            Ok(mut conn) => self
                .refresh(&mut conn, None)
                .await
                .map_err(|e| e.to_string()),
            Err(error) => Err(error.to_string()),
        };
        match result {
            Ok(read_at) => Some(read_at),
            Err(error) => {
                tracing::warn!(%error, "loading token revocations failed; retrying");
                None
            }
        }
    }

    /// Starts the listener and the poll on the current tokio runtime; both stop once the
    /// revocations are dropped. `since` is the time of the initial load, if it succeeded.
    pub fn start(
        self: &Arc<Self>,
        db: Databases,
        database_url: String,
        poll_every: Duration,
        since: Option<DateTime<Utc>>,
    ) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let weak = Arc::downgrade(self);
        runtime.spawn(async move {
            let mut since = since;
            let mut every = tokio::time::interval(poll_every);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            every.tick().await;
            loop {
                every.tick().await;
                let Some(revocations) = weak.upgrade() else {
                    break;
                };
                revocations.prune();
                let Ok(mut conn) = db.write().await else {
                    continue;
                };
                match revocations.refresh(&mut conn, since).await {
                    Ok(read_at) => since = Some(read_at),
                    Err(error) => tracing::warn!(%error, "polling token revocations failed"),
                }
            }
        });
        let weak = Arc::downgrade(self);
        runtime.spawn(async move {
            loop {
                if weak.strong_count() == 0 {
                    break;
                }
                if let Err(error) = listen(&weak, &database_url).await {
                    tracing::warn!(%error, "token revocation listener failed; reconnecting");
                }
                tokio::time::sleep(RECONNECT_AFTER).await;
            }
        });
    }
}

/// Listens on [`CHANNEL`] until the connection fails or the revocations are dropped.
async fn listen(
    revocations: &std::sync::Weak<Revocations>,
    database_url: &str,
) -> anyhow::Result<()> {
    let (client, mut connection) =
        tokio_postgres::connect(database_url, tokio_postgres::NoTls).await?;
    let (sender, mut notifications) = tokio::sync::mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(tokio_postgres::AsyncMessage::Notification(notification)) => {
                    if sender.send(notification.payload().to_owned()).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    });
    client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
    while let Some(payload) = notifications.recv().await {
        let Some(target) = revocations.upgrade() else {
            break;
        };
        match parse_payload(&payload) {
            Some(revoked) => target.apply(revoked),
            None => tracing::warn!(payload, "unreadable token revocation notification"),
        }
    }
    driver.abort();
    match driver.await {
        Ok(Err(error)) => Err(error.into()),
        _ => Ok(()),
    }
}

/// `<uuid> <milliseconds>`, as [`revoke`] sends it.
fn parse_payload(payload: &str) -> Option<Revoked> {
    let (subject, not_before) = payload.split_once(' ')?;
    Some(Revoked {
        subject: Uuid::parse_str(subject).ok()?,
        not_before_ms: not_before.parse().ok()?,
    })
}

fn horizon_ms() -> i64 {
    i64::try_from((MAX_ACCESS_TOKEN_TTL + KEEP_BEYOND_TTL).as_millis()).unwrap_or(i64::MAX)
}

fn overlap() -> chrono::Duration {
    chrono::Duration::from_std(POLL_OVERLAP).unwrap_or(chrono::Duration::seconds(30))
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = diesel::sql_types::Nullable<SqlUuid>)]
    subject_id: Option<Uuid>,
    #[diesel(sql_type = diesel::sql_types::Nullable<Timestamptz>)]
    not_before: Option<DateTime<Utc>>,
    #[diesel(sql_type = Timestamptz)]
    read_at: DateTime<Utc>,
}

/// Refuses, from now on, the access tokens of `subject` issued until now, and notifies every
/// instance (at commit: call inside the transaction of the change that causes it).
pub async fn revoke(
    conn: &mut AsyncPgConnection,
    subject: Uuid,
    kind: Kind,
) -> QueryResult<Revoked> {
    let not_before = Utc::now();
    // Milliseconds, as tokens carry their issue time; rounded up so that a token issued in the
    // same millisecond before the revocation is refused too.
    let not_before_ms = not_before.timestamp_millis() + 1;
    let stored = DateTime::<Utc>::from_timestamp_millis(not_before_ms).unwrap_or(not_before);
    diesel::sql_query(
        "INSERT INTO token_revocations (subject_id, kind, not_before, changed_at) \
         VALUES ($1, $2, $3, clock_timestamp()) \
         ON CONFLICT (subject_id) DO UPDATE SET \
             not_before = greatest(token_revocations.not_before, excluded.not_before), \
             changed_at = excluded.changed_at",
    )
    .bind::<SqlUuid, _>(subject)
    .bind::<Text, _>(kind.as_str())
    .bind::<Timestamptz, _>(stored)
    .execute(conn)
    .await?;
    diesel::sql_query("SELECT pg_notify($1, $2)")
        .bind::<Text, _>(CHANNEL)
        .bind::<Text, _>(format!("{subject} {not_before_ms}"))
        .execute(conn)
        .await?;
    Ok(Revoked {
        subject,
        not_before_ms,
    })
}

/// Deletes entries older than any token can be; run periodically by `serve`.
pub async fn purge_expired(conn: &mut AsyncPgConnection) -> QueryResult<usize> {
    diesel::sql_query(
        "DELETE FROM token_revocations WHERE not_before < now() - make_interval(secs => $1)",
    )
    .bind::<diesel::sql_types::Double, _>(2.0 * horizon_ms() as f64 / 1000.0)
    .execute(conn)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(sub: Uuid, sid: Option<Uuid>, iat_ms: i64) -> AccessClaims {
        AccessClaims {
            iss: "i".into(),
            aud: "i".into(),
            sub,
            exp: iat_ms / 1000 + 900,
            iat: iat_ms / 1000,
            iat_ms: Some(iat_ms),
            nbf: iat_ms / 1000,
            jti: Uuid::new_v4(),
            sid,
            kind: "user".into(),
            name: "u".into(),
            scope: String::new(),
            grants: vec![],
        }
    }

    #[test]
    fn a_token_issued_before_its_principals_or_sessions_not_before_is_revoked() {
        let revocations = Revocations::new();
        let (user, session, other) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let token = claims(user, Some(session), 1_000_000);
        assert!(!revocations.is_revoked(&token));
        revocations.apply(Revoked {
            subject: session,
            not_before_ms: 1_000_001,
        });
        assert!(revocations.is_revoked(&token));
        assert!(!revocations.is_revoked(&claims(user, Some(other), 1_000_000)));
        revocations.apply(Revoked {
            subject: user,
            not_before_ms: 2_000_000,
        });
        assert!(revocations.is_revoked(&claims(user, Some(other), 1_999_999)));
        assert!(!revocations.is_revoked(&claims(user, Some(other), 2_000_000)));
        // An older revocation arriving late does not move the time back.
        revocations.apply(Revoked {
            subject: user,
            not_before_ms: 1_500_000,
        });
        assert!(revocations.is_revoked(&claims(user, None, 1_999_999)));
    }

    #[test]
    fn notification_payloads_parse_and_garbage_does_not() {
        let subject = Uuid::new_v4();
        assert_eq!(
            parse_payload(&format!("{subject} 42")),
            Some(Revoked {
                subject,
                not_before_ms: 42
            })
        );
        assert_eq!(parse_payload("nope"), None);
        assert_eq!(parse_payload(&format!("{subject} x")), None);
    }
}
