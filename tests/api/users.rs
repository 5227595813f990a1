//! Administration: users, memberships and partner clients — the role × relation × operation
//! matrix of docs/security.md (API1, API3, API5) and the token revocations of API2.

use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::arrange::{
    app_with_fixture, audit_total, client_credentials, fixture_as, refresh, refresh_token_of,
};
use crate::helpers::fixture::{self, Fixture};
use crate::helpers::{TestApp, status_and_json};

// ---------------------------------------------------------------------------------------------
// Helpers

/// (users, memberships, audit events): what a refused write must leave unchanged.
async fn counts(app: &TestApp) -> (i64, i64, i64) {
    (
        app.db.count("SELECT count(*) FROM users").await,
        app.db.count("SELECT count(*) FROM memberships").await,
        audit_total(app).await,
    )
}

/// A list of memberships from (organization, role) pairs.
fn memberships(entries: &[(Uuid, &str)]) -> Value {
    entries
        .iter()
        .map(|(organization_id, role)| json!({"organization_id": organization_id, "role": role}))
        .collect()
}

fn new_user(username: &str, memberships: Value) -> Value {
    json!({
        "username": username,
        "display_name": format!("Cán bộ {username}"),
        "password": "a long enough password",
        "memberships": memberships,
    })
}

/// `POST /users` of `body`: the status and the answer.
async fn post_user(app: &TestApp, token: &str, body: &Value) -> (u16, Value) {
    app.post_for_json("/api/v1/users", token, body).await
}

/// `POST /users` of `username` with one membership: the status and the answer.
async fn create_user(
    app: &TestApp,
    token: &str,
    username: &str,
    organization_id: Uuid,
    role: &str,
) -> (u16, Value) {
    let only = memberships(&[(organization_id, role)]);
    post_user(app, token, &new_user(username, only)).await
}

/// Asserts a refusal with `code` that changed no user, membership or audit event.
async fn assert_refused(
    app: &TestApp,
    before: (i64, i64, i64),
    answer: (u16, Value),
    status: u16,
    code: &str,
) {
    let (actual, body) = answer;
    assert_eq!(actual, status, "{body}");
    assert_eq!(body["code"], code);
    assert_eq!(counts(app).await, before);
}

/// `PUT /users/{user}/memberships` replacing them with `memberships`: the raw response.
async fn put_memberships_response(
    app: &TestApp,
    token: &str,
    user: Uuid,
    memberships: Value,
) -> reqwest::Response {
    app.request(
        Method::PUT,
        &format!("/api/v1/users/{user}/memberships"),
        Some(token),
    )
    .json(&json!({ "memberships": memberships }))
    .send()
    .await
    .unwrap()
}

/// `PUT /users/{user}/memberships`: the status and the answer.
async fn put_memberships(
    app: &TestApp,
    token: &str,
    user: Uuid,
    memberships: Value,
) -> (u16, Value) {
    status_and_json(put_memberships_response(app, token, user, memberships).await).await
}

/// The path of a fixture user.
fn user_path(fixture: &Fixture, username: &str) -> String {
    format!("/api/v1/users/{}", fixture.users[username])
}

async fn delete(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    app.request(Method::DELETE, path, Some(token))
        .send()
        .await
        .unwrap()
}

/// Memberships of a user as (organization id, role), sorted.
async fn memberships_in_db(app: &TestApp, user_id: Uuid) -> Vec<(Uuid, String)> {
    let client = app.db.client().await;
    let mut rows: Vec<(Uuid, String)> = client
        .query(
            "SELECT organization_id::text, role FROM memberships WHERE user_id = $1::text::uuid",
            &[&user_id.to_string()],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| {
            (
                Uuid::parse_str(row.get::<_, &str>(0)).unwrap(),
                row.get::<_, String>(1),
            )
        })
        .collect();
    rows.sort();
    rows
}

/// Memberships as `memberships_in_db` reads them, from (organization, role) pairs.
fn held(entries: &[(Uuid, &str)]) -> Vec<(Uuid, String)> {
    let mut held: Vec<(Uuid, String)> = entries
        .iter()
        .map(|(organization_id, role)| (*organization_id, (*role).to_owned()))
        .collect();
    held.sort();
    held
}

fn usernames(body: &Value) -> Vec<String> {
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|user| user["username"].as_str().unwrap().to_owned())
        .collect()
}

