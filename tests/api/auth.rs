//! Authentication: tokens, refresh rotation, throttling, JWT hardening (docs/security.md API2).

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde_json::{Value, json};
use thidua::auth::principal::Role;
use thidua::auth::tokens::TokenKeys;
use thidua::config::PasswordHashing;

use crate::helpers::arrange::{
    app_with_fixture, basic_client_credentials, client_credentials_response, fixture_as,
    get_anonymously, refresh, refresh_token_of, revoke_json, token_form,
};
use crate::helpers::fixture::{self, CLIENT_SECRET, Fixture};
use crate::helpers::{TestApp, status_and_json};

#[tokio::test]
async fn a_user_logs_in_and_reads_me() {
    let (app, fixture, token) = fixture_as(fixture::C1_MANAGER).await;
    let (status, body) = app.get_json("/api/v1/me", &token).await;
    assert_eq!(status, 200);
    assert_eq!(body["username"], fixture::C1_MANAGER);
    assert_eq!(body["memberships"][0]["role"], "manager");
    assert_eq!(
        body["memberships"][0]["organization_id"],
        json!(fixture.tree.c1.id)
    );
}

// ---------------------------------------------------------------------------------------------
// Helpers

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn segment_json(segment: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).unwrap()).unwrap()
}

/// The claims of a token the service issued (payload decoded without verification).
fn claims_of(token: &str) -> Value {
    segment_json(token.split('.').nth(1).unwrap())
}

/// The header the service puts on its own access tokens.
fn service_header(app: &TestApp) -> Header {
    let mut header = Header::new(Algorithm::EdDSA);
    header.typ = Some("at+jwt".to_owned());
    header.kid = Some(app.state.tokens.kid().to_owned());
    header
}

/// `claims` signed with the service's own header and key, as it signs its access tokens.
fn signed_by_the_service(app: &TestApp, claims: &Value) -> String {
    app.state
        .tokens
        .sign_claims_for_tests(service_header(app), claims)
}

/// Claims exactly like those of a freshly issued token of `username`.
async fn fresh_claims(app: &TestApp, username: &str) -> Value {
    claims_of(&app.token(username, &fixture::password_of(username)).await)
}

async fn me_with_authorization(app: &TestApp, authorization: &str) -> reqwest::Response {
    app.http
        .get(app.url("/api/v1/me"))
        .header("Authorization", authorization)
        .send()
        .await
        .unwrap()
}

/// `GET /me` with no credentials at all.
async fn me_without_a_token(app: &TestApp) -> reqwest::Response {
    app.request(Method::GET, "/api/v1/me", None)
        .send()
        .await
        .unwrap()
}

/// `token` sent as a bearer token is refused with a 401 problem and a Bearer challenge.
async fn assert_token_refused(app: &TestApp, token: &str, what: &str) {
    let response = me_with_authorization(app, &format!("Bearer {token}")).await;
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|value| value.to_str().unwrap().to_owned());
    let content_type = response
        .headers()
        .get("content-type")
        .map(|value| value.to_str().unwrap().to_owned());
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 401, "{what}: {body}");
    assert!(
        challenge
            .as_deref()
            .is_some_and(|c| c.starts_with("Bearer")),
        "{what}: WWW-Authenticate {challenge:?}"
    );
    assert_eq!(
        content_type.as_deref(),
        Some("application/problem+json"),
        "{what}"
    );
    assert_eq!(body["status"], 401, "{what}");
}

async fn assert_token_accepted(app: &TestApp, token: &str, what: &str) {
    let response = me_with_authorization(app, &format!("Bearer {token}")).await;
    assert_eq!(response.status(), 200, "{what}");
}

async fn login_json(app: &TestApp, username: &str, password: &str) -> (u16, Value) {
    status_and_json(app.login(username, password).await).await
}

/// A password-grant login of a fixture user with its own password: the raw response.
async fn login_right(app: &TestApp, username: &str) -> reqwest::Response {
    app.login(username, &fixture::password_of(username)).await
}

/// A password-grant login of a fixture user with its own password: the status and the answer.
async fn login_with_own_password(app: &TestApp, username: &str) -> (u16, Value) {
    login_json(app, username, &fixture::password_of(username)).await
}

/// An app that locks an account after three failed logins, with the fixture loaded.
async fn locking_after_three_failures() -> (TestApp, Fixture) {
    let app = TestApp::spawn_with(|settings| settings.login_max_failures = 3).await;
    let fixture = Fixture::load(&app).await;
    (app, fixture)
}

/// `POST /auth/revoke` with a form body: the status and the answer.
async fn revoke_form(app: &TestApp, form: &[(&str, &str)]) -> (u16, Value) {
    let request = app.http.post(app.url("/api/v1/auth/revoke")).form(form);
    status_and_json(request.send().await.unwrap()).await
}

/// Password hashing costlier than the tests' own, as real parameters would be.
const SLOW_HASHING: PasswordHashing = PasswordHashing {
    memory_kib: 16 * 1024,
    iterations: 3,
    parallelism: 1,
};

/// Password hashing with older parameters than the app's, which a login rewrites.
const OLD_HASHING: PasswordHashing = PasswordHashing {
    memory_kib: 2048,
    iterations: 1,
    parallelism: 1,
};

/// Stores a member of C1 whose password was hashed with `hashing`: the stored hash.
async fn c1_member_hashed_with(
    app: &TestApp,
    fixture: &Fixture,
    names: (&str, &str),
    hashing: &PasswordHashing,
    password: &str,
) -> String {
    fixture::member_hashed_with(app, fixture.tree.c1.id, names, hashing, password).await
}

