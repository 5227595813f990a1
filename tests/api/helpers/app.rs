//! The real application on a random port, against its own database.

use std::time::Duration;

use reqwest::{Method, RequestBuilder, Response};
use serde_json::Value;
use thidua::config::{PasswordHashing, Settings};
use thidua::startup::Application;
use thidua::state::AppState;

use super::db::TestDb;

/// Cheap hashing keeps the suite fast; the OWASP parameters are tested on their own.
pub const TEST_HASHING: PasswordHashing = PasswordHashing {
    memory_kib: 1024,
    iterations: 1,
    parallelism: 1,
};

pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub db: TestDb,
    pub state: AppState,
    pub http: reqwest::Client,
}

/// Settings of a test instance; `adjust` may change any of them.
pub fn test_settings(database_url: &str, adjust: impl FnOnce(&mut Settings)) -> Settings {
    let mut settings = Settings::from_lookup(|name| match name {
        "DATABASE_URL" => Some(database_url.to_owned()),
        "THIDUA_BIND" => Some("127.0.0.1:0".to_owned()),
        "THIDUA_PUBLIC_URL" => Some("http://thidua.test".to_owned()),
        "THIDUA_WORKERS" => Some("1".to_owned()),
        "THIDUA_DB_POOL_SIZE" => Some("4".to_owned()),
        "THIDUA_LOG_FORMAT" => Some("json".to_owned()),
        _ => None,
    })
    .expect("test settings");
    settings.password_hashing = TEST_HASHING;
    adjust(&mut settings);
    settings
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(adjust: impl FnOnce(&mut Settings)) -> Self {
        let db = TestDb::new().await;
        let settings = test_settings(&db.url, adjust);
        Self::spawn_on(db, settings).await
    }

    /// A second instance on the database of `other` (shared state such as login throttling).
    pub async fn spawn_beside(other: &TestApp, adjust: impl FnOnce(&mut Settings)) -> Self {
        let db = TestDb::attach(&other.db);
        let settings = test_settings(&db.url, adjust);
        Self::spawn_on(db, settings).await
    }

    pub async fn spawn_on(db: TestDb, settings: Settings) -> Self {
        let application = Application::build(settings)
            .await
            .expect("application builds");
        let port = application.port();
        let state = application.state().clone();
        tokio::spawn(application.run_until_stopped());
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            // Idle connections go before the service's keep-alive (actix-web's 5 s) closes
            // them: a request sent on a connection the server is closing fails with
            // `IncompleteMessage` (seen under load after a pause of about 5 s).
            .pool_idle_timeout(Duration::from_secs(2))
            .build()
            .expect("http client");
        Self {
            address: format!("http://127.0.0.1:{port}"),
            port,
            db,
            state,
            http,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// A request to `path` (absolute, e.g. `/api/v1/me`), with a bearer token when given.
    pub fn request(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let builder = self.http.request(method, self.url(path));
        match token {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.request(Method::GET, path, Some(token))
            .send()
            .await
            .expect("request")
    }

    pub async fn post_json(&self, path: &str, token: &str, body: &Value) -> Response {
        self.send_json(Method::POST, path, token, body).await
    }

    pub async fn patch_json(&self, path: &str, token: &str, body: &Value) -> Response {
        self.send_json(Method::PATCH, path, token, body).await
    }

    /// `method path` with a bearer token and a JSON body.
    async fn send_json(&self, method: Method, path: &str, token: &str, body: &Value) -> Response {
        self.request(method, path, Some(token))
            .json(body)
            .send()
            .await
            .expect("request")
    }

    /// `DELETE path` with a bearer token, no conditions.
    pub async fn delete(&self, path: &str, token: &str) -> Response {
        self.request(Method::DELETE, path, Some(token))
            .send()
            .await
            .expect("request")
    }

    /// The ETag of `GET path` (asserts 200).
    pub async fn etag_of(&self, path: &str, token: &str) -> Option<String> {
        let response = self.get(path, token).await;
        assert_eq!(response.status(), 200, "{path}");
        response
            .headers()
            .get(reqwest::header::ETAG)
            .map(|tag| tag.to_str().unwrap().to_owned())
    }

    /// `GET path` with `If-None-Match: tag`.
    pub async fn get_if_none_match(&self, path: &str, token: &str, tag: &str) -> Response {
        self.request(Method::GET, path, Some(token))
            .header(reqwest::header::IF_NONE_MATCH, tag)
            .send()
            .await
            .expect("request")
    }

    /// `GET path`: its status and JSON body (see [`status_and_json`]).
    pub async fn get_json(&self, path: &str, token: &str) -> (u16, Value) {
        status_and_json(self.get(path, token).await).await
    }

    /// `POST path` with a JSON body: the status and JSON body of the answer.
    pub async fn post_for_json(&self, path: &str, token: &str, body: &Value) -> (u16, Value) {
        status_and_json(self.post_json(path, token, body).await).await
    }

    /// `PATCH path` with a JSON body: the status and JSON body of the answer.
    pub async fn patch_for_json(&self, path: &str, token: &str, body: &Value) -> (u16, Value) {
        status_and_json(self.patch_json(path, token, body).await).await
    }

    /// Logs in with the password grant and returns the whole token response.
    pub async fn login(&self, username: &str, password: &str) -> Response {
        self.http
            .post(self.url("/api/v1/auth/token"))
            .json(&serde_json::json!({"grant_type": "password", "username": username, "password": password}))
            .send()
            .await
            .expect("request")
    }

    /// An access token of `username` (password grant; panics when it fails).
    pub async fn token(&self, username: &str, password: &str) -> String {
        let response = self.login(username, password).await;
        assert_eq!(response.status(), 200, "login of {username} failed");
        let body: Value = response.json().await.expect("json");
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }
}

/// Status and JSON body of a response (Null when the body is not JSON).
pub async fn status_and_json(response: Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}