/// `POST /clients` of a partner client: the status and the answer.
async fn create_client(
    app: &TestApp,
    token: &str,
    name: &str,
    organization_id: Uuid,
    scopes: Value,
) -> (u16, Value) {
    let body = json!({"name": name, "organization_id": organization_id, "scopes": scopes});
    app.post_for_json("/api/v1/clients", token, &body).await
}

/// Creates a user as the admin and returns its id.
async fn admin_creates(app: &TestApp, fixture: &Fixture, body: &Value) -> Uuid {
    let admin = fixture.token(app, fixture::ADMIN).await;
    let (status, created) = post_user(app, &admin, body).await;
    assert_eq!(status, 201, "{created}");
    Uuid::parse_str(created["id"].as_str().unwrap()).unwrap()
}

/// A member of both C1 (inside D1) and C2 (outside it), created by the admin: its id.
async fn user_in_two_communes(app: &TestApp, fixture: &Fixture) -> Uuid {
    let both = memberships(&[
        (fixture.tree.c1.id, "member"),
        (fixture.tree.c2.id, "member"),
    ]);
    admin_creates(app, fixture, &new_user("two.communes", both)).await
}

// ---------------------------------------------------------------------------------------------
// Creating users

#[tokio::test]
async fn admin_creates_a_user_anywhere_and_the_user_can_log_in() {
    let (app, fixture, admin) = fixture_as(fixture::ADMIN).await;
    let audit_before = audit_total(&app).await;

    let response = app
        .post_json(
            "/api/v1/users",
            &admin,
            &new_user("p9.admin", memberships(&[(fixture.tree.p9.id, "admin")])),
        )
        .await;
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let (status, body) = status_and_json(response).await;

    assert_eq!(status, 201, "{body}");
    assert_eq!(
        location,
        format!("/api/v1/users/{}", body["id"].as_str().unwrap())
    );
    assert_eq!(etag, "\"1\"");
    assert_eq!(body["username"], "p9.admin");
    assert_eq!(body["disabled"], false);
    assert_eq!(
        body["memberships"][0]["organization_id"],
        json!(fixture.tree.p9.id)
    );
    assert_eq!(body["memberships"][0]["organization_name"], "Tỉnh P9");
    assert_eq!(body["memberships"][0]["role"], "admin");
    assert!(body.get("password_hash").is_none() && body.get("password").is_none());
    assert!(!body.to_string().contains("argon2"));
    assert_eq!(audit_total(&app).await, audit_before + 1);
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM audit_events WHERE action = 'user.create' AND after::text LIKE '%argon2%'")
            .await,
        0
    );
    app.token("p9.admin", "a long enough password").await;
}

#[tokio::test]
async fn district_manager_creates_a_user_in_a_commune_of_its_district() {
    let (app, fixture, d1_manager) = fixture_as(fixture::D1_MANAGER).await;
    let tree = &fixture.tree;

    let (status, body) = create_user(&app, &d1_manager, "c1.officer", tree.c1.id, "manager").await;

    assert_eq!(status, 201, "{body}");
    assert_eq!(body["memberships"][0]["role"], "manager");
    let id = Uuid::parse_str(body["id"].as_str().unwrap()).unwrap();
    assert_eq!(
        memberships_in_db(&app, id).await,
        held(&[(tree.c1.id, "manager")])
    );
}

#[tokio::test]
async fn district_manager_cannot_create_a_user_in_another_district() {
    let (app, fixture, d1_manager) = fixture_as(fixture::D1_MANAGER).await;
    let tree = &fixture.tree;
    let before = counts(&app).await;

    let answer = create_user(&app, &d1_manager, "c2.intruder", tree.c2.id, "member").await;

    assert_refused(&app, before, answer, 403, "forbidden").await;
}

#[tokio::test]
async fn a_manager_cannot_grant_the_admin_role() {
    let (app, fixture, d1_manager) = fixture_as(fixture::D1_MANAGER).await;
    let tree = &fixture.tree;
    let before = counts(&app).await;

    let (status, _) = create_user(&app, &d1_manager, "c1.superuser", tree.c1.id, "admin").await;

    assert_eq!(status, 403);
    assert_eq!(counts(&app).await, before);
}