/// The password hash stored for `username`.
async fn stored_hash(app: &TestApp, username: &str) -> String {
    let client = app.db.client().await;
    client
        .query_one(
            "SELECT password_hash FROM users WHERE username = $1",
            &[&username],
        )
        .await
        .unwrap()
        .get(0)
}

fn without_request_identity(mut body: Value) -> Value {
    let object = body.as_object_mut().unwrap();
    object.remove("request_id");
    object.remove("instance");
    body
}

// ---------------------------------------------------------------------------------------------
// No token, token in the query string

#[tokio::test]
async fn a_request_without_a_token_is_401_with_a_bearer_challenge() {
    let app = TestApp::spawn().await;
    let response = me_without_a_token(&app).await;
    assert_eq!(response.status(), 401);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], 401);
    assert_eq!(
        body["type"],
        format!("/problems/{}", body["code"].as_str().unwrap())
    );
}

#[tokio::test]
async fn a_valid_token_in_the_query_string_is_not_accepted() {
    let (app, _, token) = fixture_as(fixture::ADMIN).await;
    assert_token_accepted(&app, &token, "the same token as a header").await;
    let response = app
        .request(
            Method::GET,
            &format!("/api/v1/me?access_token={token}"),
            None,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(response.headers().contains_key("www-authenticate"));
}

#[tokio::test]
async fn a_basic_or_unknown_authorization_scheme_is_not_a_bearer_token() {
    let (app, _, token) = fixture_as(fixture::ADMIN).await;
    for authorization in [
        format!("Basic {token}"),
        format!("Token {token}"),
        token.clone(),
        "Bearer".to_owned(),
        "Bearer ".to_owned(),
    ] {
        let response = me_with_authorization(&app, &authorization).await;
        assert_eq!(response.status(), 401, "{authorization:.20}");
    }
}

// ---------------------------------------------------------------------------------------------
// Login answers

#[tokio::test]
async fn an_unknown_user_and_a_wrong_password_get_the_same_answer() {
    let (app, _) = app_with_fixture().await;
    let unknown = app.login("nobody.at.all", "password-nobody").await;
    let wrong = app.login(fixture::C1_MANAGER, "not-the-password").await;
    assert_eq!(unknown.status(), wrong.status());
    assert_eq!(unknown.status(), 401);
    assert_eq!(
        unknown.headers().get("www-authenticate"),
        wrong.headers().get("www-authenticate")
    );
    assert_eq!(
        unknown.headers()["content-type"],
        wrong.headers()["content-type"]
    );
    let unknown: Value = unknown.json().await.unwrap();
    let wrong: Value = wrong.json().await.unwrap();
    assert_eq!(unknown["error"], "invalid_grant");
    assert_eq!(
        without_request_identity(unknown),
        without_request_identity(wrong)
    );
}

#[tokio::test]
async fn an_unknown_user_costs_as_much_time_as_a_wrong_password() {
    // With a costly hash, an answer that skips hashing for unknown users would be many times
    // faster; a dummy verification keeps the two within the same order.
    let app = TestApp::spawn_with(|settings| settings.password_hashing = SLOW_HASHING).await;
    let fixture = Fixture::load(&app).await;
    c1_member_hashed_with(
        &app,
        &fixture,
        ("slow.hash", "Slow hash"),
        &SLOW_HASHING,
        "the slow pass phrase",
    )
    .await;
    let median_time = |username: &'static str| {
        let app = &app;
        async move {
            let mut times = Vec::new();
            for n in 0..3 {
                let started = std::time::Instant::now();
                let (status, _) = login_json(app, username, &format!("wrong-{n}")).await;
                times.push(started.elapsed());
                assert_eq!(status, 401);
            }
            times.sort();
            times[1]
        }
    };
    let wrong_password = median_time("slow.hash").await;
    let unknown_user = median_time("nobody.at.all").await;
    assert!(
        unknown_user * 3 > wrong_password && wrong_password * 3 > unknown_user,
        "unknown user {unknown_user:?}, wrong password {wrong_password:?}"
    );
}

#[tokio::test]
async fn an_overlong_password_or_token_request_is_refused_without_a_server_error() {
    let (app, _) = app_with_fixture().await;
    // Past the documented maxLength (a bound of the request, the same for every account, so
    // it tells nothing about one): 422 naming the member, before any account is looked up.
    let (status, long) = login_json(&app, fixture::C1_MANAGER, &"p".repeat(10 * 1024)).await;
    assert_eq!(status, 422, "{long}");
    assert_eq!(long["errors"][0]["pointer"], "/password", "{long}");
    let (status, long) = login_json(&app, &"u".repeat(10 * 1024), "whatever").await;
    assert_eq!(status, 422, "{long}");
    assert_eq!(long["errors"][0]["pointer"], "/username", "{long}");
    // At the bound, the answer of a wrong password.
    let (status, long) = login_json(&app, fixture::C1_MANAGER, &"p".repeat(128)).await;
    let (_, wrong) = login_json(&app, fixture::C1_MANAGER, "not-the-password").await;
    assert_eq!(status, 401);
    assert_eq!(
        without_request_identity(long),
        without_request_identity(wrong)
    );
    // The token endpoint reads at most 16 KiB.
    let (status, body) = login_json(&app, fixture::C1_MANAGER, &"p".repeat(64 * 1024)).await;
    assert_eq!(status, 413, "{body}");
}

