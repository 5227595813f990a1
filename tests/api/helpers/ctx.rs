//! The context most resource suites start from: the app, the docs/security.md fixture, a
//! 2020–2025 campaign owned by P with the suite's fields, and a token per user.

use std::collections::HashMap;

use serde_json::Value;
use uuid::Uuid;

use thidua::auth::principal::Role;

use super::TestApp;
use super::fixture::{self, Fixture, Tree};

/// Picks a unit of the fixture's tree.
pub type UnitOf = fn(&Tree) -> Uuid;

/// The fixture users every suite logs in.
const USERS: [&str; 7] = [
    fixture::ADMIN,
    fixture::C1_MEMBER,
    fixture::C1_MANAGER,
    fixture::C1_REVIEWER,
    fixture::D1_REVIEWER,
    fixture::D1_MANAGER,
    fixture::C2_MANAGER,
];

pub struct Ctx {
    pub app: TestApp,
    pub fixture: Fixture,
    pub campaign: Uuid,
    tokens: HashMap<String, String>,
}

impl Ctx {
    /// The campaign has `fields` (`(code, name)`); `extra_users` (username, its unit in the
    /// tree, role) are created with the fixture's password rule and logged in too.
    pub async fn new(fields: &[(&str, &str)], extra_users: &[(&str, UnitOf, Role)]) -> Self {
        Self::on(TestApp::spawn().await, fields, extra_users).await
    }

    /// [`Ctx::new`] on an app whose settings `adjust` changed.
    pub async fn with_settings(
        fields: &[(&str, &str)],
        adjust: impl FnOnce(&mut thidua::config::Settings),
    ) -> Self {
        Self::on(TestApp::spawn_with(adjust).await, fields, &[]).await
    }

    async fn on(
        app: TestApp,
        fields: &[(&str, &str)],
        extra_users: &[(&str, UnitOf, Role)],
    ) -> Self {
        let fixture = Fixture::load(&app).await;
        let campaign = fixture.campaign(&app, fields).await;
        for (username, unit, role) in extra_users {
            let mut conn = app.state.db.write().await.unwrap();
            let hash = thidua::auth::password::hash_with(
                &super::app::TEST_HASHING,
                &fixture::password_of(username),
            )
            .unwrap();
            thidua::users::repo::ensure_user(
                &mut conn,
                username,
                username,
                &hash,
                unit(&fixture.tree),
                *role,
            )
            .await
            .unwrap();
        }
        let mut tokens = HashMap::new();
        let extra = extra_users.iter().map(|(username, ..)| *username);
        for user in USERS.into_iter().chain(extra) {
            tokens.insert(user.to_owned(), fixture.token(&app, user).await);
        }
        Self {
            app,
            fixture,
            campaign,
            tokens,
        }
    }

    pub fn token(&self, user: &str) -> &str {
        &self.tokens[user]
    }

    /// A 2022 target pledge of `organization` in the context's campaign (field
    /// `nong_thon_moi`), created by `user`; its id.
    pub async fn create_pledge(&self, user: &str, organization: Uuid, title: &str) -> String {
        let body = target_pledge(self.campaign, organization, title);
        let (status, body) = self
            .app
            .post_for_json("/api/v1/pledges", self.token(user), &body)
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    /// `POST {collection}/{id}/{action}` with a JSON body when given.
    pub async fn post_action(
        &self,
        collection: &str,
        token: &str,
        id: &str,
        action: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut request = self.app.request(
            reqwest::Method::POST,
            &format!("{collection}/{id}/{action}"),
            Some(token),
        );
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    /// Exports `path` as CSV with `token`, twice: whole (`lines` lines with the header), then
    /// with the database stopped (a lock outlasting the lock timeout) once the first page is
    /// answered. The second must be a broken download or complete, never a short file taken
    /// for complete.
    pub async fn assert_a_csv_failing_midway_is_never_short(
        &self,
        path: &str,
        token: &str,
        lines: usize,
    ) {
        let export = || {
            self.app
                .request(reqwest::Method::GET, path, Some(token))
                .header(reqwest::header::ACCEPT, "text/csv")
                .send()
        };
        let complete = export().await.unwrap().bytes().await.unwrap();
        assert_eq!(
            std::str::from_utf8(&complete).unwrap().lines().count(),
            lines
        );

        let mut blocker = self.app.db.client().await;
        let response = export().await.unwrap();
        assert_eq!(response.status(), 200);
        let lock = blocker.transaction().await.unwrap();
        lock.batch_execute("LOCK TABLE organizations IN ACCESS EXCLUSIVE MODE")
            .await
            .unwrap();
        let body = response.bytes().await;
        lock.rollback().await.unwrap();
        if let Ok(bytes) = body {
            assert_eq!(
                std::str::from_utf8(&bytes).unwrap().lines().count(),
                lines,
                "{path}: a short CSV was delivered as if complete"
            );
        }
    }
}

/// The creation body of a 2022 target pledge of `organization` in `campaign`: field
/// `nong_thon_moi`, 10 km by the end of 2022.
pub fn target_pledge(campaign: Uuid, organization: Uuid, title: &str) -> Value {
    serde_json::json!({
        "campaign_id": campaign,
        "organization_id": organization,
        "year": 2022,
        "kind": "target",
        "field": "nong_thon_moi",
        "title": title,
        "target_value": 10,
        "target_unit": "km",
        "deadline": "2022-12-31"
    })
}

/// `base` with `overrides` merged in; a `null` override removes the member.
pub fn merged(mut base: Value, overrides: Value) -> Value {
    if let (Value::Object(base), Value::Object(overrides)) = (&mut base, overrides) {
        for (key, value) in overrides {
            if value.is_null() {
                base.remove(&key);
            } else {
                base.insert(key, value);
            }
        }
    }
    base
}

/// The JSON Pointers a validation problem names (none when it names none).
pub fn pointers(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|error| error["pointer"].as_str().unwrap().to_owned())
        .collect()
}

/// The JSON Pointers a validation problem names, as a set (order-free assertions).
pub fn pointer_set(problem: &Value) -> std::collections::HashSet<String> {
    pointers(problem).into_iter().collect()
}

/// The ids of a page, in order.
pub fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("not a page: {page}"))
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The text `member` of every element of the array `list` (a page's `items`, a report's
/// `groups`), in order.
pub fn texts_of<'a>(list: &'a Value, member: &str) -> Vec<&'a str> {
    list.as_array()
        .unwrap_or_else(|| panic!("not an array: {list}"))
        .iter()
        .map(|element| {
            element[member]
                .as_str()
                .unwrap_or_else(|| panic!("no text {member} in {element}"))
        })
        .collect()
}

/// The `id` of a resource in a response body.
pub fn id_of(resource: &Value) -> String {
    resource["id"].as_str().unwrap().to_owned()
}
