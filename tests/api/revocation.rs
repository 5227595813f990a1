//! Revoked access tokens are refused on every route, not only `/me`: disabling a user, a
//! password change, deleting a partner client and logout end the tokens issued before them, and
//! a revocation whose notification was lost still arrives by the poll.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::fixture::{self, Fixture};
use crate::helpers::{TestApp, status_and_json};

/// A route that reads nothing of the caller from the database (unlike `/me`).
const ORGANIZATIONS: &str = "/api/v1/organizations";

async fn status_of(app: &TestApp, token: &str) -> u16 {
    app.get(ORGANIZATIONS, token).await.status().as_u16()
}

async fn assert_refused(app: &TestApp, token: &str, what: &str) {
    let (status, body) = app.get_json(ORGANIZATIONS, token).await;
    assert_eq!(status, 401, "{what}: {body}");
    assert_eq!(body["code"], "invalid_token", "{what}");
}

async fn login_body(app: &TestApp, username: &str) -> Value {
    let (status, body) =
        status_and_json(app.login(username, &fixture::password_of(username)).await).await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test]
async fn a_disabled_users_access_token_is_refused_on_every_route_at_once() {
    let app = TestApp::spawn().await;
    let fixture = Fixture::load(&app).await;
    let member = fixture.token(&app, fixture::C1_MEMBER).await;
    let admin = fixture.token(&app, fixture::ADMIN).await;
    assert_eq!(status_of(&app, &member).await, 200);

    let path = format!("/api/v1/users/{}", fixture.users[fixture::C1_MEMBER]);
    let (status, body) = app
        .patch_for_json(&path, &admin, &json!({"disabled": true}))
        .await;
    assert_eq!(status, 200, "{body}");

    assert_refused(&app, &member, "disabled user").await;
    // The administrator's own token is untouched.
    assert_eq!(status_of(&app, &admin).await, 200);
}

#[tokio::test]
async fn a_password_change_ends_the_access_tokens_issued_before_it_but_not_later_ones() {
    let app = TestApp::spawn().await;
    let fixture = Fixture::load(&app).await;
    let user = fixture::C1_MEMBER;
    let old = fixture.token(&app, user).await;
    let other_device = fixture.token(&app, user).await;
    let path = format!("/api/v1/users/{}", fixture.users[user]);

    let (status, body) = app.patch_for_json(
            &path,
            &old,
            &json!({"password": "a brand new passphrase", "current_password": fixture::password_of(user)}),
        )
    .await;
    assert_eq!(status, 200, "{body}");

    assert_refused(&app, &old, "token that changed the password").await;
    assert_refused(&app, &other_device, "token of another device").await;
    // A login right after the change (same second) gets a token that works.
    let fresh = app.token(user, "a brand new passphrase").await;
    assert_eq!(status_of(&app, &fresh).await, 200);
}

#[tokio::test]
async fn a_deleted_partner_clients_access_token_is_refused() {
    let app = TestApp::spawn().await;
    let fixture = Fixture::load(&app).await;
    let client = fixture.client_token(&app).await;
    let admin = fixture.token(&app, fixture::ADMIN).await;
    assert_eq!(status_of(&app, &client).await, 200);

    let deleted = app
        .request(
            Method::DELETE,
            &format!("/api/v1/clients/{}", fixture.client_id),
            Some(&admin),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);

    assert_refused(&app, &client, "deleted client").await;
}

#[tokio::test]
async fn logout_ends_the_access_tokens_of_that_session_only() {
    let app = TestApp::spawn().await;
    let _fixture = Fixture::load(&app).await;
    let user = fixture::C1_MANAGER;
    let session = login_body(&app, user).await;
    let other = login_body(&app, user).await;
    let access = session["access_token"].as_str().unwrap();

    let revoked = app
        .http
        .post(app.url("/api/v1/auth/revoke"))
        .json(&json!({"token": session["refresh_token"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);

    assert_refused(&app, access, "logged-out session").await;
    assert_eq!(
        status_of(&app, other["access_token"].as_str().unwrap()).await,
        200,
        "another session of the same user goes on"
    );
}

#[tokio::test]
async fn a_revocation_whose_notification_was_lost_arrives_by_the_poll() {
    let app = TestApp::spawn_with(|settings| {
        settings.revocation_poll_interval = Duration::from_millis(300);
    })
    .await;
    let fixture = Fixture::load(&app).await;
    let token = fixture.token(&app, fixture::C1_MEMBER).await;
    assert_eq!(status_of(&app, &token).await, 200);

    // Written behind the service's back: no NOTIFY, and nothing applied in memory.
    app.db
        .client()
        .await
        .batch_execute(&format!(
            "INSERT INTO token_revocations (subject_id, kind, not_before) \
             VALUES ('{}', 'principal', now() + interval '1 second')",
            fixture.users[fixture::C1_MEMBER]
        ))
        .await
        .unwrap();

    let started = Instant::now();
    while status_of(&app, &token).await == 200 {
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "the poll did not pick the revocation up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_refused(&app, &token, "revoked behind the service's back").await;
}