#[tokio::test]
async fn a_disabled_user_with_the_right_password_gets_the_wrong_password_answer() {
    let (app, _) = app_with_fixture().await;
    let (disabled_status, disabled) = login_with_own_password(&app, fixture::DISABLED).await;
    let (wrong_status, wrong) = login_json(&app, fixture::C1_MANAGER, "not-the-password").await;
    assert_eq!(disabled_status, 401);
    assert_eq!(disabled_status, wrong_status);
    assert!(disabled.get("access_token").is_none());
    assert_eq!(
        without_request_identity(disabled),
        without_request_identity(wrong)
    );
}

#[tokio::test]
async fn the_token_endpoint_accepts_a_form_body() {
    let (app, _) = app_with_fixture().await;
    let password = fixture::password_of(fixture::C1_MEMBER);
    let response = token_form(
        &app,
        &[
            ("grant_type", "password"),
            ("username", fixture::C1_MEMBER),
            ("password", &password),
        ],
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["refresh_token"].is_string());
    assert!(body["expires_in"].as_u64().unwrap() <= 900);
    assert_token_accepted(&app, body["access_token"].as_str().unwrap(), "form login").await;
}

#[tokio::test]
async fn an_unsupported_grant_type_is_400_unsupported_grant_type() {
    let app = TestApp::spawn().await;
    for response in [
        token_form(&app, &[("grant_type", "implicit")]).await,
        app.http
            .post(app.url("/api/v1/auth/token"))
            .json(&json!({"grant_type": "authorization_code"}))
            .send()
            .await
            .unwrap(),
    ] {
        let (status, body) = status_and_json(response).await;
        assert_eq!(status, 400);
        assert_eq!(body["error"], "unsupported_grant_type");
        assert_eq!(body["code"], "unsupported_grant_type");
    }
}

// ---------------------------------------------------------------------------------------------
// Throttling

#[tokio::test]
async fn repeated_failed_logins_lock_the_account_even_for_the_right_password() {
    let (app, _) = locking_after_three_failures().await;
    for attempt in 1..=2 {
        let (status, _) = login_json(&app, fixture::C1_MANAGER, "wrong-password").await;
        assert_eq!(status, 401, "failure {attempt}");
    }
    let third = app.login(fixture::C1_MANAGER, "wrong-password").await;
    assert_eq!(third.status(), 429);
    let retry_after: u64 = third.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);

    let right = login_right(&app, fixture::C1_MANAGER).await;
    assert_eq!(right.status(), 429);
    assert!(right.headers().contains_key("retry-after"));
    assert_eq!(right.headers()["content-type"], "application/problem+json");
    let body: Value = right.json().await.unwrap();
    assert_eq!(body["code"], "too_many_requests");
    assert!(body.get("access_token").is_none());

    // The lock lives in PostgreSQL, not in the process: on this account from this address.
    assert_eq!(
        app.db
            .count(
                "SELECT count(*) FROM login_throttle \
                 WHERE account_key = 'c1.manager@127.0.0.1' AND locked_until > now()"
            )
            .await,
        1
    );
    // Other accounts are not affected.
    let (status, _) = login_with_own_password(&app, fixture::C1_MEMBER).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_burst_of_concurrent_guesses_gets_no_more_tries_than_the_limit() {
    let (app, fixture) = locking_after_three_failures().await;
    // A costly hash keeps the guesses in flight together, as real parameters would.
    let password = "the slow pass phrase";
    c1_member_hashed_with(
        &app,
        &fixture,
        ("slow.hash", "Slow hash"),
        &SLOW_HASHING,
        password,
    )
    .await;
    let guesses = (0..16).map(|n| {
        let app = &app;
        async move { login_json(app, "slow.hash", &format!("guess-{n}")).await.0 }
    });
    let statuses = futures_util::future::join_all(guesses).await;
    // Every guess that reached the password check is counted: no more than the limit.
    let checked = app
        .db
        .count("SELECT failures::bigint FROM login_throttle WHERE account_key = 'slow.hash'")
        .await;
    assert!(checked <= 3, "{checked} guesses were checked: {statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|status| *status == 401 || *status == 429)
    );
    assert!(statuses.iter().filter(|status| **status == 401).count() <= 2);
    let right = app.login("slow.hash", password).await;
    assert_eq!(right.status(), 429);
}

