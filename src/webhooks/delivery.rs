//! The delivery worker (docs/design.md § 5.2), run by `thidua serve` on every instance.
//!
//! Each round it (1) numbers the feed's new events (the sequencer, if free), (2) copies the
//! events each active subscription may see into its outbox, `webhook_deliveries`, one
//! subscription and at most [`SCAN_LIMIT`] events per transaction, moving the subscription's
//! `feed_cursor` in the same transaction (the row is locked `FOR UPDATE SKIP LOCKED`, so N
//! instances copy each event once and a crash loses nothing: the transaction rolls back), and
//! (3) sends what is due: a worker takes the lease of one subscription (`FOR UPDATE SKIP
//! LOCKED` again), sends its oldest pending event, records the attempt, and goes on in `seq`
//! order while they succeed. A failure schedules a retry with exponential backoff and stops
//! that subscription's queue until then (order is kept); an event still failing
//! `retry_for` after its first attempt disables the subscription. A worker that dies holding a
//! lease leaves it to expire; the next worker sends the event again (same `webhook-id`, so a
//! receiver that had it already can tell).

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use futures_util::future::join_all;
use rand::Rng;
use uuid::Uuid;

use super::dto::{WebhookAttemptOutcome, WebhookPayload, message_id};
use super::repo::{self, Behind, Claimed, Head, NewAttempt, NewDelivery};
use super::signature;
use super::target::{GuardedResolver, refusal_in};
use crate::audit::{self, Change};
use crate::auth::principal::{Grant, Principal, PrincipalKind, Role, Scope};
use crate::changes::repo::{self as feed, SCAN_LIMIT, SEQUENCE_BATCH};
use crate::changes::view::FeedView;
use crate::config::WebhookSettings;
use crate::db::Databases;

/// Subscriptions served at once by one instance.
pub const LANES: usize = 4;
/// Events one lane sends to a subscription before it lets another instance have a turn.
const EVENTS_PER_CLAIM: usize = 200;
/// Subscriptions whose outbox one round fills at most (each one batch), so a round ends.
const FAN_OUT_PER_ROUND: usize = 100;
/// Finished deliveries one purge statement deletes at most.
const PURGE_BATCH: i64 = 10_000;
/// How often finished deliveries past the retention are purged.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// What one round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    /// Events copied into outboxes.
    pub enqueued: usize,
    /// Attempts made (successful or not).
    pub attempts: usize,
}

/// The worker; cheap to clone.
#[derive(Clone)]
pub struct Deliverer {
    db: Databases,
    settings: Arc<WebhookSettings>,
    http: reqwest::Client,
    /// Finished deliveries are kept this long (the change feed's retention).
    retention: Duration,
}

/// How one attempt ended.
#[derive(Debug)]
struct Outcome {
    kind: WebhookAttemptOutcome,
    status_code: Option<i32>,
    error: Option<String>,
}

impl Deliverer {
    pub fn new(db: Databases, settings: &WebhookSettings) -> anyhow::Result<Self> {
        let allowed = Arc::new(settings.allowed.clone());
        let http = reqwest::Client::builder()
            // Every name goes through the guard; the addresses it checked are the ones used.
            .dns_resolver(Arc::new(GuardedResolver(allowed)))
            // A redirect could lead anywhere, a private address included: never followed.
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would resolve the name itself, past the guard.
            .no_proxy()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .user_agent(concat!("thidua-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            db,
            settings: Arc::new(settings.clone()),
            http,
            retention: Duration::from_secs(crate::config::MIN_CHANGES_RETENTION_DAYS * 86_400),
        })
    }

    /// Keeps finished deliveries `retention` (default: the feed's shortest retention).
    pub fn keeping(self, retention: Duration) -> Self {
        Self { retention, ..self }
    }

