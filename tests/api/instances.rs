//! Two `thidua serve` OS processes on one database behave as one service (issue 8): login
//! throttling, idempotency keys, refresh-token rotation and optimistic locking hold across them,
//! because every piece of that state lives in PostgreSQL, none in a process.

use futures_util::future::join_all;
use reqwest::header::{ETAG, IF_MATCH, LOCATION, RETRY_AFTER};
use reqwest::{RequestBuilder, Response};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::ctx::target_pledge;
use crate::helpers::fixture::{self, Fixture};
use crate::helpers::process::{ScratchDir, ServiceProcess};
use crate::helpers::{TestApp, status_and_json};

const PLEDGES: &str = "/api/v1/pledges";
const TOKEN: &str = "/api/v1/auth/token";
const MAX_FAILURES: u32 = 3;

/// Processes A and B of the real binary on one fresh database holding the docs/security.md fixture
/// and a campaign; they share the signing key (as replicas behind a load balancer must).
struct Pair {
    a: ServiceProcess,
    b: ServiceProcess,
    /// In-process instance: only creates the database and loads the fixture (never called).
    app: TestApp,
    campaign: Uuid,
    fixture: Fixture,
    _scratch: ScratchDir,
}

impl Pair {
    async fn start() -> Self {
        let (app, fixture, campaign) = Fixture::app_with_campaign().await;
        let scratch = ScratchDir::new();
        let key = scratch.signing_key();
        let max_failures = MAX_FAILURES.to_string();
        let env = [("THIDUA_LOGIN_MAX_FAILURES", max_failures.as_str())];
        let (a, b) = tokio::join!(
            ServiceProcess::start("A", &scratch, &app.db.url, &key, &env),
            ServiceProcess::start("B", &scratch, &app.db.url, &key, &env),
        );
        assert_ne!(a.pid(), b.pid());
        Self {
            a,
            b,
            app,
            campaign,
            fixture,
            _scratch: scratch,
        }
    }

    fn pledge_body(&self, title: &str) -> Value {
        target_pledge(self.campaign, self.fixture.tree.c1.id, title)
    }

    async fn count(&self, sql: &str) -> i64 {
        self.app.db.count(sql).await
    }
}

fn post(process: &ServiceProcess, path: &str) -> RequestBuilder {
    process.http.post(process.url(path))
}

async fn login(process: &ServiceProcess, username: &str, password: &str) -> Response {
    post(process, TOKEN)
        .json(&json!({"grant_type": "password", "username": username, "password": password}))
        .send()
        .await
        .unwrap()
}

async fn access_token(process: &ServiceProcess, username: &str) -> String {
    let (status, body) =
        status_and_json(login(process, username, &fixture::password_of(username)).await).await;
    assert_eq!(
        status, 200,
        "login of {username} on {}: {body}",
        process.name
    );
    body["access_token"].as_str().unwrap().to_owned()
}

async fn refresh(process: &ServiceProcess, refresh_token: &str) -> (u16, Value) {
    status_and_json(
        post(process, TOKEN)
            .json(&json!({"grant_type": "refresh_token", "refresh_token": refresh_token}))
            .send()
            .await
            .unwrap(),
    )
    .await
}

fn header(response: &Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|value| value.to_str().unwrap().to_owned())
}

/// What a client can compare between two replies to the same write.
#[derive(Debug, PartialEq)]
struct Reply {
    status: u16,
    location: Option<String>,
    etag: Option<String>,
    body: String,
}

/// The reply and whether it was replayed (`Idempotent-Replayed: true`).
async fn reply(response: Response) -> (Reply, bool) {
    let replayed = header(&response, "idempotent-replayed").as_deref() == Some("true");
    let reply = Reply {
        status: response.status().as_u16(),
        location: header(&response, LOCATION.as_str()),
        etag: header(&response, ETAG.as_str()),
        body: response.text().await.unwrap(),
    };
    (reply, replayed)
}

