//! Webhooks (docs/api.md § Webhooks, docs/security.md § Outbound requests): subscriptions and
//! their one-time secret, who may manage them, the SSRF guard (at subscription and at every
//! attempt), Standard Webhooks signatures, order, retries with backoff, disabling, and
//! recovery from a worker that died holding a delivery.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Sha256;
use thidua::config::{AllowedTargets, Settings};
use thidua::webhooks::delivery::Deliverer;
use uuid::Uuid;

use crate::helpers::ctx::Ctx;
use crate::helpers::fixture;
use crate::helpers::receiver::{Received, Receiver};
use crate::helpers::status_and_json;

const WEBHOOKS: &str = "/api/v1/webhooks";
const PLEDGES: &str = "/api/v1/pledges";
const CHANGES: &str = "/api/v1/changes";

/// Targets on 127.0.0.1 allowed; short waits so retries take milliseconds.
fn fast(settings: &mut Settings) {
    settings.webhooks.allowed = AllowedTargets::parse("127.0.0.1").unwrap();
    settings.webhooks.timeout = Duration::from_millis(1500);
    settings.webhooks.retry_base = Duration::from_millis(50);
    settings.webhooks.retry_max = Duration::from_millis(400);
    settings.webhooks.retry_for = Duration::from_secs(60);
    settings.webhooks.poll_interval = Duration::from_millis(20);
}

async fn new_ctx(adjust: impl FnOnce(&mut Settings)) -> Ctx {
    Ctx::with_settings(&[("nong_thon_moi", "Nông thôn mới")], adjust).await
}

fn deliverer(ctx: &Ctx) -> Deliverer {
    Deliverer::new(ctx.app.state.db.clone(), &ctx.app.state.settings.webhooks).unwrap()
}