    /// Rounds every `poll_interval`, at once again while a round finds work; purges finished
    /// deliveries past the retention about hourly.
    pub async fn run_forever(self) {
        let mut purged_at: Option<Instant> = None;
        loop {
            if purged_at.is_none_or(|at| at.elapsed() >= PURGE_EVERY) {
                purged_at = Some(Instant::now());
                if let Err(error) = self.purge().await {
                    tracing::warn!(%error, "purging webhook deliveries failed");
                }
            }
            match self.round().await {
                Ok(round) if round.enqueued > 0 || round.attempts > 0 => continue,
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "webhook round failed; retrying"),
            }
            tokio::time::sleep(self.settings.poll_interval).await;
        }
    }

    /// Deletes finished deliveries older than the retention, in bounded batches until none is
    /// left; the number deleted.
    pub async fn purge(&self) -> anyhow::Result<usize> {
        let mut conn = self.db.write().await?;
        let mut purged = 0;
        loop {
            let deleted = repo::purge_finished(&mut conn, self.retention, PURGE_BATCH).await?;
            purged += deleted;
            if i64::try_from(deleted).unwrap_or(0) < PURGE_BATCH {
                break;
            }
        }
        if purged > 0 {
            tracing::info!(purged, "webhook deliveries past the retention purged");
        }
        Ok(purged)
    }

    /// One round: number, fan out, deliver.
    pub async fn round(&self) -> anyhow::Result<Round> {
        {
            let mut conn = self.db.write().await?;
            feed::sequence(&mut conn, SEQUENCE_BATCH).await?;
        }
        let enqueued = self.fan_out().await?;
        let attempts = self.deliver_due().await?;
        Ok(Round { enqueued, attempts })
    }

    /// Copies new events into the outboxes of the subscriptions behind the feed.
    pub async fn fan_out(&self) -> anyhow::Result<usize> {
        let mut conn = self.db.write().await?;
        // Every number up to this one is visible to the statements that follow.
        let through = repo::last_seq(&mut conn).await?;
        let mut enqueued = 0;
        for _ in 0..FAN_OUT_PER_ROUND {
            let copied = conn
                .transaction::<_, anyhow::Error, _>(async |conn| {
                    let Some(behind) = repo::lock_one_behind(conn, through).await? else {
                        return Ok(None);
                    };
                    Ok(Some(fan_out_one(conn, behind, through).await?))
                })
                .await?;
            match copied {
                Some(count) => enqueued += count,
                None => break,
            }
        }
        Ok(enqueued)
    }

    /// Sends the due events of every subscription, [`LANES`] subscriptions at once; the
    /// attempts made.
    pub async fn deliver_due(&self) -> anyhow::Result<usize> {
        let lanes = (0..LANES).map(|_| self.lane());
        let mut attempts = 0;
        for lane in join_all(lanes).await {
            attempts += lane?;
        }
        Ok(attempts)
    }

    /// Claims subscriptions one after another until none is due.
    async fn lane(&self) -> anyhow::Result<usize> {
        let mut attempts = 0;
        loop {
            let token = Uuid::new_v4();
            let claimed = {
                let mut conn = self.db.write().await?;
                repo::claim(&mut conn, token, self.settings.lease()).await?
            };
            let Some(claimed) = claimed else {
                return Ok(attempts);
            };
            let result = self.drain(&claimed, token).await;
            let mut conn = self.db.write().await?;
            repo::release(&mut conn, claimed.id, token).await?;
            attempts += result?;
        }
    }

    /// Sends the due events of a claimed subscription in order, while they succeed.
    async fn drain(&self, claimed: &Claimed, token: Uuid) -> anyhow::Result<usize> {
        let Some(key) = signature::key_of(&claimed.secret) else {
            let mut conn = self.db.write().await?;
            disable(&mut conn, claimed.id, "its secret is not a whsec_ secret").await?;
            return Ok(0);
        };
        let mut attempts = 0;
        while attempts < EVENTS_PER_CLAIM {
            let head = {
                let mut conn = self.db.write().await?;
                if attempts > 0
                    && !repo::renew(&mut conn, claimed.id, token, self.settings.lease()).await?
                {
                    break;
                }
                repo::due_head(&mut conn, claimed.id).await?
            };
            let Some(head) = head else { break };
            let attempted_at = Utc::now();
            let started = Instant::now();
            let outcome = self.send(&claimed.url, &key, &head).await;
            let duration = started.elapsed();
            attempts += 1;
            let delivered = outcome.kind == WebhookAttemptOutcome::Delivered;
            let mut conn = self.db.write().await?;
            self.record(
                &mut conn,
                claimed.id,
                &head,
                attempted_at,
                duration,
                outcome,
            )
            .await?;
            if !delivered {
                break;
            }
        }
        Ok(attempts)
    }

    /// One attempt: the target checked again (the list may have changed), then a signed POST.
    async fn send(&self, url: &str, key: &[u8], head: &Head) -> Outcome {
        let refused = |why: String| Outcome {
            kind: WebhookAttemptOutcome::Refused,
            status_code: None,
            error: Some(why),
        };
        let url = match self.settings.allowed.check_url(url) {
            Ok(url) => url,
            Err(why) => return refused(why.0),
        };
        let id = message_id(head.seq);
        let timestamp = Utc::now().timestamp();
        let signature = signature::sign(key, &id, timestamp, head.payload.as_bytes());
        let response = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(head.payload.clone())
            .send()
            .await;
        match response {
            Ok(response) => {
                let status = response.status();
                let status_code = Some(i32::from(status.as_u16()));
                // The receiver's body is never read, kept or shown.
                drop(response);
                if status.is_success() {
                    Outcome {
                        kind: WebhookAttemptOutcome::Delivered,
                        status_code,
                        error: None,
                    }
                } else if status.is_redirection() {
                    Outcome {
                        kind: WebhookAttemptOutcome::Failed,
                        status_code,
                        error: Some("redirects are not followed; answer 2xx at this URL".into()),
                    }
                } else {
                    Outcome {
                        kind: WebhookAttemptOutcome::Failed,
                        status_code,
                        error: None,
                    }
                }
            }
            Err(error) => {
                if let Some(why) = refusal_in(&error) {
                    return refused(why.0.clone());
                }
                let what = if error.is_timeout() {
                    format!("no answer within {} ms", self.settings.timeout.as_millis())
                } else if error.is_connect() {
                    "could not connect".to_owned()
                } else {
                    "the request failed".to_owned()
                };
                Outcome {
                    kind: WebhookAttemptOutcome::Failed,
                    status_code: None,
                    error: Some(what),
                }
            }
        }
    }

    /// Records an attempt, and what follows from it, in one transaction.
    async fn record(
        &self,
        conn: &mut AsyncPgConnection,
        webhook_id: Uuid,
        head: &Head,
        attempted_at: chrono::DateTime<Utc>,
        duration: Duration,
        outcome: Outcome,
    ) -> anyhow::Result<()> {
        let settings = self.settings.clone();
        let head = head.clone();
        conn.transaction::<_, anyhow::Error, _>(async move |conn| {
            repo::record_attempt(
                conn,
                NewAttempt {
                    delivery_id: head.id,
                    attempted_at,
                    duration_ms: i32::try_from(duration.as_millis()).unwrap_or(i32::MAX),
                    status_code: outcome.status_code,
                    outcome: outcome.kind,
                    error: outcome.error.as_deref(),
                },
            )
            .await?;
            if outcome.kind == WebhookAttemptOutcome::Delivered {
                repo::mark_delivered(conn, head.id).await?;
                return Ok(());
            }
            let first = repo::first_attempt_at(conn, head.id)
                .await?
                .unwrap_or(attempted_at);
            let retried_for = (Utc::now() - first).to_std().unwrap_or_default();
            if retried_for >= settings.retry_for {
                repo::mark_given_up(conn, head.id).await?;
                let last = outcome
                    .error
                    .or_else(|| outcome.status_code.map(|code| format!("HTTP {code}")))
                    .unwrap_or_default();
                let reason = format!(
                    "event {} failed {} times over {} s (last: {last})",
                    head.seq,
                    head.attempts + 1,
                    retried_for.as_secs()
                );
                disable(conn, webhook_id, &reason).await?;
            } else {
                let wait = backoff(&settings, head.attempts + 1);
                let next = Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
                repo::mark_failed(conn, head.id, next).await?;
            }
            Ok(())
        })
        .await
    }
}