#[tokio::test]
async fn commune_member_and_reviewer_cannot_create_users() {
    let (app, fixture) = app_with_fixture().await;
    let before = counts(&app).await;

    for username in [fixture::C1_MEMBER, fixture::C1_REVIEWER] {
        let token = fixture.token(&app, username).await;
        let (status, _) =
            create_user(&app, &token, "k1.member", fixture.tree.k1.id, "member").await;
        assert_eq!(status, 403, "{username}");
    }
    assert_eq!(counts(&app).await, before);
}

#[tokio::test]
async fn a_partner_client_cannot_administer_users() {
    let (app, fixture) = app_with_fixture().await;
    let client = fixture.client_token(&app).await;
    let before = counts(&app).await;

    let (list, _) = app.get_json("/api/v1/users", &client).await;
    let (create, _) = create_user(&app, &client, "d1.robot", fixture.tree.d1.id, "member").await;

    assert_eq!((list, create), (403, 403));
    assert_eq!(counts(&app).await, before);
}

#[tokio::test]
async fn a_manager_must_give_a_new_user_a_membership() {
    let (app, _, d1_manager) = fixture_as(fixture::D1_MANAGER).await;
    let before = counts(&app).await;

    let (status, body) =
        post_user(&app, &d1_manager, &new_user("nobody.anywhere", json!([]))).await;

    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["pointer"], "/memberships");
    assert_eq!(counts(&app).await, before);
}

#[tokio::test]
async fn invalid_members_of_a_new_user_are_all_named() {
    let (app, fixture, admin) = fixture_as(fixture::ADMIN).await;
    let before = counts(&app).await;

    let (status, body) = post_user(
        &app,
        &admin,
        &json!({
            "username": "-bad name",
            "display_name": "  ",
            "password": "short",
            "memberships": [
                {"organization_id": fixture.tree.c1.id, "role": "member"},
                {"organization_id": fixture.tree.c1.id, "role": "manager"},
            ],
        }),
    )
    .await;
    let (unknown_org, unknown_body) = post_user(
        &app,
        &admin,
        &new_user("ghost.member", memberships(&[(Uuid::new_v4(), "member")])),
    )
    .await;
    let (server_owned, _) = post_user(
        &app,
        &admin,
        &json!({"username": "x.y.z", "display_name": "X", "password": "long enough pw",
                    "memberships": [], "disabled": true, "password_hash": "x"}),
    )
    .await;

    assert_eq!(status, 422);
    let pointers: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|error| error["pointer"].as_str().unwrap())
        .collect();
    for pointer in [
        "/username",
        "/display_name",
        "/password",
        "/memberships/1/organization_id",
    ] {
        assert!(pointers.contains(&pointer), "{pointer} in {pointers:?}");
    }
    assert_eq!(unknown_org, 422);
    assert_eq!(
        unknown_body["errors"][0]["pointer"],
        "/memberships/0/organization_id"
    );
    assert_eq!(server_owned, 422);
    assert_eq!(counts(&app).await, before);
}

#[tokio::test]
async fn a_duplicate_username_ignoring_case_is_a_conflict() {
    let (app, fixture, admin) = fixture_as(fixture::ADMIN).await;
    let before = counts(&app).await;

    let answer = create_user(&app, &admin, "C1.Member", fixture.tree.c1.id, "member").await;

    assert_refused(&app, before, answer, 409, "already_exists").await;
}

// ---------------------------------------------------------------------------------------------
// Reading and listing

#[tokio::test]
async fn commune_manager_cannot_read_a_user_of_another_commune() {
    let (app, fixture, c1_manager) = fixture_as(fixture::C1_MANAGER).await;

    let (foreign, body) = app
        .get_json(&user_path(&fixture, fixture::C2_MANAGER), &c1_manager)
        .await;
    let (own_unit, member) = app
        .get_json(&user_path(&fixture, fixture::C1_MEMBER), &c1_manager)
        .await;
    let (higher, _) = app
        .get_json(&user_path(&fixture, fixture::D1_MANAGER), &c1_manager)
        .await;

    assert_eq!(foreign, 404);
    assert_eq!(body["code"], "not_found");
    assert_eq!(own_unit, 200);
    assert_eq!(member["username"], fixture::C1_MEMBER);
    assert!(member.get("password_hash").is_none());
    assert_eq!(higher, 404);
}