/// Runs delivery rounds until `done()` holds; fails after `within`.
async fn deliver_until(worker: &Deliverer, within: Duration, done: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    loop {
        worker.round().await.unwrap();
        if done() {
            return;
        }
        assert!(Instant::now() < deadline, "not done within {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn subscribe(ctx: &Ctx, token: &str, url: &str, events: &[&str]) -> Value {
    let (status, body) = ctx
        .app
        .post_for_json(WEBHOOKS, token, &json!({ "url": url, "events": events }))
        .await;
    assert_eq!(status, 201, "{body}");
    body
}

async fn create_pledge(ctx: &Ctx, user: &str, organization: Uuid, title: &str) -> String {
    ctx.create_pledge(user, organization, title).await
}

/// The Standard Webhooks check, written here from the specification: HMAC-SHA256 keyed with
/// the base64-decoded secret over `id.timestamp.body`, base64, `v1,` prefix; one of the
/// space-separated signatures must match.
fn signature_is_valid(secret: &str, request: &Received) -> bool {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(
        format!(
            "{}.{}.{}",
            request.header("webhook-id"),
            request.header("webhook-timestamp"),
            request.body
        )
        .as_bytes(),
    );
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    request
        .header("webhook-signature")
        .split(' ')
        .any(|signature| signature == expected)
}

fn seqs(requests: &[Received]) -> Vec<i64> {
    requests
        .iter()
        .map(|request| request.json()["data"]["seq"].as_i64().unwrap())
        .collect()
}

async fn deliveries(ctx: &Ctx, token: &str, webhook: &str) -> Vec<Value> {
    let (status, body) = ctx
        .app
        .get_json(&format!("{WEBHOOKS}/{webhook}/deliveries"), token)
        .await;
    assert_eq!(status, 200, "{body}");
    body["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn subscribing_shows_the_secret_once_and_never_again() {
    let ctx = new_ctx(fast).await;
    let admin = ctx.token(fixture::ADMIN);
    let receiver = Receiver::start().await;
    let response = ctx
        .app
        .request(Method::POST, WEBHOOKS, Some(admin))
        .header("Idempotency-Key", "subscribe-1")
        .json(&json!({ "url": receiver.url("/hook"), "events": ["pledge", "nomination"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let created: Value = response.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert_eq!(STANDARD.decode(&secret[6..]).unwrap().len(), 32);
    assert_eq!(location, format!("{WEBHOOKS}/{id}"));
    assert_eq!(created["status"], "active");
    assert_eq!(created["events"], json!(["pledge", "nomination"]));
    assert!(created["owner_client_id"].is_null());

    // A retry with the same key is the same subscription (the lost reply is not a lost secret).
    let (status, replayed) = status_and_json(
        ctx.app
            .request(Method::POST, WEBHOOKS, Some(admin))
            .header("Idempotency-Key", "subscribe-1")
            .json(&json!({ "url": receiver.url("/hook"), "events": ["pledge", "nomination"] }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(replayed, created);
    assert_eq!(ctx.app.db.count("SELECT count(*) FROM webhooks").await, 1);

    let (status, one) = ctx.app.get_json(&location, admin).await;
    assert_eq!(status, 200);
    let (status, list) = ctx.app.get_json(WEBHOOKS, admin).await;
    assert_eq!(status, 200);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let audit = ctx
        .app
        .db
        .client()
        .await
        .query_one(
            "SELECT after::text FROM audit_events WHERE action = 'webhook.create'",
            &[],
        )
        .await
        .unwrap()
        .get::<_, String>(0);
    for shown in [one.to_string(), list.to_string(), audit] {
        assert!(
            !shown.contains(&secret),
            "the secret was shown again: {shown}"
        );
        assert!(!shown.contains("whsec_"), "{shown}");
    }

    let deleted = ctx.app.delete(&location, admin).await;
    assert_eq!(deleted.status(), 204);
    assert_eq!(ctx.app.get(&location, admin).await.status(), 404);
    assert_eq!(
        crate::helpers::audit_count(&ctx.app, Some(&id), Some("webhook.delete")).await,
        1
    );
}

#[tokio::test]
async fn only_administrators_and_reading_partner_clients_manage_webhooks() {
    let ctx = new_ctx(fast).await;
    let admin = ctx.token(fixture::ADMIN);
    let client = ctx.fixture.client_token(&ctx.app).await;
    let receiver = Receiver::start().await;
    let body = json!({ "url": receiver.url("/"), "events": ["pledge"] });

    for user in [
        fixture::C1_MANAGER,
        fixture::D1_MANAGER,
        fixture::D1_REVIEWER,
        fixture::C1_MEMBER,
    ] {
        let token = ctx.token(user);
        let (status, problem) = ctx.app.post_for_json(WEBHOOKS, token, &body).await;
        assert_eq!(status, 403, "{user}: {problem}");
        assert_eq!(ctx.app.get(WEBHOOKS, token).await.status(), 403, "{user}");
    }
    let anonymous = ctx
        .app
        .request(Method::GET, WEBHOOKS, None)
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);

    let admins = subscribe(&ctx, admin, &receiver.url("/admin"), &["pledge"]).await;
    let clients = subscribe(&ctx, &client, &receiver.url("/client"), &["pledge"]).await;
    assert_eq!(clients["owner_client_id"], json!(ctx.fixture.client_id));

    // The client sees and deletes its own only; the administrators see every one.
    let (_, list) = ctx.app.get_json(WEBHOOKS, &client).await;
    let ids: Vec<&Value> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| &item["id"])
        .collect();
    assert_eq!(ids, vec![&clients["id"]]);
    let (_, list) = ctx.app.get_json(WEBHOOKS, admin).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    let foreign = format!("{WEBHOOKS}/{}", admins["id"].as_str().unwrap());
    assert_eq!(ctx.app.get(&foreign, &client).await.status(), 404);
    assert_eq!(
        ctx.app
            .get(&format!("{foreign}/deliveries"), &client)
            .await
            .status(),
        404
    );
    assert_eq!(ctx.app.delete(&foreign, &client).await.status(), 404);
    assert_eq!(ctx.app.get(&foreign, admin).await.status(), 200);
    let own = format!("{WEBHOOKS}/{}", clients["id"].as_str().unwrap());
    assert_eq!(ctx.app.get(&own, admin).await.status(), 200);
    assert_eq!(ctx.app.delete(&own, &client).await.status(), 204);
}

#[tokio::test]
async fn targets_not_listed_or_resolving_to_private_addresses_are_refused() {
    // `localhost` is listed by name, but not the loopback address it resolves to.
    let ctx = new_ctx(|settings| {
        fast(settings);
        settings.webhooks.allowed = AllowedTargets::parse("localhost, hooks.example.vn").unwrap();
    })
    .await;
    let admin = ctx.token(fixture::ADMIN);
    for url in [
        "http://127.0.0.1:9/hook",
        "http://localhost:9/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:9/",
        "http://[::ffff:127.0.0.1]:9/",
        "http://2130706433/",
        "http://10.0.0.1/",
        "https://not-listed.example.org/hook",
        "ftp://hooks.example.vn/",
        "https://user:password@hooks.example.vn/",
    ] {
        let (status, problem) = ctx
            .app
            .post_for_json(
                WEBHOOKS,
                admin,
                &json!({ "url": url, "events": ["pledge"] }),
            )
            .await;
        assert_eq!(status, 422, "{url}: {problem}");
        assert_eq!(problem["code"], "webhook_target_refused", "{url}");
        assert_eq!(problem["errors"][0]["pointer"], "/url", "{url}");
    }
    let (status, problem) = ctx
        .app
        .post_for_json(
            WEBHOOKS,
            admin,
            &json!({ "url": "http://localhost:9/", "events": ["pledge"] }),
        )
        .await;
    assert_eq!(status, 422);
    assert!(
        problem["detail"].as_str().unwrap().contains("127.0.0.1"),
        "{problem}"
    );
    for (events, pointer) in [
        (json!(["pledge", "pledge"]), "/events/1"),
        (json!(["pledge", "nope"]), "/events/1"),
        (json!([]), "/events"),
    ] {
        let (status, problem) = ctx
            .app
            .post_for_json(
                WEBHOOKS,
                admin,
                &json!({ "url": "https://hooks.example.vn/", "events": events }),
            )
            .await;
        assert_eq!(status, 422, "{problem}");
        assert_eq!(problem["code"], "validation_failed");
        assert_eq!(
            crate::helpers::ctx::pointer_set(&problem),
            HashSet::from([pointer.to_owned()]),
            "{events}: {problem}"
        );
    }
    assert_eq!(ctx.app.db.count("SELECT count(*) FROM webhooks").await, 0);
}

/// A name that resolved to a public address when subscribed and to a private one later (DNS
/// rebinding, or a changed list): every attempt checks the address it connects to.
#[tokio::test]
async fn an_attempt_to_a_name_now_resolving_to_a_private_address_is_refused_and_nothing_is_sent() {
    let ctx = new_ctx(|settings| {
        fast(settings);
        settings.webhooks.allowed = AllowedTargets::parse("localhost").unwrap();
    })
    .await;
    let receiver = Receiver::start().await;
    let admin = ctx.token(fixture::ADMIN);
    let id = Uuid::now_v7();
    let url = format!("http://localhost:{}/hook", receiver.port);
    ctx.app
        .db
        .client()
        .await
        .execute(
            &format!(
                "INSERT INTO webhooks (id, url, events, secret, feed_cursor) \
                 VALUES ('{id}', $1, '{{pledge}}', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', \
                         (SELECT last_seq FROM change_feed_state))"
            ),
            &[&url],
        )
        .await
        .unwrap();
    create_pledge(&ctx, fixture::C1_MANAGER, ctx.fixture.tree.c1.id, "Đường").await;
    let worker = deliverer(&ctx);
    let path = format!("{WEBHOOKS}/{id}/deliveries");
    let deadline = Instant::now() + Duration::from_secs(10);
    while ctx
        .app
        .db
        .count("SELECT count(*) FROM webhook_attempts")
        .await
        == 0
    {
        assert!(Instant::now() < deadline, "no attempt");
        worker.round().await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (_, page) = ctx.app.get_json(&path, admin).await;
    let attempt = &page["items"][0]["attempts"][0];
    assert_eq!(attempt["outcome"], "refused", "{page}");
    assert!(
        attempt["error"].as_str().unwrap().contains("127.0.0.1"),
        "{attempt}"
    );
    assert!(attempt["status_code"].is_null());
    assert_eq!(receiver.count(), 0);
}

#[tokio::test]
async fn a_redirect_is_never_followed_not_even_to_an_allowed_address() {
    let ctx = new_ctx(fast).await;
    let admin = ctx.token(fixture::ADMIN);
    let receiver = Receiver::start().await;
    let inside = Receiver::start().await;
    for location in [
        format!("http://localhost:{}/", inside.port),
        inside.url("/"),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
    ] {
        receiver.redirect_to(&location);
        let webhook = subscribe(&ctx, admin, &receiver.url("/hook"), &["pledge"]).await;
        let id = webhook["id"].as_str().unwrap().to_owned();
        create_pledge(&ctx, fixture::C1_MANAGER, ctx.fixture.tree.c1.id, &location).await;
        let worker = deliverer(&ctx);
        let before = receiver.count();
        deliver_until(&worker, Duration::from_secs(10), || {
            receiver.count() > before
        })
        .await;
        let items = deliveries(&ctx, admin, &id).await;
        let attempt = &items[0]["attempts"][0];
        assert_eq!(attempt["outcome"], "failed", "{location}: {attempt}");
        assert_eq!(attempt["status_code"], 307);
        assert!(
            attempt["error"].as_str().unwrap().contains("redirect"),
            "{attempt}"
        );
        assert!(!attempt.to_string().contains("never shown"), "{attempt}");
        assert_eq!(items[0]["status"], "pending");
        assert_eq!(
            ctx.app
                .delete(&format!("{WEBHOOKS}/{id}"), admin)
                .await
                .status(),
            204
        );
    }
    assert_eq!(inside.count(), 0, "a redirect was followed");
}

#[tokio::test]
async fn deliveries_are_signed_in_feed_order_and_show_each_owner_what_it_may_read() {
    let ctx = new_ctx(fast).await;
    let admin = ctx.token(fixture::ADMIN);
    let client = ctx.fixture.client_token(&ctx.app).await;
    let everything = Receiver::start().await;
    let partner = Receiver::start().await;
    let admins = subscribe(&ctx, admin, &everything.url("/hook"), &["pledge"]).await;
    let partners = subscribe(&ctx, &client, &partner.url("/hook"), &["pledge"]).await;

    let c1 = ctx.fixture.tree.c1.id;
    let c2 = ctx.fixture.tree.c2.id;
    let a = create_pledge(&ctx, fixture::C1_MANAGER, c1, "Đường giao thông").await;
    let b = create_pledge(&ctx, fixture::C2_MANAGER, c2, "Trường học").await;
    let response = ctx
        .post_action(PLEDGES, ctx.token(fixture::C1_MANAGER), &a, "submit", None)
        .await;
    assert_eq!(response.status(), 200);
    // Not subscribed: organizations.
    let (status, _) = ctx
        .app
        .post_for_json(
            "/api/v1/organizations",
            admin,
            &json!({ "parent_id": c1, "kind": "hamlet", "name": "Ấp 1" }),
        )
        .await;
    assert_eq!(status, 201);

    let worker = deliverer(&ctx);
    deliver_until(&worker, Duration::from_secs(10), || {
        everything.count() >= 3 && partner.count() >= 2
    })
    .await;
    // The same events as the feed shows each of them, in the same order.
    for (receiver, webhook, token, expected) in [
        (&everything, &admins, admin, vec![&a, &b, &a]),
        (&partner, &partners, client.as_str(), vec![&a, &a]),
    ] {
        let requests = receiver.requests();
        let secret = webhook["secret"].as_str().unwrap();
        let ids: Vec<String> = requests
            .iter()
            .map(|request| request.json()["data"]["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ids.iter().collect::<Vec<_>>(), expected);
        let (_, feed) = ctx
            .app
            .get_json(&format!("{CHANGES}?types=pledge"), token)
            .await;
        let feed_seqs: Vec<i64> = feed["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["seq"].as_i64().unwrap())
            .collect();
        assert_eq!(seqs(&requests), feed_seqs);
        for request in &requests {
            assert!(signature_is_valid(secret, request), "{request:?}");
            let body = request.json();
            let seq = body["data"]["seq"].as_i64().unwrap();
            assert_eq!(request.header("webhook-id"), format!("msg_{seq}"));
            assert_eq!(request.header("content-type"), "application/json");
            let timestamp: i64 = request.header("webhook-timestamp").parse().unwrap();
            assert!((chrono::Utc::now().timestamp() - timestamp).abs() < 60);
            let action = body["data"]["action"].as_str().unwrap();
            assert_eq!(body["type"], format!("pledge.{action}"));
            // A tampered body does not verify.
            let mut forged = request.clone();
            forged.body = forged.body.replace("pledge", "pledgf");
            assert!(!signature_is_valid(secret, &forged));
        }
        let items = deliveries(&ctx, token, webhook["id"].as_str().unwrap()).await;
        assert!(items.iter().all(|item| item["status"] == "delivered"));
        assert!(
            items
                .iter()
                .all(|item| item["attempts"].as_array().unwrap().len() == 1)
        );
    }
}

#[tokio::test]
async fn failures_are_retried_with_doubling_waits_in_order_and_every_attempt_is_recorded() {
    let ctx = new_ctx(fast).await;
    let admin = ctx.token(fixture::ADMIN);
    let receiver = Receiver::start().await;
    receiver.answer_next(&[500, 503, 500]);
    let webhook = subscribe(&ctx, admin, &receiver.url("/hook"), &["pledge"]).await;
    let id = webhook["id"].as_str().unwrap();
    let c1 = ctx.fixture.tree.c1.id;
    create_pledge(&ctx, fixture::C1_MANAGER, c1, "Một").await;
    create_pledge(&ctx, fixture::C1_MANAGER, c1, "Hai").await;

    let worker = deliverer(&ctx);
    deliver_until(&worker, Duration::from_secs(10), || receiver.count() >= 5).await;
    let requests = receiver.requests();
    let order = seqs(&requests);
    // The first event is tried four times before the second is sent at all.
    assert_eq!(
        order[0..4].iter().collect::<HashSet<_>>().len(),
        1,
        "{order:?}"
    );
    assert!(order[4] > order[0], "{order:?}");
    assert!(
        requests[0..4]
            .iter()
            .all(|request| request.header("webhook-id") == requests[0].header("webhook-id"))
    );
    let waits: Vec<Duration> = requests[0..4]
        .windows(2)
        .map(|pair| pair[1].at - pair[0].at)
        .collect();
    // 50 ms, 100 ms, 200 ms (less up to a tenth), each at least the one before.
    assert!(waits[0] >= Duration::from_millis(45), "{waits:?}");
    assert!(waits[1] >= Duration::from_millis(90), "{waits:?}");
    assert!(waits[2] >= Duration::from_millis(180), "{waits:?}");

    let items = deliveries(&ctx, admin, id).await;
    assert_eq!(items.len(), 2);
    let first = &items[1];
    let outcomes: Vec<(&str, i64)> = first["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|attempt| {
            (
                attempt["outcome"].as_str().unwrap(),
                attempt["status_code"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        vec![
            ("failed", 500),
            ("failed", 503),
            ("failed", 500),
            ("delivered", 200)
        ]
    );
    assert_eq!(first["status"], "delivered");
    assert!(first["next_attempt_at"].is_null());
    assert_eq!(items[0]["status"], "delivered");
    // Filter by state, and the page answers no receiver body anywhere.
    let (status, page) = ctx
        .app
        .get_json(&format!("{WEBHOOKS}/{id}/deliveries?status=pending"), admin)
        .await;
    assert_eq!(status, 200);
    assert_eq!(page["items"], json!([]));
    assert!(!page.to_string().contains("never shown"));
}

#[tokio::test]
async fn a_receiver_failing_for_the_whole_retry_window_gets_its_subscription_disabled() {
    let ctx = new_ctx(|settings| {
        fast(settings);
        settings.webhooks.retry_for = Duration::from_millis(800);
    })
    .await;
    let admin = ctx.token(fixture::ADMIN);
    let receiver = Receiver::start().await;
    receiver.answer_always(503);
    let webhook = subscribe(&ctx, admin, &receiver.url("/hook"), &["pledge"]).await;
    let path = format!("{WEBHOOKS}/{}", webhook["id"].as_str().unwrap());
    create_pledge(&ctx, fixture::C1_MANAGER, ctx.fixture.tree.c1.id, "Một").await;

    let worker = deliverer(&ctx);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        worker.round().await.unwrap();
        let (_, current) = ctx.app.get_json(&path, admin).await;
        if current["status"] == "disabled" {
            assert!(
                current["disabled_reason"]
                    .as_str()
                    .unwrap()
                    .contains("HTTP 503"),
                "{current}"
            );
            assert!(current["disabled_at"].is_string());
            break;
        }
        assert!(Instant::now() < deadline, "never disabled: {current}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let sent = receiver.count();
    assert!(sent >= 3, "only {sent} attempts before giving up");
    let items = deliveries(&ctx, admin, webhook["id"].as_str().unwrap()).await;
    assert_eq!(items[0]["status"], "failed");
    assert_eq!(items[0]["attempts"].as_array().unwrap().len(), sent);
    assert_eq!(
        crate::helpers::audit_count(&ctx.app, webhook["id"].as_str(), Some("webhook.disable"))
            .await,
        1
    );
    // Disabled means nothing more is sent, nor queued.
    create_pledge(&ctx, fixture::C1_MANAGER, ctx.fixture.tree.c1.id, "Hai").await;
    for _ in 0..5 {
        worker.round().await.unwrap();
    }
    assert_eq!(receiver.count(), sent);
    assert_eq!(
        deliveries(&ctx, admin, webhook["id"].as_str().unwrap())
            .await
            .len(),
        1
    );
}

/// A worker (of any instance) that claimed a subscription and died before sending, or while
/// sending, loses nothing: once its lease expires another worker sends the event.
#[tokio::test]
async fn an_event_claimed_by_a_worker_that_died_is_delivered_after_its_lease_expires() {
    let ctx = new_ctx(fast).await;
    let admin = ctx.token(fixture::ADMIN);
    let receiver = Receiver::start().await;
    let webhook = subscribe(&ctx, admin, &receiver.url("/hook"), &["pledge"]).await;
    create_pledge(&ctx, fixture::C1_MANAGER, ctx.fixture.tree.c1.id, "Một").await;
    let worker = deliverer(&ctx);
    thidua::changes::repo::sequence(&mut ctx.app.state.db.write().await.unwrap(), 5000)
        .await
        .unwrap();
    assert_eq!(worker.fan_out().await.unwrap(), 1);

    // The dying worker: takes the subscription for a second, then is gone.
    let lease = Duration::from_secs(1);
    let claimed = thidua::webhooks::repo::claim(
        &mut ctx.app.state.db.write().await.unwrap(),
        Uuid::new_v4(),
        lease,
    )
    .await
    .unwrap()
    .expect("the subscription is due");
    assert_eq!(claimed.id.to_string(), webhook["id"].as_str().unwrap());
    let died_at = Instant::now();
    // Meanwhile nobody else sends it: the lease holds.
    assert_eq!(worker.deliver_due().await.unwrap(), 0);
    assert_eq!(receiver.count(), 0);

    deliver_until(&worker, Duration::from_secs(10), || receiver.count() == 1).await;
    assert!(died_at.elapsed() >= Duration::from_millis(900));
    for _ in 0..3 {
        worker.round().await.unwrap();
    }
    assert_eq!(receiver.count(), 1, "delivered once");

    // A worker killed in the middle of a request: the event goes out again after the lease,
    // with the same webhook-id, so the receiver can tell it already has it.
    receiver.delay(Duration::from_millis(600));
    create_pledge(&ctx, fixture::C1_MANAGER, ctx.fixture.tree.c1.id, "Hai").await;
    let dying = deliverer(&ctx);
    let task = tokio::spawn(async move {
        loop {
            dying.round().await.unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while receiver.count() < 2 {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    task.abort();
    receiver.delay(Duration::ZERO);
    deliver_until(&worker, Duration::from_secs(15), || receiver.count() >= 3).await;
    let requests = receiver.requests();
    assert_eq!(
        requests[1].header("webhook-id"),
        requests[2].header("webhook-id")
    );
    let items = deliveries(&ctx, admin, webhook["id"].as_str().unwrap()).await;
    assert!(
        items.iter().all(|item| item["status"] == "delivered"),
        "{items:?}"
    );
}

/// Two instances' workers on one database send every event once, in order.
#[tokio::test]
async fn two_workers_deliver_a_burst_once_each_in_order() {
    let ctx = new_ctx(fast).await;
    let admin = ctx.token(fixture::ADMIN);
    let receiver = Receiver::start().await;
    subscribe(&ctx, admin, &receiver.url("/hook"), &["pledge"]).await;
    let c1 = ctx.fixture.tree.c1.id;
    for index in 0..12 {
        create_pledge(&ctx, fixture::C1_MANAGER, c1, &format!("Việc {index}")).await;
    }
    let (one, two) = (deliverer(&ctx), deliverer(&ctx));
    let deadline = Instant::now() + Duration::from_secs(20);
    while receiver.count() < 12 {
        let (a, b) = tokio::join!(one.round(), two.round());
        a.unwrap();
        b.unwrap();
        assert!(Instant::now() < deadline, "{} of 12", receiver.count());
    }
    for _ in 0..3 {
        let (a, b) = tokio::join!(one.round(), two.round());
        a.unwrap();
        b.unwrap();
    }
    let order = seqs(&receiver.requests());
    assert_eq!(order.len(), 12, "{order:?}");
    assert!(order.windows(2).all(|pair| pair[0] < pair[1]), "{order:?}");
}

#[tokio::test]
async fn finished_deliveries_past_the_retention_are_purged_and_pending_ones_kept() {
    let ctx = new_ctx(fast).await;
    let admin = ctx.token(fixture::ADMIN);
    let receiver = Receiver::start().await;
    let webhook = subscribe(&ctx, admin, &receiver.url("/hook"), &["pledge"]).await;
    let id = webhook["id"].as_str().unwrap();
    let c1 = ctx.fixture.tree.c1.id;
    create_pledge(&ctx, fixture::C1_MANAGER, c1, "Một").await;
    create_pledge(&ctx, fixture::C1_MANAGER, c1, "Hai").await;
    let worker = deliverer(&ctx).keeping(Duration::from_secs(86_400));
    deliver_until(&worker, Duration::from_secs(10), || receiver.count() == 2).await;
    receiver.answer_always(500);
    create_pledge(&ctx, fixture::C1_MANAGER, c1, "Ba").await;
    deliver_until(&worker, Duration::from_secs(10), || receiver.count() == 3).await;
    ctx.app
        .db
        .client()
        .await
        .batch_execute("UPDATE webhook_deliveries SET created_at = now() - interval '2 days'")
        .await
        .unwrap();
    assert_eq!(worker.purge().await.unwrap(), 2);
    let items = deliveries(&ctx, admin, id).await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["status"], "pending");
    assert_eq!(
        ctx.app
            .db
            .count("SELECT count(*) FROM webhook_attempts")
            .await,
        1,
        "the purged deliveries' attempts go with them"
    );
}