/// The wait after the `failures`-th failed attempt: `retry_base` doubled for each failure
/// before it, at most `retry_max`, less up to a tenth at random (so receivers coming back are
/// not hit by every subscription at once).
pub fn backoff(settings: &WebhookSettings, failures: i32) -> Duration {
    let doublings = u32::try_from(failures.saturating_sub(1))
        .unwrap_or(0)
        .min(30);
    let wait = settings
        .retry_base
        .saturating_mul(1 << doublings)
        .min(settings.retry_max);
    let jitter = rand::thread_rng().gen_range(0.0..0.1);
    wait.mul_f64(1.0 - jitter)
}

/// Stops a subscription, with an audit event by the system.
async fn disable(conn: &mut AsyncPgConnection, id: Uuid, reason: &str) -> anyhow::Result<()> {
    if repo::disable(conn, id, reason).await? == 1 {
        tracing::warn!(webhook = %id, reason, "webhook disabled");
        audit::record(
            conn,
            None,
            Change {
                action: "webhook.disable",
                entity_type: "webhook",
                entity_id: id,
                organization_id: None,
                before: None,
                after: Some(serde_json::json!({ "status": "disabled", "disabled_reason": reason })),
            },
        )
        .await?;
    }
    Ok(())
}

/// What the owner of a subscription may see now: everything for the administrators'; for a
/// partner client's, what `GET /changes` shows that client (`None`: the client is gone).
fn view_of(behind: &Behind) -> Option<FeedView> {
    let Some(client_id) = behind.owner_client_id else {
        return FeedView::of(&administrators()).ok();
    };
    if behind.client_revoked_at.is_some() {
        return None;
    }
    let (Some(organization_id), Some(path)) =
        (behind.client_organization_id, behind.client_path.clone())
    else {
        return None;
    };
    let scopes = behind
        .client_scopes
        .iter()
        .flatten()
        .flatten()
        .filter_map(|scope| Scope::parse(scope))
        .collect();
    let client = Principal {
        id: client_id,
        kind: PrincipalKind::Client,
        name: String::new(),
        grants: vec![Grant {
            organization_id,
            path,
            role: Role::Member,
        }],
        scopes,
        token_expires_at: 0,
    };
    // A client that lost `read` sees nothing of the feed: its subscription stops too.
    FeedView::of(&client).ok()
}