#[tokio::test]
async fn only_managers_read_other_users_but_everyone_reads_themself() {
    let (app, fixture, d1_reviewer) = fixture_as(fixture::D1_REVIEWER).await;

    let (other, _) = app
        .get_json(&user_path(&fixture, fixture::C1_MEMBER), &d1_reviewer)
        .await;
    let response = app
        .get(&user_path(&fixture, fixture::D1_REVIEWER), &d1_reviewer)
        .await;
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let (me, body) = status_and_json(response).await;
    let not_modified = app
        .request(
            Method::GET,
            &user_path(&fixture, fixture::D1_REVIEWER),
            Some(&d1_reviewer),
        )
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    let (list, _) = app.get_json("/api/v1/users", &d1_reviewer).await;

    assert_eq!(other, 404);
    assert_eq!(me, 200);
    assert_eq!(body["memberships"][0]["role"], "reviewer");
    assert_eq!(not_modified.status(), 304);
    assert_eq!(list, 403);
}

#[tokio::test]
async fn listing_as_district_manager_shows_only_users_inside_its_subtree() {
    let (app, fixture, d1_manager) = fixture_as(fixture::D1_MANAGER).await;

    let (status, body) = app.get_json("/api/v1/users", &d1_manager).await;
    let (foreign_filter, _) = app
        .get_json(
            &format!("/api/v1/users?organization_id={}", fixture.tree.c2.id),
            &d1_manager,
        )
        .await;
    let (_, c1_only) = app
        .get_json(
            &format!("/api/v1/users?organization_id={}", fixture.tree.c1.id),
            &d1_manager,
        )
        .await;
    let (_, enabled) = app
        .get_json("/api/v1/users?disabled=false", &d1_manager)
        .await;

    assert_eq!(status, 200);
    assert_eq!(
        usernames(&body),
        vec![
            "c1.manager",
            "c1.member",
            "c1.reviewer",
            "d1.manager",
            "d1.reviewer",
            "disabled.user"
        ]
    );
    assert_eq!(foreign_filter, 404);
    assert_eq!(
        usernames(&c1_only),
        vec!["c1.manager", "c1.member", "c1.reviewer", "disabled.user"]
    );
    assert!(!usernames(&enabled).contains(&"disabled.user".to_owned()));
}

#[tokio::test]
async fn admin_lists_every_user_page_by_page() {
    let (app, fixture, admin) = fixture_as(fixture::ADMIN).await;

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let path = match &cursor {
            Some(cursor) => format!("/api/v1/users?limit=3&cursor={cursor}"),
            None => "/api/v1/users?limit=3".to_owned(),
        };
        let (status, body) = app.get_json(&path, &admin).await;
        assert_eq!(status, 200);
        seen.extend(usernames(&body));
        match body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }

    let mut expected: Vec<String> = fixture
        .users
        .keys()
        .map(|name| (*name).to_owned())
        .collect();
    expected.sort();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn user_search_ignores_case_and_vietnamese_diacritics_and_wildcards() {
    let (app, fixture) = app_with_fixture().await;
    admin_creates(
        &app,
        &fixture,
        &json!({
            "username": "hoa.nguyen",
            "display_name": "Nguyễn Thị Hoà",
            "password": "a long enough password",
            "memberships": memberships(&[(fixture.tree.c1.id, "member")]),
        }),
    )
    .await;
    let admin = fixture.token(&app, fixture::ADMIN).await;

    for q in ["thi%20hoa", "TH%E1%BB%8A%20H%C3%92A", "hoa.ng"] {
        let (status, body) = app.get_json(&format!("/api/v1/users?q={q}"), &admin).await;
        assert_eq!(status, 200);
        assert_eq!(usernames(&body), vec!["hoa.nguyen"], "q={q}");
    }
    let (_, wildcard) = app.get_json("/api/v1/users?q=%25", &admin).await;
    assert!(usernames(&wildcard).is_empty());
}

// ---------------------------------------------------------------------------------------------
// Updating accounts