#[tokio::test]
async fn a_login_storm_does_not_take_the_database_connections_of_other_requests() {
    // Logins wait for a bounded number of hashing slots; they must not hold a pooled
    // connection meanwhile, or a storm of them starves every other request (503).
    // The storm must outlast the acquire timeout, or a login holding its connection
    // through the hash would go unnoticed; the hashes are made heavy for that.
    let acquire_timeout = Duration::from_secs(1);
    let app = TestApp::spawn_with(|settings| {
        settings.db_pool_size = 2;
        settings.db_acquire_timeout = acquire_timeout;
        // The dummy hash of unknown users is made with these parameters.
        settings.password_hashing = PasswordHashing {
            memory_kib: 64 * 1024,
            iterations: 4,
            parallelism: 1,
        };
    })
    .await;
    let fixture = Fixture::load(&app).await;
    let token = fixture.token(&app, fixture::C1_MEMBER).await;
    let storm_done = std::sync::atomic::AtomicBool::new(false);
    let started = std::time::Instant::now();
    let storm = async {
        let logins = futures_util::future::join_all((0..16).map(|n| {
            let app = &app;
            async move { login_json(app, &format!("nobody.{n}"), "guess").await.0 }
        }))
        .await;
        storm_done.store(true, std::sync::atomic::Ordering::SeqCst);
        (logins, started.elapsed())
    };
    let reads = async {
        // Let the storm start, then read for as long as it lasts.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut statuses = Vec::new();
        while !storm_done.load(std::sync::atomic::Ordering::SeqCst) {
            statuses.push(
                app.get("/api/v1/organizations", &token)
                    .await
                    .status()
                    .as_u16(),
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        statuses
    };
    let ((logins, lasted), reads) = tokio::join!(storm, reads);
    assert!(
        lasted > acquire_timeout,
        "the storm lasted {lasted:?}, not longer than the acquire timeout: make the hashes heavier"
    );
    // Under CI load a login may itself wait too long for its brief throttle query (503);
    // what must never happen is a 2xx, a 5xx other than 503, or starved readers.
    assert!(
        logins.iter().all(|status| *status == 401 || *status == 503),
        "{logins:?}"
    );
    assert!(logins.contains(&401), "{logins:?}");
    assert!(!reads.is_empty());
    assert!(reads.iter().all(|status| *status == 200), "{reads:?}");
}

#[tokio::test]
async fn the_throttle_ignores_the_case_of_the_username() {
    let (app, _) = locking_after_three_failures().await;
    for username in ["C1.Manager", "c1.MANAGER", "c1.manager"] {
        let _ = app.login(username, "wrong-password").await;
    }
    let right = login_right(&app, fixture::C1_MANAGER).await;
    assert_eq!(right.status(), 429);
}

#[tokio::test]
async fn a_successful_login_resets_the_failure_count() {
    let (app, _) = locking_after_three_failures().await;
    let right = fixture::password_of(fixture::C1_MANAGER);
    for _ in 0..2 {
        let _ = app.login(fixture::C1_MANAGER, "wrong-password").await;
    }
    assert_eq!(app.login(fixture::C1_MANAGER, &right).await.status(), 200);
    for _ in 0..2 {
        let (status, _) = login_json(&app, fixture::C1_MANAGER, "wrong-password").await;
        assert_eq!(status, 401);
    }
    assert_eq!(app.login(fixture::C1_MANAGER, &right).await.status(), 200);
}

#[tokio::test]
async fn two_instances_on_one_database_share_the_failure_count() {
    let first = TestApp::spawn_with(|settings| settings.login_max_failures = 3).await;
    let second = TestApp::spawn_beside(&first, |settings| settings.login_max_failures = 3).await;
    let _fixture = Fixture::load(&first).await;
    assert_eq!(
        login_json(&first, fixture::C1_MANAGER, "wrong-password")
            .await
            .0,
        401
    );
    assert_eq!(
        login_json(&second, fixture::C1_MANAGER, "wrong-password")
            .await
            .0,
        401
    );
    // The third failure overall, though only the second seen by this instance.
    assert_eq!(
        login_json(&first, fixture::C1_MANAGER, "wrong-password")
            .await
            .0,
        429
    );
    let right = login_right(&second, fixture::C1_MANAGER).await;
    assert_eq!(right.status(), 429);
    assert!(right.headers().contains_key("retry-after"));
}

// ---------------------------------------------------------------------------------------------
// JWT attacks: each refused with 401, never 500

#[tokio::test]
async fn the_harness_signs_tokens_the_service_accepts() {
    // Control for the attacks below: the unmodified claims under the service's header and key
    // are accepted, so each refusal is due to the one thing a variant changes.
    let (app, _) = app_with_fixture().await;
    let claims = fresh_claims(&app, fixture::C1_MANAGER).await;
    let token = signed_by_the_service(&app, &claims);
    assert_token_accepted(&app, &token, "re-signed claims").await;
}

#[tokio::test]
async fn a_token_issued_in_the_future_is_refused() {
    let (app, _) = app_with_fixture().await;
    let mut claims = fresh_claims(&app, fixture::C1_MANAGER).await;
    let iat = claims["iat"].as_i64().unwrap();
    // Within the leeway (clock skew between instances) it is still accepted.
    claims["iat"] = json!(iat + 2);
    claims["iat_ms"] = json!((iat + 2) * 1000);
    let slightly = signed_by_the_service(&app, &claims);
    assert_token_accepted(&app, &slightly, "iat 2 s ahead").await;
    claims["iat"] = json!(iat + 600);
    claims["iat_ms"] = json!((iat + 600) * 1000);
    let future = signed_by_the_service(&app, &claims);
    assert_token_refused(&app, &future, "iat 10 min ahead").await;
    let pledges = app.get("/api/v1/organizations", &future).await;
    assert_eq!(pledges.status(), 401);
}

#[tokio::test]
async fn unsigned_tokens_with_alg_none_in_any_case_are_refused() {
    let (app, _, real) = fixture_as(fixture::C1_MANAGER).await;
    let parts: Vec<&str> = real.split('.').collect();
    let kid = app.state.tokens.kid();
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = b64(json!({"alg": alg, "typ": "at+jwt", "kid": kid}).to_string());
        assert_token_refused(&app, &format!("{header}.{}.", parts[1]), alg).await;
        assert_token_refused(
            &app,
            &format!("{header}.{}.{}", parts[1], parts[2]),
            &format!("{alg} with the original signature"),
        )
        .await;
    }
}

#[tokio::test]
async fn a_stripped_or_foreign_signature_is_refused() {
    let (app, _) = app_with_fixture().await;
    let claims = fresh_claims(&app, fixture::ADMIN).await;
    let real = signed_by_the_service(&app, &claims);
    let parts: Vec<&str> = real.split('.').collect();
    assert_token_refused(&app, &format!("{}.{}.", parts[0], parts[1]), "stripped").await;

    let foreign = TokenKeys::from_signing_key(
        &ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng),
        "http://thidua.test",
        Duration::from_secs(60),
    )
    .unwrap();
    // The foreign key's signature under our kid, and under its own kid.
    assert_token_refused(
        &app,
        &foreign.sign_claims_for_tests(service_header(&app), &claims),
        "foreign key, our kid",
    )
    .await;
    let mut own_kid = service_header(&app);
    own_kid.kid = Some(foreign.kid().to_owned());
    assert_token_refused(
        &app,
        &foreign.sign_claims_for_tests(own_kid, &claims),
        "foreign key, its kid",
    )
    .await;
    // Our header and payload with the foreign signature spliced in.
    let forged = foreign.sign_claims_for_tests(service_header(&app), &claims);
    let forged_signature = forged.rsplit('.').next().unwrap();
    assert_token_refused(
        &app,
        &format!("{}.{}.{forged_signature}", parts[0], parts[1]),
        "spliced signature",
    )
    .await;
}