#[tokio::test]
async fn failed_logins_on_two_processes_add_up_to_one_lockout() {
    let pair = Pair::start().await;
    let user = fixture::C1_MANAGER;
    // MAX_FAILURES = 3: two failures, one on each process, then the third attempt is refused.
    let (status, body) = status_and_json(login(&pair.a, user, "wrong-password").await).await;
    assert_eq!(status, 401, "A, failure 1: {body}");
    let (status, body) = status_and_json(login(&pair.b, user, "wrong-password").await).await;
    assert_eq!(status, 401, "B, failure 2: {body}");
    let third = login(&pair.a, user, "wrong-password").await;
    assert_eq!(third.status(), 429, "A has seen only one failure itself");
    assert!(header(&third, RETRY_AFTER.as_str()).is_some());
    // The right password is refused on both while the lockout lasts.
    for process in [&pair.b, &pair.a] {
        let right = login(process, user, &fixture::password_of(user)).await;
        assert_eq!(right.status(), 429, "right password on {}", process.name);
        let retry_after: u64 = header(&right, RETRY_AFTER.as_str())
            .expect("Retry-After")
            .parse()
            .unwrap();
        assert!(retry_after >= 1, "Retry-After {retry_after}");
    }
    // Another account is not affected, and its token from A is accepted by B (shared key).
    let token = access_token(&pair.a, fixture::D1_MANAGER).await;
    let me = pair.b.get("/api/v1/me", &token).await;
    assert_eq!(me.status(), 200);
}

#[tokio::test]
async fn an_idempotency_key_replays_across_processes_sequentially_and_concurrently() {
    let pair = Pair::start().await;
    let token_a = access_token(&pair.a, fixture::C1_MANAGER).await;
    let token_b = access_token(&pair.b, fixture::C1_MANAGER).await;
    let send = |process: &ServiceProcess, token: &str, key: &str, body: &Value| {
        post(process, PLEDGES)
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .json(body)
            .send()
    };

    // Sequential: created on A, replayed by B with the identical reply.
    let body = pair.pledge_body("Tuần tự");
    let (first, replayed_first) =
        reply(send(&pair.a, &token_a, "seq-1", &body).await.unwrap()).await;
    assert_eq!(first.status, 201, "{}", first.body);
    assert!(!replayed_first);
    let (second, replayed_second) =
        reply(send(&pair.b, &token_b, "seq-1", &body).await.unwrap()).await;
    assert!(replayed_second, "B did not replay A's reply");
    assert_eq!(first, second);
    assert_eq!(pair.count("SELECT count(*) FROM pledges").await, 1);

    // Concurrent: each key sent four times at once, two to A and two to B.
    const ROUNDS: usize = 5;
    for round in 0..ROUNDS {
        let key = format!("concurrent-{round}");
        let body = pair.pledge_body(&format!("Đồng thời {round}"));
        let responses = join_all([
            send(&pair.a, &token_a, &key, &body),
            send(&pair.b, &token_b, &key, &body),
            send(&pair.a, &token_a, &key, &body),
            send(&pair.b, &token_b, &key, &body),
        ])
        .await;
        let mut replies = Vec::new();
        for response in responses {
            replies.push(reply(response.unwrap()).await);
        }
        let fresh = replies.iter().filter(|(_, replayed)| !replayed).count();
        assert_eq!(fresh, 1, "round {round}: {replies:?}");
        let (model, _) = &replies[0];
        assert_eq!(model.status, 201, "round {round}: {}", model.body);
        for (other, _) in &replies[1..] {
            assert_eq!(other, model, "round {round}");
        }
    }
    assert_eq!(
        pair.count("SELECT count(*) FROM pledges").await,
        1 + ROUNDS as i64
    );
    assert_eq!(
        pair.count("SELECT count(*) FROM idempotency_keys").await,
        1 + ROUNDS as i64
    );
}

#[tokio::test]
async fn a_refresh_token_rotated_on_one_process_and_reused_on_the_other_revokes_the_family() {
    let pair = Pair::start().await;
    let user = fixture::C1_MEMBER;
    let (status, login) =
        status_and_json(login(&pair.a, user, &fixture::password_of(user)).await).await;
    assert_eq!(status, 200, "{login}");
    let first = login["refresh_token"].as_str().unwrap().to_owned();

    // Rotated on A; the rotation continues on B.
    let (status, rotated) = refresh(&pair.a, &first).await;
    assert_eq!(status, 200, "{rotated}");
    let second = rotated["refresh_token"].as_str().unwrap().to_owned();
    let (status, rotated) = refresh(&pair.b, &second).await;
    assert_eq!(status, 200, "{rotated}");
    let third = rotated["refresh_token"].as_str().unwrap().to_owned();

    // The first one again, on B: refused, and the whole family is revoked everywhere.
    let (status, body) = refresh(&pair.b, &first).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "invalid_grant");
    for process in [&pair.a, &pair.b] {
        let (status, body) = refresh(process, &third).await;
        assert_eq!(status, 401, "newest token on {}: {body}", process.name);
    }
    let user_id = pair.fixture.users[user];
    assert_eq!(
        pair.count(&format!(
            "SELECT count(*) FROM refresh_tokens WHERE user_id = '{user_id}' AND revoked_at IS NULL"
        ))
        .await,
        0
    );
    assert_eq!(
        pair.count(&format!(
            "SELECT count(*) FROM refresh_tokens WHERE user_id = '{user_id}'"
        ))
        .await,
        3
    );
}

