//! The reference receiver (`scripts/webhook-receiver`, Python with the standardwebhooks
//! library) against the real binary (issue 19): a burst of writes, the receiver killed for a
//! while and the service killed mid-delivery, and still every event arrives, verified, exactly
//! once and in `seq` order.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::helpers::fixture::{self, Fixture};
use crate::helpers::process::{ScratchDir, ServiceProcess};
use crate::helpers::{TestApp, status_and_json};

const PLEDGES: &str = "/api/v1/pledges";

/// Delivery settings of the processes: 127.0.0.1 allowed, waits of milliseconds.
const ENV: [(&str, &str); 6] = [
    ("THIDUA_WEBHOOK_ALLOWED_HOSTS", "127.0.0.1"),
    ("THIDUA_WEBHOOK_TIMEOUT_MS", "2000"),
    ("THIDUA_WEBHOOK_RETRY_BASE_MS", "100"),
    ("THIDUA_WEBHOOK_RETRY_MAX_MS", "400"),
    ("THIDUA_WEBHOOK_RETRY_FOR_SECONDS", "600"),
    ("THIDUA_WEBHOOK_POLL_MS", "50"),
];

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .unwrap()
        .port()
}

/// `scripts/webhook-receiver` on 127.0.0.1:`port`, killed (SIGKILL) when dropped.
struct PythonReceiver {
    child: Child,
    log: PathBuf,
}

impl PythonReceiver {
    fn start(port: u16, secret: &str, store: &Path, log: PathBuf) -> Self {
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scripts/webhook-receiver"
        ))
        .args(["--port", &port.to_string(), "--store"])
        .arg(store)
        .env("THIDUA_WEBHOOK_SECRET", secret)
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .expect("run scripts/webhook-receiver (needs python3 and PyPI on first use)");
        let mut receiver = Self { child, log };
        // The first start installs the library: allow for it.
        let deadline = Instant::now() + Duration::from_secs(180);
        while !receiver.output().contains("listening on") {
            if let Ok(Some(status)) = receiver.child.try_wait() {
                panic!("the receiver exited ({status}):\n{}", receiver.output());
            }
            assert!(Instant::now() < deadline, "{}", receiver.output());
            std::thread::sleep(Duration::from_millis(100));
        }
        receiver
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for PythonReceiver {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The `seq` of every event in the receiver's store, in file order.
fn applied(store: &Path) -> Vec<i64> {
    std::fs::read_to_string(store)
        .unwrap_or_default()
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            serde_json::from_str::<Value>(line).unwrap()["seq"]
                .as_i64()
                .unwrap()
        })
        .collect()
}

/// `n` pledges created by `token`, five at a time.
async fn burst(process: &ServiceProcess, token: &str, body: impl Fn(usize) -> Value, n: usize) {
    for start in (0..n).step_by(5) {
        burst_of(process, token, &body, start..(start + 5).min(n)).await;
    }
}

async fn burst_of(
    process: &ServiceProcess,
    token: &str,
    body: &impl Fn(usize) -> Value,
    indexes: std::ops::Range<usize>,
) {
    let requests = indexes.map(|index| {
        let body = body(index);
        async move {
            let response = process
                .http
                .post(process.url(PLEDGES))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 201);
        }
    });
    join_all(requests).await;
}