#[tokio::test]
async fn disabling_a_user_makes_its_refresh_token_fail() {
    let (app, fixture) = app_with_fixture().await;
    let password = fixture::password_of(fixture::C1_MEMBER);
    let refresh_token = refresh_token_of(&app, fixture::C1_MEMBER, &password).await;
    let other_device = refresh_token_of(&app, fixture::C1_MEMBER, &password).await;
    let admin = fixture.token(&app, fixture::ADMIN).await;
    let path = user_path(&fixture, fixture::C1_MEMBER);
    let live_tokens = format!(
        "SELECT count(*) FROM refresh_tokens WHERE revoked_at IS NULL AND user_id = '{}'",
        fixture.users[fixture::C1_MEMBER]
    );
    assert_eq!(app.db.count(&live_tokens).await, 2);

    let (status, body) = app
        .patch_for_json(&path, &admin, &json!({"disabled": true}))
        .await;
    let (refreshed, refused) = refresh(&app, &refresh_token).await;
    let (login, _) = status_and_json(app.login(fixture::C1_MEMBER, &password).await).await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(body["disabled"], true);
    assert_eq!(body["version"], 2);
    assert_eq!(app.db.count(&live_tokens).await, 0);
    assert_eq!(refreshed, 401);
    assert_eq!(refused["error"], "invalid_grant");
    assert_eq!(login, 401);
    assert_eq!(
        app.db
            .count(&format!(
                "SELECT count(*) FROM audit_events WHERE action = 'user.update' AND entity_id = '{}'",
                fixture.users[fixture::C1_MEMBER]
            ))
            .await,
        1
    );

    // Enabling the account again does not bring old sessions back.
    let (enabled, _) = app
        .patch_for_json(&path, &admin, &json!({"disabled": false}))
        .await;
    let (old_session, _) = refresh(&app, &other_device).await;
    assert_eq!(enabled, 200);
    assert_eq!(old_session, 401);
    app.token(fixture::C1_MEMBER, &password).await;
}

#[tokio::test]
async fn district_manager_disables_a_commune_user_but_not_an_administrator() {
    let (app, fixture) = app_with_fixture().await;
    let c1_admin = admin_creates(
        &app,
        &fixture,
        &new_user("c1.admin", memberships(&[(fixture.tree.c1.id, "admin")])),
    )
    .await;
    let d1_manager = fixture.token(&app, fixture::D1_MANAGER).await;
    let before = counts(&app).await;

    let (admin_status, _) = app
        .patch_for_json(
            &format!("/api/v1/users/{c1_admin}"),
            &d1_manager,
            &json!({"disabled": true}),
        )
        .await;
    assert_eq!(admin_status, 403);
    assert_eq!(counts(&app).await, before);

    let (member_status, body) = app
        .patch_for_json(
            &user_path(&fixture, fixture::C1_REVIEWER),
            &d1_manager,
            &json!({"disabled": true, "display_name": "  Trần Văn Bình  "}),
        )
        .await;
    assert_eq!(member_status, 200, "{body}");
    assert_eq!(body["display_name"], "Trần Văn Bình");
    assert_eq!(body["disabled"], true);
}

#[tokio::test]
async fn a_manager_cannot_change_a_user_who_also_belongs_elsewhere() {
    let (app, fixture) = app_with_fixture().await;
    let shared = user_in_two_communes(&app, &fixture).await;
    let d1_manager = fixture.token(&app, fixture::D1_MANAGER).await;
    let before = counts(&app).await;

    let (read, _) = app
        .get_json(&format!("/api/v1/users/{shared}"), &d1_manager)
        .await;
    let (write, _) = app
        .patch_for_json(
            &format!("/api/v1/users/{shared}"),
            &d1_manager,
            &json!({"password": "taken over password"}),
        )
        .await;

    assert_eq!(read, 200);
    assert_eq!(write, 403);
    assert_eq!(counts(&app).await, before);
}

#[tokio::test]
async fn a_password_change_revokes_refresh_tokens_and_the_new_password_works() {
    let (app, fixture) = app_with_fixture().await;
    let old_password = fixture::password_of(fixture::C1_REVIEWER);
    let refresh_token = refresh_token_of(&app, fixture::C1_REVIEWER, &old_password).await;
    let admin = fixture.token(&app, fixture::ADMIN).await;

    let (status, body) = app
        .patch_for_json(
            &user_path(&fixture, fixture::C1_REVIEWER),
            &admin,
            &json!({"password": "a brand new passphrase"}),
        )
        .await;
    let (refreshed, _) = refresh(&app, &refresh_token).await;
    let (old_login, _) =
        status_and_json(app.login(fixture::C1_REVIEWER, &old_password).await).await;
    let (new_login, _) = status_and_json(
        app.login(fixture::C1_REVIEWER, "a brand new passphrase")
            .await,
    )
    .await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(refreshed, 401);
    assert_eq!(old_login, 401);
    assert_eq!(new_login, 200);
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM audit_events WHERE after::text LIKE '%argon2%' OR after::text LIKE '%brand new%'")
            .await,
        0
    );
}

