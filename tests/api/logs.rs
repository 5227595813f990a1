//! The binary's JSON log lines (`THIDUA_LOG_FORMAT=json`): every request ends in one
//! `request served` line that names the request — method, path and the request id the client
//! sent or the one the service made — with its status and time, one JSON object per line.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::TestApp;
use crate::helpers::process::{ScratchDir, ServiceProcess};

/// The `request served` lines of the process for `request_id`, waiting up to 10 s for `count`
/// of them (lines are written by a thread of their own, a moment after the response).
async fn served_lines(service: &ServiceProcess, request_id: &str, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = service.log();
        let lines: Vec<Value> = log
            .lines()
            .filter(|line| line.starts_with('{'))
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
            .filter(|line: &Value| {
                line["message"] == "request served" && line["span"]["request_id"] == request_id
            })
            .collect();
        if lines.len() >= count || Instant::now() > deadline {
            return lines;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn every_request_ends_in_one_json_line_naming_it() {
    let app = TestApp::spawn().await;
    let scratch = ScratchDir::new();
    let key = scratch.signing_key();
    let service =
        ServiceProcess::start("A", &scratch, &app.db.url, &key, &[("RUST_LOG", "info")]).await;

    let probe = "log-probe-1";
    let response = service
        .http
        .get(service.url("/healthz"))
        .header("X-Request-Id", probe)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let missing = service
        .http
        .get(service.url("/api/v1/pledges/not-a-uuid/nothing"))
        .header("X-Request-Id", "log-probe-2")
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    let lines = served_lines(&service, probe, 1).await;
    assert_eq!(
        lines.len(),
        1,
        "one line for the request:\n{}",
        service.log()
    );
    let line = &lines[0];
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["status"], 200);
    assert!(
        line["elapsed_ms"].as_f64().is_some_and(|ms| ms >= 0.0),
        "{line}"
    );
    assert_eq!(line["target"], "thidua::middleware");
    assert_eq!(line["span"]["method"], "GET");
    assert_eq!(line["span"]["path"], "/healthz");
    assert_eq!(line["span"]["name"], "request");
    let timestamp = line["timestamp"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(timestamp).is_ok(),
        "{timestamp}"
    );

    let lines = served_lines(&service, "log-probe-2", 1).await;
    assert_eq!(lines.len(), 1, "{}", service.log());
    assert_eq!(lines[0]["status"], 404);
    assert_eq!(
        lines[0]["span"]["path"],
        "/api/v1/pledges/not-a-uuid/nothing"
    );

    // A request without an id gets one, and its line carries the id of its response.
    let response = service
        .http
        .get(service.url("/readyz"))
        .send()
        .await
        .unwrap();
    let made = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let lines = served_lines(&service, &made, 1).await;
    assert_eq!(lines.len(), 1, "{}", service.log());
    assert_eq!(lines[0]["span"]["path"], "/readyz");
}