#[tokio::test]
async fn hs256_signed_with_the_public_key_is_refused() {
    let (app, _) = app_with_fixture().await;
    let claims = fresh_claims(&app, fixture::ADMIN).await;
    let jwks = app.state.tokens.jwks();
    let x = jwks["keys"][0]["x"].as_str().unwrap();
    let raw_public_key = URL_SAFE_NO_PAD.decode(x).unwrap();
    for (what, secret) in [
        ("raw public key bytes", raw_public_key.clone()),
        ("base64url text of the key", x.as_bytes().to_vec()),
    ] {
        for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            let mut header = Header::new(alg);
            header.typ = Some("at+jwt".to_owned());
            header.kid = Some(app.state.tokens.kid().to_owned());
            let token =
                jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&secret)).unwrap();
            assert_token_refused(&app, &token, &format!("{alg:?} with {what}")).await;
        }
    }
}

/// One change to otherwise valid claims.
type ClaimChange = Box<dyn Fn(&mut Value)>;

#[tokio::test]
async fn tokens_with_bad_time_issuer_or_audience_claims_are_refused() {
    let (app, _) = app_with_fixture().await;
    let claims = fresh_claims(&app, fixture::ADMIN).await;
    let now = chrono::Utc::now().timestamp();
    let hour = 3600;
    let variants: Vec<(&str, ClaimChange)> = vec![
        (
            "missing exp",
            Box::new(|c| drop(c.as_object_mut().unwrap().remove("exp"))),
        ),
        (
            "expired exp",
            Box::new(move |c| c["exp"] = json!(now - hour)),
        ),
        (
            "exp as a string",
            Box::new(move |c| c["exp"] = json!((now + hour).to_string())),
        ),
        (
            "future nbf",
            Box::new(move |c| c["nbf"] = json!(now + hour)),
        ),
        (
            "wrong iss",
            Box::new(|c| c["iss"] = json!("http://evil.test")),
        ),
        (
            "missing iss",
            Box::new(|c| drop(c.as_object_mut().unwrap().remove("iss"))),
        ),
        (
            "wrong aud",
            Box::new(|c| c["aud"] = json!("http://evil.test")),
        ),
        (
            "missing aud",
            Box::new(|c| drop(c.as_object_mut().unwrap().remove("aud"))),
        ),
        (
            "missing sub",
            Box::new(|c| drop(c.as_object_mut().unwrap().remove("sub"))),
        ),
        ("sub not an id", Box::new(|c| c["sub"] = json!("admin"))),
        ("unknown kind", Box::new(|c| c["kind"] = json!("root"))),
        (
            "unknown role",
            Box::new(|c| c["grants"][0]["r"] = json!("superuser")),
        ),
    ];
    for (what, change) in variants {
        let mut variant = claims.clone();
        change(&mut variant);
        let token = signed_by_the_service(&app, &variant);
        assert!(!token.is_empty(), "{what}");
        assert_token_refused(&app, &token, what).await;
    }
}

#[tokio::test]
async fn tokens_with_a_wrong_typ_or_kid_header_are_refused() {
    let (app, _) = app_with_fixture().await;
    let claims = fresh_claims(&app, fixture::ADMIN).await;
    let with = |change: &dyn Fn(&mut Header)| {
        let mut header = service_header(&app);
        change(&mut header);
        app.state.tokens.sign_claims_for_tests(header, &claims)
    };
    let cases = [
        ("typ JWT", with(&|h| h.typ = Some("JWT".to_owned()))),
        ("no typ", with(&|h| h.typ = None)),
        ("typ refresh", with(&|h| h.typ = Some("rt+jwt".to_owned()))),
        ("no kid", with(&|h| h.kid = None)),
        ("unknown kid", with(&|h| h.kid = Some("k1".to_owned()))),
        (
            "path traversal kid",
            with(&|h| h.kid = Some("../../etc/passwd".to_owned())),
        ),
        ("SQL kid", with(&|h| h.kid = Some("' OR '1'='1".to_owned()))),
        ("10 KB kid", with(&|h| h.kid = Some("A".repeat(10 * 1024)))),
        (
            "embedded jwk",
            with(&|h| {
                h.jwk = serde_json::from_value(json!({
                    "kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
                }))
                .ok();
            }),
        ),
        (
            "jku",
            with(&|h| h.jku = Some("http://evil.test/jwks.json".to_owned())),
        ),
    ];
    for (what, token) in cases {
        assert!(!token.is_empty(), "{what}");
        assert_token_refused(&app, &token, what).await;
    }
}