#[tokio::test]
async fn a_user_changes_its_own_password_only_with_the_current_one_and_cannot_disable_itself() {
    let (app, fixture, token) = fixture_as(fixture::C1_MEMBER).await;
    let me = user_path(&fixture, fixture::C1_MEMBER);
    let before = counts(&app).await;

    let (without, body) = app
        .patch_for_json(&me, &token, &json!({"password": "my new passphrase"}))
        .await;
    assert_eq!(without, 422);
    assert_eq!(body["errors"][0]["pointer"], "/current_password");
    let (wrong, _) = app
        .patch_for_json(
            &me,
            &token,
            &json!({"password": "my new passphrase", "current_password": "not my password"}),
        )
        .await;
    assert_eq!(wrong, 422);
    let (disable, _) = app
        .patch_for_json(&me, &token, &json!({"disabled": true}))
        .await;
    assert_eq!(disable, 403);
    assert_eq!(counts(&app).await, before);

    let (changed, body) = app
        .patch_for_json(
            &me,
            &token,
            &json!({
                "password": "my new passphrase",
                "current_password": fixture::password_of(fixture::C1_MEMBER),
                "display_name": "Lê Thị Mai",
            }),
        )
        .await;
    assert_eq!(changed, 200, "{body}");
    assert_eq!(body["display_name"], "Lê Thị Mai");
    app.token(fixture::C1_MEMBER, "my new passphrase").await;

    // `current_password` keeps its documented bound even where it is not needed (an
    // administrator setting another user's password).
    let admin = fixture.token(&app, fixture::ADMIN).await;
    let (overlong, body) = app
        .patch_for_json(
            &me,
            &admin,
            &json!({"password": "set by the admin", "current_password": "x".repeat(129)}),
        )
        .await;
    assert_eq!(overlong, 422, "{body}");
    assert_eq!(body["errors"][0]["pointer"], "/current_password");
}

#[tokio::test]
async fn a_stale_if_match_changes_nothing() {
    let (app, fixture, admin) = fixture_as(fixture::ADMIN).await;
    let path = user_path(&fixture, fixture::C1_MEMBER);
    let before = counts(&app).await;

    let response = app
        .request(Method::PATCH, &path, Some(&admin))
        .header("If-Match", "\"7\"")
        .json(&json!({"display_name": "Someone else"}))
        .send()
        .await
        .unwrap();
    let (status, body) = status_and_json(response).await;

    assert_eq!(status, 412);
    assert_eq!(body["current_etag"], "\"1\"");
    assert_eq!(counts(&app).await, before);
}

// ---------------------------------------------------------------------------------------------
// Memberships

#[tokio::test]
async fn a_user_cannot_raise_its_own_role() {
    let (app, fixture) = app_with_fixture().await;
    let c1_manager_id = fixture.users[fixture::C1_MANAGER];
    let before_memberships = memberships_in_db(&app, c1_manager_id).await;
    let before = counts(&app).await;

    let c1_manager = fixture.token(&app, fixture::C1_MANAGER).await;
    let (own, _) = put_memberships(
        &app,
        &c1_manager,
        c1_manager_id,
        memberships(&[
            (fixture.tree.c1.id, "manager"),
            (fixture.tree.d1.id, "manager"),
        ]),
    )
    .await;
    // Inside its own subtree and not above its own role: still refused, it is its own.
    let (own_subtree, _) = put_memberships(
        &app,
        &c1_manager,
        c1_manager_id,
        memberships(&[
            (fixture.tree.c1.id, "manager"),
            (fixture.tree.k1.id, "manager"),
        ]),
    )
    .await;
    let c1_member = fixture.token(&app, fixture::C1_MEMBER).await;
    let (member, _) = put_memberships(
        &app,
        &c1_member,
        fixture.users[fixture::C1_MEMBER],
        memberships(&[(fixture.tree.c1.id, "manager")]),
    )
    .await;

    assert_eq!(own, 403);
    assert_eq!(own_subtree, 403);
    assert_eq!(member, 403);
    assert_eq!(
        memberships_in_db(&app, c1_manager_id).await,
        before_memberships
    );
    assert_eq!(counts(&app).await, before);
}