#[tokio::test]
async fn one_etag_patched_on_both_processes_at_once_lets_exactly_one_through() {
    let pair = Pair::start().await;
    let token_a = access_token(&pair.a, fixture::C1_MANAGER).await;
    let token_b = access_token(&pair.b, fixture::C1_MANAGER).await;
    let (status, created) = status_and_json(
        post(&pair.a, PLEDGES)
            .bearer_auth(&token_a)
            .json(&pair.pledge_body("Khóa lạc quan"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let path = format!("{PLEDGES}/{}", created["id"].as_str().unwrap());

    const ROUNDS: i32 = 5;
    for round in 1..=ROUNDS {
        let etag = format!("\"{round}\"");
        let patch = |process: &ServiceProcess, token: &str| {
            process
                .http
                .patch(process.url(&path))
                .bearer_auth(token)
                .header(IF_MATCH, &etag)
                .json(&json!({"title": format!("Lần {round} qua {}", process.name)}))
                .send()
        };
        let (on_a, on_b) = tokio::join!(patch(&pair.a, &token_a), patch(&pair.b, &token_b));
        let (status_a, body_a) = status_and_json(on_a.unwrap()).await;
        let (status_b, body_b) = status_and_json(on_b.unwrap()).await;
        let mut statuses = [status_a, status_b];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 412], "round {round}: {body_a} / {body_b}");
        let refused = if status_a == 412 { &body_a } else { &body_b };
        assert_eq!(refused["code"], "precondition_failed");
        assert_eq!(refused["current_etag"], format!("\"{}\"", round + 1));
    }
    let id = created["id"].as_str().unwrap();
    assert_eq!(
        pair.count(&format!(
            "SELECT version::bigint FROM pledges WHERE id = '{id}'"
        ))
        .await,
        i64::from(1 + ROUNDS)
    );
}

/// Polls `GET /organizations` on `process` with `token` until it answers 401, at most `bound`;
/// returns how long that took.
async fn refused_within(
    process: &ServiceProcess,
    token: &str,
    bound: std::time::Duration,
) -> std::time::Duration {
    let started = std::time::Instant::now();
    loop {
        let status = process.get("/api/v1/organizations", token).await.status();
        if status == 401 {
            return started.elapsed();
        }
        assert_eq!(status, 200, "{}", process.name);
        assert!(
            started.elapsed() < bound,
            "{} still accepts the token after {:?}",
            process.name,
            started.elapsed()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_manager_disabled_on_one_process_is_refused_by_the_other_within_the_bound() {
    let pair = Pair::start().await;
    let manager = access_token(&pair.b, fixture::D1_MANAGER).await;
    let admin = access_token(&pair.a, fixture::ADMIN).await;
    let manager_id = pair.fixture.users[fixture::D1_MANAGER];
    // B has verified (and cached) the manager's token before the change.
    let before = pair.b.get("/api/v1/organizations", &manager).await;
    assert_eq!(before.status(), 200);

    let (status, body) = status_and_json(
        pair.a
            .http
            .patch(pair.a.url(&format!("/api/v1/users/{manager_id}")))
            .bearer_auth(&admin)
            .json(&json!({"disabled": true}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // The documented bound: THIDUA_REVOCATION_POLL_MS (2 s by default) even without the
    // notification, which normally arrives within milliseconds.
    let took = refused_within(&pair.b, &manager, std::time::Duration::from_secs(3)).await;
    let (created, body) = status_and_json(
        post(&pair.b, "/api/v1/users")
            .bearer_auth(&manager)
            .json(&json!({
                "username": "accomplice",
                "display_name": "Đồng phạm",
                "password": "a long enough password",
                "memberships": [{"organization_id": pair.fixture.tree.d1.id, "role": "manager"}],
            }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(created, 401, "after {took:?}: {body}");
    assert_eq!(body["code"], "invalid_token");
    assert_eq!(
        pair.count("SELECT count(*) FROM users WHERE username = 'accomplice'")
            .await,
        0
    );
    // A refused on its own copy at once (it applied the revocation at commit).
    let on_a = pair.a.get("/api/v1/organizations", &manager).await;
    assert_eq!(on_a.status(), 401);
}