#[tokio::test]
async fn a_token_with_tampered_claims_is_refused() {
    let (app, _, real) = fixture_as(fixture::C1_MEMBER).await;
    assert_token_accepted(&app, &real, "untouched").await;
    let parts: Vec<&str> = real.split('.').collect();
    let mut claims = claims_of(&real);
    assert_eq!(claims["grants"][0]["r"], Role::Member.as_str());
    claims["grants"][0]["r"] = json!(Role::Admin.as_str());
    let forged = format!("{}.{}.{}", parts[0], b64(claims.to_string()), parts[2]);
    assert_token_refused(&app, &forged, "role raised to admin").await;

    let mut later = claims_of(&real);
    later["exp"] = json!(later["exp"].as_i64().unwrap() + 86_400);
    let forged = format!("{}.{}.{}", parts[0], b64(later.to_string()), parts[2]);
    assert_token_refused(&app, &forged, "exp extended").await;
}

#[tokio::test]
async fn malformed_tokens_are_refused() {
    let (app, _, real) = fixture_as(fixture::C1_MEMBER).await;
    let parts: Vec<&str> = real.split('.').collect();
    let cases = [
        ("2 parts", format!("{}.{}", parts[0], parts[1])),
        ("4 parts", format!("{real}.{}", parts[2])),
        ("1 part", parts[1].to_owned()),
        ("empty parts", "..".to_owned()),
        (
            "bad base64 in the header",
            format!("{}!!.{}.{}", parts[0], parts[1], parts[2]),
        ),
        (
            "bad base64 in the payload",
            format!("{}.{}*$.{}", parts[0], parts[1], parts[2]),
        ),
        (
            "bad base64 in the signature",
            format!("{}.{}.{}%%", parts[0], parts[1], parts[2]),
        ),
        (
            "header not JSON",
            format!("{}.{}.{}", b64("not json"), parts[1], parts[2]),
        ),
        (
            "payload not JSON",
            format!("{}.{}.{}", parts[0], b64("[1,2"), parts[2]),
        ),
        ("100 KB", "a".repeat(100 * 1024)),
    ];
    for (what, token) in cases {
        assert_token_refused(&app, &token, what).await;
    }
}