#[tokio::test]
async fn a_manager_cannot_grant_above_its_own_role() {
    let (app, fixture, d1_manager) = fixture_as(fixture::D1_MANAGER).await;
    let target = fixture.users[fixture::C1_MEMBER];
    let before = counts(&app).await;

    let (status, _) = put_memberships(
        &app,
        &d1_manager,
        target,
        memberships(&[(fixture.tree.c1.id, "admin")]),
    )
    .await;

    assert_eq!(status, 403);
    assert_eq!(
        memberships_in_db(&app, target).await,
        held(&[(fixture.tree.c1.id, "member")])
    );
    assert_eq!(counts(&app).await, before);
}

#[tokio::test]
async fn a_manager_replaces_memberships_inside_its_subtree_but_keeps_foreign_ones() {
    let (app, fixture) = app_with_fixture().await;
    let target = user_in_two_communes(&app, &fixture).await;
    let d1_manager = fixture.token(&app, fixture::D1_MANAGER).await;

    // Dropping the C2 membership (outside D1) is refused and changes nothing.
    let before = counts(&app).await;
    let (dropped, _) = put_memberships(
        &app,
        &d1_manager,
        target,
        memberships(&[(fixture.tree.c1.id, "reviewer")]),
    )
    .await;
    assert_eq!(dropped, 403);
    assert_eq!(counts(&app).await, before);

    // Promoting inside D1 and adding K1 while sending C2 unchanged is allowed.
    let response = put_memberships_response(
        &app,
        &d1_manager,
        target,
        memberships(&[
            (fixture.tree.c1.id, "reviewer"),
            (fixture.tree.k1.id, "manager"),
            (fixture.tree.c2.id, "member"),
        ]),
    )
    .await;
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let (status, body) = status_and_json(response).await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(etag, "\"2\"");
    assert_eq!(body["memberships"].as_array().unwrap().len(), 3);
    let expected = held(&[
        (fixture.tree.c1.id, "reviewer"),
        (fixture.tree.k1.id, "manager"),
        (fixture.tree.c2.id, "member"),
    ]);
    assert_eq!(memberships_in_db(&app, target).await, expected);
    assert_eq!(counts(&app).await.2, before.2 + 1);
}

#[tokio::test]
async fn admin_changes_anyone_s_memberships_but_never_removes_the_last_administrator() {
    let (app, fixture, admin) = fixture_as(fixture::ADMIN).await;
    let admin_id = fixture.users[fixture::ADMIN];

    let (promoted, _) = put_memberships(
        &app,
        &admin,
        fixture.users[fixture::C2_MANAGER],
        memberships(&[(fixture.tree.d2.id, "manager")]),
    )
    .await;
    let before = counts(&app).await;
    let (last, body) = put_memberships(
        &app,
        &admin,
        admin_id,
        memberships(&[(fixture.tree.p.id, "manager")]),
    )
    .await;

    assert_eq!(promoted, 200);
    assert_eq!(
        memberships_in_db(&app, fixture.users[fixture::C2_MANAGER]).await,
        held(&[(fixture.tree.d2.id, "manager")])
    );
    assert_eq!(last, 409);
    assert_eq!(body["code"], "last_admin");
    assert_eq!(
        memberships_in_db(&app, admin_id).await,
        held(&[(fixture.tree.p.id, "admin")])
    );
    assert_eq!(counts(&app).await, before);
}

// ---------------------------------------------------------------------------------------------
// Partner clients

#[tokio::test]
async fn a_client_created_by_admin_shows_its_secret_once_and_that_secret_obtains_a_token() {
    let (app, fixture, admin) = fixture_as(fixture::ADMIN).await;
    let audit_before = audit_total(&app).await;

    let response = app
        .post_json(
            "/api/v1/clients",
            &admin,
            &json!({"name": "Cổng dịch vụ công", "organization_id": fixture.tree.c1.id,
                    "scopes": ["read", "progress:write"]}),
        )
        .await;
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let (status, created) = status_and_json(response).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/api/v1/clients/{id}"));
    assert_eq!(created["scopes"], json!(["progress:write", "read"]));

    let (_, read) = app.get_json(&location, &admin).await;
    let (_, list) = app.get_json("/api/v1/clients", &admin).await;
    assert_eq!(read["id"], json!(id));
    assert!(read.get("client_secret").is_none());
    assert!(!list.to_string().contains(&secret));
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    let stored = app
        .db
        .count(&format!(
            "SELECT count(*) FROM clients WHERE id = '{id}' AND secret_hash <> '{secret}'"
        ))
        .await;
    assert_eq!(stored, 1);

    let (token_status, token) = client_credentials(&app, &id, &secret).await;
    assert_eq!(token_status, 200, "{token}");
    assert_eq!(token["scope"], "progress:write read");
    let (wrong, _) = client_credentials(&app, &id, "not-the-secret").await;
    assert_eq!(wrong, 401);
    assert_eq!(audit_total(&app).await, audit_before + 1);
}

