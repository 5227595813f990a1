//! The docs/security.md fixture: province P ─ district D1 ─ communes C1 (party cell K1), C3;
//! district D2 ─ commune C2; an unrelated province P9; one user per role and relation, a
//! disabled user, and a partner client bound to D1 with scope `read`.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use thidua::auth::principal::Role;
use thidua::db::schema::{clients, users};
use thidua::organizations::dto::OrganizationKind;
use thidua::organizations::model::OrganizationRow;
use thidua::organizations::repo;
use thidua::users::repo::ensure_user;
use uuid::Uuid;

use super::app::TestApp;

pub const CLIENT_SECRET: &str = "partner-secret-of-d1-0123456789abcdef";

/// Ids of the fixture's organizations.
#[derive(Debug, Clone)]
pub struct Tree {
    pub p: OrganizationRow,
    pub d1: OrganizationRow,
    pub c1: OrganizationRow,
    pub k1: OrganizationRow,
    pub c3: OrganizationRow,
    pub d2: OrganizationRow,
    pub c2: OrganizationRow,
    pub p9: OrganizationRow,
}

/// Usernames of the fixture (password: `password-<username>`).
pub const ADMIN: &str = "admin";
pub const C1_MEMBER: &str = "c1.member";
pub const C1_MANAGER: &str = "c1.manager";
pub const C1_REVIEWER: &str = "c1.reviewer";
pub const D1_REVIEWER: &str = "d1.reviewer";
pub const D1_MANAGER: &str = "d1.manager";
pub const C2_MANAGER: &str = "c2.manager";
pub const DISABLED: &str = "disabled.user";

pub fn password_of(username: &str) -> String {
    format!("password-{username}")
}

pub struct Fixture {
    pub tree: Tree,
    pub users: std::collections::HashMap<&'static str, Uuid>,
    pub client_id: Uuid,
}

/// Inserts the unit `name` coded `code` under `parent` (a new root when None).
async fn unit(
    conn: &mut diesel_async::AsyncPgConnection,
    parent: Option<&OrganizationRow>,
    kind: OrganizationKind,
    name: &str,
    code: &str,
) -> OrganizationRow {
    repo::insert(conn, parent, kind, name, Some(code))
        .await
        .unwrap_or_else(|error| panic!("{name}: {error}"))
}

impl Fixture {
    /// A fresh app with the fixture loaded and a campaign (see [`Fixture::campaign`]) of the one
    /// field `nong_thon_moi`: the app, the fixture, the campaign's id.
    pub async fn app_with_campaign() -> (TestApp, Fixture, Uuid) {
        let app = TestApp::spawn().await;
        let fixture = Fixture::load(&app).await;
        let campaign = fixture
            .campaign(&app, &[("nong_thon_moi", "Nông thôn mới")])
            .await;
        (app, fixture, campaign)
    }

    /// Inserts the "Đồng khởi mới" campaign (2020–2025, owned by the province P) with the
    /// given `(code, name)` fields; returns its id.
    pub async fn campaign(&self, app: &TestApp, fields: &[(&str, &str)]) -> Uuid {
        let campaign = Uuid::new_v4();
        let fields: Vec<serde_json::Value> = fields
            .iter()
            .map(|(code, name)| serde_json::json!({ "code": code, "name": name }))
            .collect();
        let fields = serde_json::Value::from(fields)
            .to_string()
            .replace('\'', "''");
        app.db
            .client()
            .await
            .batch_execute(&format!(
                "INSERT INTO campaigns (id, code, name, owner_organization_id, starts_on, ends_on, fields) \
                 VALUES ('{campaign}', 'DKM', 'Đồng khởi mới', '{}', '2020-01-01', '2025-12-31', \
                 '{fields}'::jsonb)",
                self.tree.p.id
            ))
            .await
            .unwrap();
        campaign
    }

    pub async fn load(app: &TestApp) -> Self {
        let mut conn = app.state.db.write().await.expect("connection");
        let conn = &mut *conn;
        use OrganizationKind::{Commune, District, PartyCell, Province};
        let p = unit(conn, None, Province, "Tỉnh P", "P").await;
        let d1 = unit(conn, Some(&p), District, "Huyện D1", "D1").await;
        let c1 = unit(conn, Some(&d1), Commune, "Xã Mỹ Hòa", "C1").await;
        let k1 = unit(conn, Some(&c1), PartyCell, "Chi bộ K1", "K1").await;
        let c3 = unit(conn, Some(&d1), Commune, "Xã C3", "C3").await;
        let d2 = unit(conn, Some(&p), District, "Huyện D2", "D2").await;
        let c2 = unit(conn, Some(&d2), Commune, "Xã C2", "C2").await;
        let p9 = unit(conn, None, Province, "Tỉnh P9", "P9").await;
        let tree = Tree {
            p,
            d1,
            c1,
            k1,
            c3,
            d2,
            c2,
            p9,
        };

        let plan: [(&'static str, &OrganizationRow, Role); 8] = [
            (ADMIN, &tree.p, Role::Admin),
            (C1_MEMBER, &tree.c1, Role::Member),
            (C1_MANAGER, &tree.c1, Role::Manager),
            (C1_REVIEWER, &tree.c1, Role::Reviewer),
            (D1_REVIEWER, &tree.d1, Role::Reviewer),
            (D1_MANAGER, &tree.d1, Role::Manager),
            (C2_MANAGER, &tree.c2, Role::Manager),
            (DISABLED, &tree.c1, Role::Manager),
        ];
        let mut users_by_name = std::collections::HashMap::new();
        for (username, organization, role) in plan {
            let hash = thidua::auth::password::hash_with(
                &super::app::TEST_HASHING,
                &password_of(username),
            )
            .unwrap();
            let id = ensure_user(conn, username, username, &hash, organization.id, role)
                .await
                .unwrap();
            users_by_name.insert(username, id);
        }
        diesel::update(users::table.find(users_by_name[DISABLED]))
            .set(users::disabled.eq(true))
            .execute(conn)
            .await
            .unwrap();
        let client_id = Uuid::new_v4();
        diesel::insert_into(clients::table)
            .values((
                clients::id.eq(client_id),
                clients::name.eq("Partner of D1"),
                clients::secret_hash.eq(thidua::auth::service::hex_digest(CLIENT_SECRET)),
                clients::organization_id.eq(tree.d1.id),
                clients::scopes.eq(vec![Some("read".to_owned())]),
            ))
            .execute(conn)
            .await
            .unwrap();
        Self {
            tree,
            users: users_by_name,
            client_id,
        }
    }

    /// An access token of a fixture user.
    pub async fn token(&self, app: &TestApp, username: &str) -> String {
        app.token(username, &password_of(username)).await
    }

    /// An access token of the partner client.
    pub async fn client_token(&self, app: &TestApp) -> String {
        let response = app
            .http
            .post(app.url("/api/v1/auth/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", &self.client_id.to_string()),
                ("client_secret", CLIENT_SECRET),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }
}

/// Stores a member of `unit` whose password hash was made with `hashing` (an older or costlier
/// setting than the app's), for the login tests that depend on the stored parameters; the
/// stored hash.
pub async fn member_hashed_with(
    app: &TestApp,
    unit: Uuid,
    (username, display_name): (&str, &str),
    hashing: &thidua::config::PasswordHashing,
    password: &str,
) -> String {
    let hash = thidua::auth::password::hash_with(hashing, password).unwrap();
    let mut conn = app.state.db.write().await.unwrap();
    ensure_user(&mut conn, username, display_name, &hash, unit, Role::Member)
        .await
        .unwrap();
    hash
}