#[tokio::test]
async fn a_one_megabyte_token_is_refused_without_a_server_error() {
    let app = TestApp::spawn().await;
    let token = format!("eyJ{}", "A".repeat(1024 * 1024));
    // A header this large is refused by the HTTP layer before routing (431, which actix-http
    // answers itself with an empty body); what matters is that it is never accepted and never
    // a 500.
    let response = app
        .http
        .get(app.url("/api/v1/me"))
        .header("Authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    assert!(status == 401 || status == 431, "status {status}");
    // The service is still serving.
    let response = me_without_a_token(&app).await;
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn a_refresh_token_is_not_an_access_token() {
    let (app, _) = app_with_fixture().await;
    let refresh_token = c1_member_refresh_token(&app).await;
    assert_token_refused(&app, &refresh_token, "refresh token").await;
}

/// Logs the C1 member in with its own password (200 asserted): its refresh token.
async fn c1_member_refresh_token(app: &TestApp) -> String {
    refresh_token_of(
        app,
        fixture::C1_MEMBER,
        &fixture::password_of(fixture::C1_MEMBER),
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// Refresh rotation and revocation

#[tokio::test]
async fn a_refresh_rotates_and_a_reused_token_revokes_the_whole_family() {
    let (app, _) = app_with_fixture().await;
    let first = c1_member_refresh_token(&app).await;

    let (status, rotated) = refresh(&app, &first).await;
    assert_eq!(status, 200);
    let second = rotated["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    assert_token_accepted(&app, rotated["access_token"].as_str().unwrap(), "refreshed").await;

    // The old one again: refused, and the family (including the new one) is revoked.
    let (status, body) = refresh(&app, &first).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_grant");
    let (status, _) = refresh(&app, &second).await;
    assert_eq!(status, 401);
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM refresh_tokens WHERE revoked_at IS NULL")
            .await,
        0
    );
}

#[tokio::test]
async fn other_logins_keep_their_refresh_tokens_when_one_family_is_revoked() {
    let (app, _) = app_with_fixture().await;
    let phone = c1_member_refresh_token(&app).await;
    let laptop = c1_member_refresh_token(&app).await;
    let (status, _) = refresh(&app, &phone).await;
    assert_eq!(status, 200);
    let (status, _) = refresh(&app, &phone).await;
    assert_eq!(status, 401);
    let (status, _) = refresh(&app, &laptop).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn revoking_a_refresh_token_as_json_or_form_ends_its_family() {
    let (app, _) = app_with_fixture().await;

    // JSON, revoking the current token.
    let token = c1_member_refresh_token(&app).await;
    assert_eq!(revoke_json(&app, &json!({"token": token})).await.0, 200);
    assert_eq!(refresh(&app, &token).await.0, 401);

    // Form, revoking an already rotated token: its successor is revoked too.
    let first = c1_member_refresh_token(&app).await;
    let (status, rotated) = refresh(&app, &first).await;
    assert_eq!(status, 200);
    let form = [
        ("token", first.as_str()),
        ("token_type_hint", "refresh_token"),
    ];
    assert_eq!(revoke_form(&app, &form).await.0, 200);
    assert_eq!(
        refresh(&app, rotated["refresh_token"].as_str().unwrap())
            .await
            .0,
        401
    );

    // Unknown tokens are not an error (RFC 7009).
    assert_eq!(
        revoke_json(&app, &json!({"token": "never-issued"})).await.0,
        200
    );
}

#[tokio::test]
async fn a_disabled_users_refresh_token_is_refused() {
    let (app, fixture) = app_with_fixture().await;
    let refresh_token = c1_member_refresh_token(&app).await;
    let client = app.db.client().await;
    client
        .batch_execute(&format!(
            "UPDATE users SET disabled = true WHERE id = '{}'",
            fixture.users[fixture::C1_MEMBER]
        ))
        .await
        .unwrap();
    let (status, body) = refresh(&app, &refresh_token).await;
    assert_eq!(status, 401);
    assert!(body.get("access_token").is_none());
}

// ---------------------------------------------------------------------------------------------
// Client credentials

#[tokio::test]
async fn a_partner_client_gets_a_token_with_a_form_body_or_http_basic() {
    let (app, fixture) = app_with_fixture().await;
    let client_id = fixture.client_id.to_string();

    let form = client_credentials_response(&app, &client_id, CLIENT_SECRET).await;
    let basic = basic_client_credentials(&app, &client_id, CLIENT_SECRET).await;
    for (what, response) in [("form", form), ("basic", basic)] {
        let (status, body) = status_and_json(response).await;
        assert_eq!(status, 200, "{what}: {body}");
        assert_eq!(body["scope"], "read", "{what}");
        assert!(body.get("refresh_token").is_none(), "{what}");
        let (status, me) = app
            .get_json("/api/v1/me", body["access_token"].as_str().unwrap())
            .await;
        assert_eq!(status, 200, "{what}");
        assert_eq!(me["kind"], "client");
        assert_eq!(me["id"], json!(fixture.client_id));
        assert_eq!(me["scopes"], json!(["read"]));
        assert_eq!(
            me["memberships"][0]["organization_id"],
            json!(fixture.tree.d1.id)
        );
    }
}

#[tokio::test]
async fn a_partner_client_with_a_wrong_secret_is_invalid_client() {
    let (app, fixture) = app_with_fixture().await;
    let client_id = fixture.client_id.to_string();
    let wrong_secret =
        client_credentials_response(&app, &client_id, "partner-secret-of-d1-0123456789abcdeX")
            .await;
    let unknown = uuid::Uuid::new_v4().to_string();
    let unknown_client = client_credentials_response(&app, &unknown, CLIENT_SECRET).await;
    let wrong_basic = basic_client_credentials(&app, &client_id, "nope").await;
    for (what, response) in [
        ("wrong secret", wrong_secret),
        ("unknown client", unknown_client),
        ("wrong basic", wrong_basic),
    ] {
        let (status, body) = status_and_json(response).await;
        assert_eq!(status, 401, "{what}");
        assert_eq!(body["error"], "invalid_client", "{what}");
        assert!(body.get("access_token").is_none(), "{what}");
    }
}

#[tokio::test]
async fn a_partner_client_cannot_ask_for_a_scope_it_was_not_granted() {
    let (app, fixture) = app_with_fixture().await;
    let client_id = fixture.client_id.to_string();
    let (status, body) = status_and_json(
        token_form(
            &app,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &client_id),
                ("client_secret", CLIENT_SECRET),
                ("scope", "read progress:write"),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_scope");
    assert_eq!(body["type"], "/problems/invalid_scope");
    // The `type` names a page that explains the problem.
    let page = get_anonymously(&app, "/problems/invalid_scope").await;
    assert_eq!(page.status(), 200);
}

// ---------------------------------------------------------------------------------------------
// Password hashing

#[tokio::test]
async fn a_hash_with_old_parameters_is_rewritten_on_login() {
    let (app, fixture) = app_with_fixture().await;
    let password = "an old pass phrase";
    c1_member_hashed_with(
        &app,
        &fixture,
        ("old.hash", "Old hash"),
        &OLD_HASHING,
        password,
    )
    .await;
    assert!(stored_hash(&app, "old.hash").await.contains("m=2048"));

    let (status, _) = login_json(&app, "old.hash", password).await;
    assert_eq!(status, 200);
    let rewritten = stored_hash(&app, "old.hash").await;
    assert!(rewritten.starts_with("$argon2id$"), "{rewritten}");
    assert!(rewritten.contains("m=1024,t=1,p=1"), "{rewritten}");

    // The new hash still verifies, and is not rewritten again.
    let (status, _) = login_json(&app, "old.hash", password).await;
    assert_eq!(status, 200);
    assert_eq!(stored_hash(&app, "old.hash").await, rewritten);
}

#[tokio::test]
async fn a_wrong_password_does_not_rewrite_an_old_hash() {
    let (app, fixture) = app_with_fixture().await;
    let hash = c1_member_hashed_with(
        &app,
        &fixture,
        ("old.hash", "Old hash"),
        &OLD_HASHING,
        "an old pass phrase",
    )
    .await;
    let (status, _) = login_json(&app, "old.hash", "not the pass phrase").await;
    assert_eq!(status, 401);
    assert_eq!(stored_hash(&app, "old.hash").await, hash);
}

#[tokio::test]
async fn a_password_matches_in_any_unicode_normal_form() {
    let (app, fixture) = app_with_fixture().await;
    // Stored from the composed form, presented decomposed.
    c1_member_hashed_with(
        &app,
        &fixture,
        ("nfc.user", "NFC"),
        &crate::helpers::app::TEST_HASHING,
        "Mật khẩu Hòa 2025",
    )
    .await;
    let decomposed = "Ma\u{0323}\u{0302}t kha\u{0302}\u{0309}u Ho\u{0300}a 2025";
    assert_eq!(login_json(&app, "nfc.user", decomposed).await.0, 200);
}

// ---------------------------------------------------------------------------------------------
// JWKS

#[tokio::test]
async fn the_jwks_publishes_the_ed25519_key_that_verifies_issued_tokens() {
    let (app, fixture, token) = fixture_as(fixture::C1_MEMBER).await;
    let response = get_anonymously(&app, "/.well-known/jwks.json").await;
    assert_eq!(response.status(), 200);
    let jwks: Value = response.json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let key = &keys[0];
    assert_eq!(key["kty"], "OKP");
    assert_eq!(key["crv"], "Ed25519");
    assert_eq!(key["alg"], "EdDSA");
    assert!(
        key.get("d").is_none(),
        "the private key must not be published"
    );

    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.alg, Algorithm::EdDSA);
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    assert_eq!(header.kid.as_deref(), key["kid"].as_str());

    // A third party can verify the token with the published key alone.
    let decoding =
        jsonwebtoken::DecodingKey::from_ed_components(key["x"].as_str().unwrap()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(Algorithm::EdDSA);
    validation.set_audience(&["http://thidua.test"]);
    validation.set_issuer(&["http://thidua.test"]);
    let verified = jsonwebtoken::decode::<Value>(&token, &decoding, &validation).unwrap();
    assert_eq!(
        verified.claims["sub"],
        json!(fixture.users[fixture::C1_MEMBER])
    );
}

// ---------------------------------------------------------------------------------------------
// Password guesses: password changes throttled like logins; lockout per account and address

/// A login of `username` as if from `client` behind the trusted proxy (127.0.0.1).
async fn login_from(app: &TestApp, client: &str, username: &str, password: &str) -> u16 {
    app.http
        .post(app.url("/api/v1/auth/token"))
        .header("X-Forwarded-For", client)
        .json(&json!({"grant_type": "password", "username": username, "password": password}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn wrong_current_passwords_are_throttled_like_logins() {
    let (app, fixture) = locking_after_three_failures().await;
    let user = fixture::C1_MEMBER;
    let token = fixture.token(&app, user).await;
    let path = format!("/api/v1/users/{}", fixture.users[user]);
    let change =
        |current: &str| json!({"password": "a brand new passphrase", "current_password": current});

    let mut statuses = Vec::new();
    for guess in 0..5 {
        let response = app
            .patch_json(&path, &token, &change(&format!("guess-{guess}")))
            .await;
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [422, 422, 429, 429, 429]);
    // Locked for the right current password too, and for logins (the same counters).
    let right = app
        .patch_json(&path, &token, &change(&fixture::password_of(user)))
        .await;
    assert_eq!(right.status(), 429);
    assert!(right.headers().contains_key("retry-after"));
    let (login, _) = login_json(&app, user, &fixture::password_of(user)).await;
    assert_eq!(login, 429);
}

#[tokio::test]
async fn an_attacker_locks_only_their_own_address_out_of_an_account_until_the_account_wide_bound() {
    let app = TestApp::spawn_with(|settings| {
        settings.login_max_failures = 3;
        settings.login_max_failures_per_account = 6;
        settings.trusted_proxy_header = Some("X-Forwarded-For".to_owned());
        settings.trusted_proxies = thidua::ratelimit::parse_networks("127.0.0.1/32").unwrap();
    })
    .await;
    let _fixture = Fixture::load(&app).await;
    let user = fixture::C1_MANAGER;
    let right = fixture::password_of(user);
    let attacker = "203.0.113.7";

    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(login_from(&app, attacker, user, "wrong-password").await);
    }
    assert_eq!(statuses, [401, 401, 429, 429]);
    assert_eq!(login_from(&app, attacker, user, &right).await, 429);
    // The owner, elsewhere, still logs in.
    assert_eq!(login_from(&app, "198.51.100.20", user, &right).await, 200);

    // A guesser spread over many addresses still meets the account-wide bound (6): four
    // attempts counted so far (the owner's success forgets only its own address), two more
    // from fresh addresses lock the account for everyone.
    let mut spread = Vec::new();
    for n in 1..=4 {
        spread.push(login_from(&app, &format!("192.0.2.{n}"), user, "wrong-password").await);
    }
    assert_eq!(spread, [401, 429, 429, 429]);
    assert_eq!(login_from(&app, "198.51.100.20", user, &right).await, 429);
    assert_eq!(login_from(&app, "198.51.100.99", user, &right).await, 429);
}

/// `RevokeRequest.token` is documented as at most 256 characters; the endpoint refuses what the
/// document refuses, as RFC 7009 refuses a malformed request (400 `invalid_request`).
#[tokio::test]
async fn a_token_to_revoke_outside_the_documented_length_is_400_invalid_request() {
    let app = TestApp::spawn().await;
    let revoke = |token: String| {
        let app = &app;
        async move { revoke_json(app, &json!({ "token": token })).await }
    };
    let (status, body) = revoke("x".repeat(257)).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_request");
    // Within the bounds an unknown token, even an empty one, is not an error (RFC 7009 §2.2).
    assert_eq!(revoke("x".repeat(256)).await.0, 200);
    assert_eq!(revoke(String::new()).await.0, 200);
}