#[tokio::test]
async fn a_deleted_client_cannot_obtain_tokens() {
    let (app, fixture, admin) = fixture_as(fixture::ADMIN).await;
    let client_id = fixture.client_id.to_string();
    let (before_delete, _) = client_credentials(&app, &client_id, fixture::CLIENT_SECRET).await;
    assert_eq!(before_delete, 200);

    let deleted = delete(&app, &format!("/api/v1/clients/{client_id}"), &admin).await;
    assert_eq!(deleted.status(), 204);
    let (after_delete, body) = client_credentials(&app, &client_id, fixture::CLIENT_SECRET).await;
    let audit_after_first = audit_total(&app).await;
    let again = delete(&app, &format!("/api/v1/clients/{client_id}"), &admin).await;
    let (_, read) = app
        .get_json(&format!("/api/v1/clients/{client_id}"), &admin)
        .await;

    assert_eq!(after_delete, 401);
    assert_eq!(body["error"], "invalid_client");
    assert_eq!(again.status(), 204);
    assert_eq!(audit_total(&app).await, audit_after_first);
    assert!(read["revoked_at"].is_string());
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM audit_events WHERE action = 'client.revoke'")
            .await,
        1
    );
}

#[tokio::test]
async fn only_an_administrator_manages_clients() {
    let (app, fixture) = app_with_fixture().await;
    let clients_before = app.db.count("SELECT count(*) FROM clients").await;
    let before = counts(&app).await;

    for username in [fixture::D1_MANAGER, fixture::C1_MANAGER, fixture::C1_MEMBER] {
        let token = fixture.token(&app, username).await;
        let (create, _) =
            create_client(&app, &token, "Rogue", fixture.tree.d1.id, json!(["read"])).await;
        let (list, _) = app.get_json("/api/v1/clients", &token).await;
        let removal = delete(
            &app,
            &format!("/api/v1/clients/{}", fixture.client_id),
            &token,
        )
        .await;
        assert_eq!(
            (create, list, removal.status().as_u16()),
            (403, 403, 403),
            "{username}"
        );
    }
    let partner = fixture.client_token(&app).await;
    let (partner_create, _) = create_client(
        &app,
        &partner,
        "Self-made",
        fixture.tree.d1.id,
        json!(["read"]),
    )
    .await;

    assert_eq!(partner_create, 403);
    assert_eq!(
        app.db.count("SELECT count(*) FROM clients").await,
        clients_before
    );
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM clients WHERE revoked_at IS NOT NULL")
            .await,
        0
    );
    assert_eq!(counts(&app).await, before);
}

#[tokio::test]
async fn a_client_needs_a_known_scope_and_organization() {
    let (app, fixture, admin) = fixture_as(fixture::ADMIN).await;
    let before = app.db.count("SELECT count(*) FROM clients").await;

    let (no_scope, _) = create_client(&app, &admin, "X", fixture.tree.d1.id, json!([])).await;
    let (bad_scope, _) =
        create_client(&app, &admin, "X", fixture.tree.d1.id, json!(["admin"])).await;
    let (no_org, body) = create_client(&app, &admin, "X", Uuid::new_v4(), json!(["read"])).await;

    assert_eq!((no_scope, bad_scope, no_org), (422, 422, 422));
    assert_eq!(body["errors"][0]["pointer"], "/organization_id");
    assert_eq!(app.db.count("SELECT count(*) FROM clients").await, before);
}

/// `CreateClient.scopes` is documented with at most as many items as there are scopes; the
/// service refuses more, naming `/scopes`, as it refuses none.
#[tokio::test]
async fn a_client_with_more_scopes_than_there_are_is_422_naming_scopes() {
    let (app, fixture, admin) = fixture_as(fixture::ADMIN).await;
    let (status, problem) = create_client(
        &app,
        &admin,
        "Cổng dịch vụ công",
        fixture.tree.c1.id,
        json!(["read", "progress:write", "read"]),
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(crate::helpers::ctx::pointers(&problem), vec!["/scopes"]);
}