/// The principal the administrators' subscriptions see the feed as.
fn administrators() -> Principal {
    Principal {
        id: Uuid::nil(),
        kind: PrincipalKind::User,
        name: String::new(),
        grants: vec![Grant {
            organization_id: Uuid::nil(),
            path: String::new(),
            role: Role::Admin,
        }],
        scopes: Vec::new(),
        token_expires_at: 0,
    }
}

/// Copies the next batch of events for one locked subscription; the events copied.
async fn fan_out_one(
    conn: &mut AsyncPgConnection,
    behind: Behind,
    through: i64,
) -> anyhow::Result<usize> {
    let Some(view) = view_of(&behind) else {
        disable(
            conn,
            behind.id,
            "its partner client was deleted or may no longer read",
        )
        .await?;
        return Ok(0);
    };
    let types: Vec<String> = behind.events.iter().flatten().cloned().collect();
    let rows = feed::events_after(conn, behind.feed_cursor, Some(&types), SCAN_LIMIT).await?;
    let scanned_all = i64::try_from(rows.len()).unwrap_or(i64::MAX) < SCAN_LIMIT;
    let mut cursor = behind.feed_cursor;
    let mut deliveries = Vec::new();
    for row in rows {
        if row.seq > through {
            break;
        }
        cursor = row.seq;
        if let Some(item) = view.item(row) {
            let payload = WebhookPayload {
                event_type: format!("{}.{}", item.entity_type, item.action),
                timestamp: item.at,
                data: item,
            };
            deliveries.push(NewDelivery {
                webhook_id: behind.id,
                seq: payload.data.seq,
                event_type: payload.data.entity_type.clone(),
                payload: serde_json::to_string(&payload)?,
            });
        }
    }
    // Fewer than a full scan: every event up to `through` was seen.
    if scanned_all {
        cursor = through;
    }
    let enqueued = repo::enqueue(conn, &deliveries).await?;
    repo::set_feed_cursor(conn, behind.id, cursor).await?;
    Ok(enqueued)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhooks::target::AllowedTargets;

    fn settings(base_ms: u64, max_ms: u64) -> WebhookSettings {
        WebhookSettings {
            allowed: AllowedTargets::default(),
            timeout: Duration::from_secs(1),
            retry_base: Duration::from_millis(base_ms),
            retry_max: Duration::from_millis(max_ms),
            retry_for: Duration::from_secs(86_400),
            poll_interval: Duration::from_secs(1),
        }
    }

    #[test]
    fn the_wait_doubles_after_each_failure_up_to_the_maximum() {
        let settings = settings(30_000, 7_200_000);
        let waits: Vec<u64> = (1..=12)
            .map(|failures| backoff(&settings, failures).as_millis() as u64)
            .collect();
        let expected = [
            30_000, 60_000, 120_000, 240_000, 480_000, 960_000, 1_920_000, 3_840_000, 7_200_000,
            7_200_000, 7_200_000, 7_200_000,
        ];
        for (wait, full) in waits.iter().zip(expected) {
            assert!(*wait <= full && *wait >= full * 9 / 10, "{waits:?}");
        }
        assert!(backoff(&settings, i32::MAX) <= Duration::from_millis(7_200_000));
    }

    /// The defaults retry an event for more than a day before giving up.
    #[test]
    fn the_default_schedule_keeps_retrying_for_more_than_a_day() {
        let settings = crate::config::Settings::from_lookup(|_| None)
            .unwrap()
            .webhooks;
        assert!(settings.retry_for >= Duration::from_secs(86_400));
        let mut elapsed = Duration::ZERO;
        let mut attempts = 1;
        while elapsed < settings.retry_for {
            elapsed += backoff(&settings, attempts);
            attempts += 1;
        }
        assert!((10..40).contains(&attempts), "{attempts} attempts");
    }
}