async fn token_of(process: &ServiceProcess, username: &str) -> String {
    let response = process
        .http
        .post(process.url("/api/v1/auth/token"))
        .json(&json!({
            "grant_type": "password",
            "username": username,
            "password": fixture::password_of(username),
        }))
        .send()
        .await
        .unwrap();
    let (status, body) = status_and_json(response).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_reference_receiver_gets_every_event_once_in_order_through_its_outage_and_a_crash() {
    let app = TestApp::spawn().await;
    let fixture = Fixture::load(&app).await;
    let campaign = fixture
        .campaign(&app, &[("nong_thon_moi", "Nông thôn mới")])
        .await;
    let scratch = ScratchDir::new();
    let key = scratch.signing_key();
    let service = ServiceProcess::start("A", &scratch, &app.db.url, &key, &ENV).await;
    let admin = token_of(&service, fixture::ADMIN).await;
    let manager = token_of(&service, fixture::C1_MANAGER).await;

    let port = free_port();
    let response = service
        .http
        .post(service.url("/api/v1/webhooks"))
        .bearer_auth(&admin)
        .json(&json!({ "url": format!("http://127.0.0.1:{port}/thidua"), "events": ["pledge"] }))
        .send()
        .await
        .unwrap();
    let (status, webhook) = status_and_json(response).await;
    assert_eq!(status, 201, "{webhook}");
    let secret = webhook["secret"].as_str().unwrap().to_owned();
    let subscribed_at = webhook["feed_position"].as_i64().unwrap();
    let store = scratch.path.join("events.jsonl");
    let mut receiver =
        PythonReceiver::start(port, &secret, &store, scratch.path.join("receiver-1.log"));

    let c1 = fixture.tree.c1.id;
    let pledge = |round: &'static str| {
        move |index: usize| {
            json!({
                "campaign_id": campaign,
                "organization_id": c1,
                "year": 2022,
                "kind": "target",
                "field": "nong_thon_moi",
                "title": format!("{round} {index}"),
                "target_value": 10,
                "target_unit": "km",
                "deadline": "2022-12-31"
            })
        }
    };
    // A burst; the receiver is killed while it is applying it.
    burst(&service, &manager, pledge("Đợt 1"), 25).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while applied(&store).len() < 5 {
        assert!(Instant::now() < deadline, "{}", receiver.output());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    receiver.kill();
    // Written while it is down; deliveries fail and are retried.
    burst(&service, &manager, pledge("Đợt 2"), 15).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let failed = app
        .db
        .count("SELECT count(*) FROM webhook_attempts WHERE outcome = 'failed'")
        .await;
    assert!(failed > 0, "no attempt failed while the receiver was down");

    // It comes back; then the service dies mid-delivery (SIGKILL) and another takes over.
    let receiver =
        PythonReceiver::start(port, &secret, &store, scratch.path.join("receiver-2.log"));
    let deadline = Instant::now() + Duration::from_secs(30);
    let before = applied(&store).len();
    while applied(&store).len() == before {
        assert!(Instant::now() < deadline, "{}", receiver.output());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(service);
    let service = ServiceProcess::start("B", &scratch, &app.db.url, &key, &ENV).await;
    let manager = token_of(&service, fixture::C1_MANAGER).await;
    burst(&service, &manager, pledge("Đợt 3"), 10).await;

    // Every pledge event since the subscription, as the feed numbered them.
    let expected: Vec<i64> = {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let client = app.db.client().await;
            let rows = client
                .query(
                    "SELECT seq FROM change_events WHERE entity_type = 'pledge' \
                     AND seq > $1 ORDER BY seq",
                    &[&subscribed_at],
                )
                .await
                .unwrap();
            let unnumbered = app
                .db
                .count("SELECT count(*) FROM change_events WHERE seq IS NULL")
                .await;
            if rows.len() == 50 && unnumbered == 0 {
                break rows.iter().map(|row| row.get::<_, i64>(0)).collect();
            }
            assert!(Instant::now() < deadline, "{} of 50 numbered", rows.len());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let deadline = Instant::now() + Duration::from_secs(90);
    while applied(&store).len() < expected.len() {
        assert!(
            Instant::now() < deadline,
            "{} of {} applied; receiver:\n{}\nservice:\n{}",
            applied(&store).len(),
            expected.len(),
            receiver.output(),
            service.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(applied(&store), expected, "each event once, in seq order");
    let output = receiver.output();
    assert!(
        !output.contains("refused"),
        "a signature did not verify:\n{output}"
    );
    let outcomes = app
        .db
        .count("SELECT count(*) FROM webhook_deliveries WHERE status <> 'delivered'")
        .await;
    assert_eq!(outcomes, 0);
}
