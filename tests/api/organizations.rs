//! The organization tree: directory, search, create, move, deactivate, and the role × relation
//! × operation matrix of who may write what.

use std::collections::HashMap;

use reqwest::{Method, Response};
use serde_json::{Value, json};
use thidua::organizations::dto::OrganizationKind;
use thidua::organizations::model::OrganizationRow;
use thidua::organizations::repo;
use uuid::Uuid;

use crate::helpers::arrange::{app_with_fixture, fixture_as};
use crate::helpers::fixture::{self, Fixture};
use crate::helpers::{TestApp, audit_count, status_and_json};

#[tokio::test]
async fn search_ignores_case_and_vietnamese_diacritics() {
    let (app, _, token) = fixture_as(fixture::C2_MANAGER).await;
    for q in ["xa%20my%20hoa", "M%E1%BB%B8%20HO%C3%80", "my%20hoa"] {
        let (status, body) = app
            .get_json(&format!("/api/v1/organizations?q={q}"), &token)
            .await;
        assert_eq!(status, 200);
        let names: Vec<_> = body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["name"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(names, vec!["Xã Mỹ Hòa"], "q={q}");
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers

fn org_path(id: Uuid) -> String {
    format!("/api/v1/organizations/{id}")
}

/// `POST /organizations/{unit}/move` under `parent`: the raw response.
async fn move_unit(app: &TestApp, token: &str, unit: Uuid, parent: Uuid) -> Response {
    let path = format!("{}/move", org_path(unit));
    app.post_json(&path, token, &json!({ "parent_id": parent }))
        .await
}

/// `POST /organizations/{unit}/deactivate`: the raw response.
async fn deactivate(app: &TestApp, token: &str, unit: Uuid) -> Response {
    let path = format!("{}/deactivate", org_path(unit));
    app.request(Method::POST, &path, Some(token))
        .send()
        .await
        .unwrap()
}

fn names_of(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("not a page: {page}"))
        .iter()
        .map(|item| item["name"].as_str().unwrap().to_owned())
        .collect()
}

fn ids_of(list: &Value) -> Vec<Uuid> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|item| Uuid::parse_str(item["id"].as_str().unwrap()).unwrap())
        .collect()
}

/// The URL query form of `text` (percent-encoding every non-alphanumeric byte).
fn query_value(text: &str) -> String {
    text.bytes()
        .map(|byte| {
            if byte.is_ascii_alphanumeric() {
                (byte as char).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect()
}

async fn search(app: &TestApp, token: &str, q: &str) -> Vec<String> {
    let (status, body) = app
        .get_json(
            &format!("/api/v1/organizations?limit=200&q={}", query_value(q)),
            token,
        )
        .await;
    assert_eq!(status, 200, "q={q:?}: {body}");
    names_of(&body)
}

/// The first column of every row `sql` selects, as text.
async fn texts(app: &TestApp, sql: &str) -> Vec<String> {
    let client = app.db.client().await;
    client
        .query(sql, &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

async fn audit_actions_for(app: &TestApp, entity_id: Uuid) -> Vec<String> {
    texts(
        app,
        &format!(
            "SELECT action FROM audit_events WHERE entity_id = '{entity_id}' \
             ORDER BY occurred_at, id"
        ),
    )
    .await
}

/// A snapshot of the whole organizations table, to prove a refused write changed nothing.
async fn tree_snapshot(app: &TestApp) -> Vec<String> {
    texts(
        app,
        "SELECT id::text || '|' || coalesce(parent_id::text, '') || '|' || name || '|' || \
         coalesce(code, '') || '|' || kind || '|' || active || '|' || path || '|' || depth \
         || '|' || version FROM organizations ORDER BY id",
    )
    .await
}

async fn insert_child(app: &TestApp, parent: &OrganizationRow, name: &str) -> OrganizationRow {
    let mut conn = app.state.db.write().await.unwrap();
    repo::insert(
        &mut conn,
        Some(parent),
        OrganizationKind::Hamlet,
        name,
        None,
    )
    .await
    .unwrap()
}

// ---------------------------------------------------------------------------------------------
// The role × relation × operation matrix

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Actor {
    Admin,
    Manager,
    Reviewer,
    Member,
    /// The partner client (bound to D1, scope read).
    Client,
}

const ACTORS: [Actor; 5] = [
    Actor::Admin,
    Actor::Manager,
    Actor::Reviewer,
    Actor::Member,
    Actor::Client,
];

/// Where the target lies relative to C1, the unit of the manager, reviewer and member (the
/// admin holds its role at P, above all of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Relation {
    /// C1 itself.
    Own,
    /// K1, below C1.
    Lower,
    /// D1, C1's parent.
    Higher,
    /// C3, C1's sibling.
    Sibling,
    /// C2, in the other district's subtree.
    OtherBranch,
}

const RELATIONS: [Relation; 5] = [
    Relation::Own,
    Relation::Lower,
    Relation::Higher,
    Relation::Sibling,
    Relation::OtherBranch,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    /// POST /organizations with the target as parent.
    CreateChild,
    /// PATCH the target's name.
    Rename,
    /// POST /organizations/{target}/move.
    Move,
    /// POST /organizations/{target}/deactivate.
    Deactivate,
}

/// The rules of docs/api.md and the handlers' documentation, as a table.
fn expected_status(operation: Operation, actor: Actor, relation: Relation) -> u16 {
    let success = match operation {
        Operation::CreateChild => 201,
        _ => 200,
    };
    let allowed = match (operation, actor) {
        (_, Actor::Admin) => true,
        // A manager writes inside its own subtree: its unit and everything below.
        (Operation::CreateChild | Operation::Rename, Actor::Manager) => {
            matches!(relation, Relation::Own | Relation::Lower)
        }
        // Deactivation needs a strictly higher unit: never one's own.
        (Operation::Deactivate, Actor::Manager) => relation == Relation::Lower,
        _ => false,
    };
    if allowed { success } else { 403 }
}

struct World {
    app: TestApp,
    fixture: Fixture,
    tokens: HashMap<&'static str, String>,
    client_token: String,
}

impl World {
    async fn new() -> Self {
        let (app, fixture) = app_with_fixture().await;
        let mut tokens = HashMap::new();
        for username in [
            fixture::ADMIN,
            fixture::C1_MANAGER,
            fixture::C1_REVIEWER,
            fixture::C1_MEMBER,
            fixture::D1_MANAGER,
            fixture::D1_REVIEWER,
            fixture::C2_MANAGER,
        ] {
            tokens.insert(username, fixture.token(&app, username).await);
        }
        let client_token = fixture.client_token(&app).await;
        Self {
            app,
            fixture,
            tokens,
            client_token,
        }
    }

    fn token(&self, actor: Actor) -> &str {
        match actor {
            Actor::Admin => &self.tokens[fixture::ADMIN],
            Actor::Manager => &self.tokens[fixture::C1_MANAGER],
            Actor::Reviewer => &self.tokens[fixture::C1_REVIEWER],
            Actor::Member => &self.tokens[fixture::C1_MEMBER],
            Actor::Client => &self.client_token,
        }
    }

    /// Creates an organization `body` as the administrator: the status and the answer.
    async fn admin_creates(&self, body: &Value) -> (u16, Value) {
        let admin = self.token(Actor::Admin);
        self.app
            .post_for_json("/api/v1/organizations", admin, body)
            .await
    }

    /// The direct children of `unit` as `token` reads them: the status and the page.
    async fn children(&self, token: &str, unit: Uuid) -> (u16, Value) {
        let path = format!("{}/children", org_path(unit));
        self.app.get_json(&path, token).await
    }

    /// Moves `unit` under `parent` as the administrator: the status and the answer.
    async fn admin_moves(&self, unit: Uuid, parent: Uuid) -> (u16, Value) {
        let admin = self.token(Actor::Admin);
        status_and_json(move_unit(&self.app, admin, unit, parent).await).await
    }

    fn user(&self, username: &str) -> &str {
        &self.tokens[username]
    }

    fn target(&self, relation: Relation) -> &OrganizationRow {
        let tree = &self.fixture.tree;
        match relation {
            Relation::Own => &tree.c1,
            Relation::Lower => &tree.k1,
            Relation::Higher => &tree.d1,
            Relation::Sibling => &tree.c3,
            Relation::OtherBranch => &tree.c2,
        }
    }

    /// A valid new parent for moving the target (never inside the target's subtree).
    fn move_destination(&self, relation: Relation) -> Uuid {
        let tree = &self.fixture.tree;
        match relation {
            Relation::Own => tree.d2.id,
            Relation::Lower => tree.c3.id,
            Relation::Higher => tree.p9.id,
            Relation::Sibling => tree.d2.id,
            Relation::OtherBranch => tree.d1.id,
        }
    }

    async fn perform(&self, operation: Operation, actor: Actor, relation: Relation) -> Response {
        let target = self.target(relation);
        let token = self.token(actor);
        match operation {
            Operation::CreateChild => {
                self.app
                    .post_json(
                        "/api/v1/organizations",
                        token,
                        &json!({"parent_id": target.id, "kind": "hamlet", "name": format!("Ấp của {actor:?}")}),
                    )
                    .await
            }
            Operation::Rename => {
                self.app
                    .patch_json(
                        &org_path(target.id),
                        token,
                        // Per relation too: sibling units may not share a name.
                        &json!({"name": format!("Tên mới bởi {actor:?} cho {relation:?}")}),
                    )
                    .await
            }
            Operation::Move => {
                move_unit(&self.app, token, target.id, self.move_destination(relation)).await
            }
            Operation::Deactivate => deactivate(&self.app, token, target.id).await,
        }
    }

    /// Deactivates the target's descendants directly in the database, so that only the
    /// authorization rule decides whether deactivating the target succeeds.
    async fn make_leaf(&self, relation: Relation) {
        let target = self.target(relation);
        self.app
            .db
            .client()
            .await
            .batch_execute(&format!(
                "UPDATE organizations SET active = false \
                 WHERE path LIKE '{}%' AND id <> '{}'",
                target.path, target.id
            ))
            .await
            .unwrap();
    }
}

fn action_of(operation: Operation) -> &'static str {
    match operation {
        Operation::CreateChild => "organization.create",
        Operation::Rename => "organization.update",
        Operation::Move => "organization.move",
        Operation::Deactivate => "organization.deactivate",
    }
}

/// Walks every actor × relation for `operation`. A world whose state a successful write changed
/// is replaced before the next case when `fresh_after_success`.
async fn walk_matrix(operation: Operation, fresh_after_success: bool) {
    let mut world = World::new().await;
    for actor in ACTORS {
        for relation in RELATIONS {
            let case = format!("{operation:?} by {actor:?} on {relation:?}");
            let expected = expected_status(operation, actor, relation);
            // Only where it should succeed: the refused cases must see the tree unchanged, and
            // the rule is checked before the children are.
            if operation == Operation::Deactivate && expected == 200 {
                world.make_leaf(relation).await;
            }
            let snapshot = tree_snapshot(&world.app).await;
            let audits = audit_count(&world.app, None, None).await;
            let response = world.perform(operation, actor, relation).await;
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            assert_eq!(status, expected, "{case}: {body}");
            if status >= 400 {
                assert_eq!(body["code"], "forbidden", "{case}");
                assert_eq!(
                    tree_snapshot(&world.app).await,
                    snapshot,
                    "{case} changed the tree"
                );
                assert_eq!(
                    audit_count(&world.app, None, None).await,
                    audits,
                    "{case} was audited"
                );
            } else {
                assert_ne!(
                    tree_snapshot(&world.app).await,
                    snapshot,
                    "{case} changed nothing"
                );
                assert_eq!(
                    audit_count(&world.app, None, None).await,
                    audits + 1,
                    "{case}"
                );
                let entity = Uuid::parse_str(body["id"].as_str().unwrap()).unwrap();
                let actions = audit_actions_for(&world.app, entity).await;
                assert_eq!(
                    actions.last().map(String::as_str),
                    Some(action_of(operation)),
                    "{case}"
                );
                if fresh_after_success {
                    world = World::new().await;
                }
            }
        }
    }
}

/// One test per operation walking its whole role × relation matrix (`fresh`: a new world after
/// each success, as the operation changes the tree for the next case).
macro_rules! matrix_test {
    ($name:ident, $operation:expr, $fresh:expr) => {
        #[tokio::test]
        async fn $name() {
            walk_matrix($operation, $fresh).await;
        }
    };
}

matrix_test!(
    who_may_create_a_child_organization,
    Operation::CreateChild,
    false
);
matrix_test!(who_may_rename_an_organization, Operation::Rename, false);
matrix_test!(
    only_an_administrator_may_move_an_organization,
    Operation::Move,
    true
);
matrix_test!(
    who_may_deactivate_an_organization,
    Operation::Deactivate,
    true
);

#[tokio::test]
async fn managers_and_reviewers_of_a_higher_unit_follow_the_same_rules() {
    let world = World::new().await;
    let tree = &world.fixture.tree;
    let app = &world.app;
    // D1's manager works on C1 (strictly below D1) and on D1 itself, but not on D2's subtree.
    let d1_manager = world.user(fixture::D1_MANAGER);
    let create = |parent: Uuid| json!({"parent_id": parent, "kind": "hamlet", "name": "Ấp D1"});
    for (parent, expected) in [
        (&tree.c1, 201),
        (&tree.d1, 201),
        (&tree.c2, 403),
        (&tree.p, 403),
    ] {
        let response = app
            .post_json("/api/v1/organizations", d1_manager, &create(parent.id))
            .await;
        assert_eq!(response.status(), expected, "a child of {}", parent.name);
    }
    // Only an administrator creates a root.
    let root = json!({"kind": "province", "name": "Tỉnh mới"});
    assert_eq!(
        app.post_json("/api/v1/organizations", d1_manager, &root)
            .await
            .status(),
        403
    );
    assert_eq!(
        app.post_json("/api/v1/organizations", world.token(Actor::Admin), &root)
            .await
            .status(),
        201
    );
    // A reviewer of a higher unit is still not a manager.
    let d1_reviewer = world.user(fixture::D1_REVIEWER);
    assert_eq!(
        app.patch_json(&org_path(tree.c1.id), d1_reviewer, &json!({"name": "X"}))
            .await
            .status(),
        403
    );
    // D1's manager deactivates C3 (strictly below), not D1 (its own unit).
    assert_eq!(deactivate(app, d1_manager, tree.d1.id).await.status(), 403);
    assert_eq!(deactivate(app, d1_manager, tree.c3.id).await.status(), 200);
}

#[tokio::test]
async fn a_write_on_an_unknown_organization_is_404_and_a_missing_parent_is_422() {
    let world = World::new().await;
    let admin = world.token(Actor::Admin);
    let unknown = Uuid::new_v4();
    let app = &world.app;
    assert_eq!(
        app.patch_json(&org_path(unknown), admin, &json!({"name": "X"}))
            .await
            .status(),
        404
    );
    assert_eq!(
        move_unit(app, admin, unknown, world.fixture.tree.p.id)
            .await
            .status(),
        404
    );
    let (status, body) = app
        .post_for_json(
            "/api/v1/organizations",
            admin,
            &json!({"parent_id": unknown, "kind": "hamlet", "name": "X"}),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(body["errors"][0]["pointer"], "/parent_id");
}

// ---------------------------------------------------------------------------------------------
// Reading the directory

#[tokio::test]
async fn every_caller_reads_the_whole_directory_including_partner_clients() {
    let world = World::new().await;
    let tree = &world.fixture.tree;
    let all = [
        &tree.p, &tree.d1, &tree.c1, &tree.k1, &tree.c3, &tree.d2, &tree.c2, &tree.p9,
    ];
    for actor in ACTORS {
        let token = world.token(actor);
        let (status, page) = world.app.get_json("/api/v1/organizations", token).await;
        assert_eq!(status, 200, "{actor:?}");
        assert_eq!(
            page["items"].as_array().unwrap().len(),
            all.len(),
            "{actor:?}"
        );
        // Even a unit far outside the caller's subtree.
        let (status, p9) = world.app.get_json(&org_path(tree.p9.id), token).await;
        assert_eq!(status, 200, "{actor:?}");
        assert_eq!(p9["name"], "Tỉnh P9");
        let (status, _) = world.children(token, tree.d2.id).await;
        assert_eq!(status, 200, "{actor:?}");
    }
    let response = world
        .app
        .request(Method::GET, "/api/v1/organizations", None)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn an_organization_shows_its_depth_and_ancestors_root_first() {
    let world = World::new().await;
    let tree = &world.fixture.tree;
    let token = world.token(Actor::Member);
    let response = world.app.get(&org_path(tree.k1.id), token).await;
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let (status, k1) = status_and_json(response).await;
    assert_eq!(status, 200);
    assert_eq!(k1["depth"], 3);
    assert_eq!(k1["parent_id"], json!(tree.c1.id));
    assert_eq!(k1["kind"], "party_cell");
    assert_eq!(
        ids_of(&k1["ancestors"]),
        vec![tree.p.id, tree.d1.id, tree.c1.id]
    );
    assert_eq!(k1["ancestors"][0]["name"], "Tỉnh P");
    assert_eq!(etag, format!("\"{}\"", k1["version"]));

    let (status, p) = world.app.get_json(&org_path(tree.p.id), token).await;
    assert_eq!(status, 200);
    assert_eq!(p["depth"], 0);
    assert_eq!(p["parent_id"], Value::Null);
    assert_eq!(p["ancestors"], json!([]));

    let not_modified = world
        .app
        .request(Method::GET, &org_path(tree.k1.id), Some(token))
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(not_modified.status(), 304);

    let (status, _) = world.app.get_json(&org_path(Uuid::new_v4()), token).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn the_children_endpoint_lists_direct_children_in_vietnamese_order() {
    let world = World::new().await;
    let tree = &world.fixture.tree;
    let token = world.token(Actor::Member);
    let children = |id: Uuid| world.children(token, id);
    let (status, page) = children(tree.d1.id).await;
    assert_eq!(status, 200);
    assert_eq!(names_of(&page), vec!["Xã C3", "Xã Mỹ Hòa"]);
    let (status, page) = children(tree.p.id).await;
    assert_eq!(status, 200);
    assert_eq!(names_of(&page), vec!["Huyện D1", "Huyện D2"]);
    let (status, page) = children(tree.k1.id).await;
    assert_eq!(status, 200);
    assert_eq!(page["items"], json!([]));
    assert_eq!(page["next_cursor"], Value::Null);
    let (status, _) = children(Uuid::new_v4()).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn keyset_pages_walk_every_item_once_in_vietnamese_order() {
    let world = World::new().await;
    let tree = &world.fixture.tree;
    // Inserted in an order unrelated to the expected one; "Xóm An" twice to test ties.
    for name in [
        "Xóm Ơn",
        "Xóm Đông",
        "Xóm Ân",
        "Xóm An",
        "Xóm Ông",
        "Xóm Dừa",
        "Xóm Ót",
        "Xóm Ăng",
        "Xóm An",
    ] {
        // Active siblings may not share a name: the first "Xóm An" is retired before the
        // second one is created (lists show both).
        if name == "Xóm An" {
            world
                .app
                .db
                .client()
                .await
                .batch_execute(&format!(
                    "UPDATE organizations SET active = false WHERE parent_id = '{}' AND name = 'Xóm An'",
                    tree.p9.id
                ))
                .await
                .unwrap();
        }
        insert_child(&world.app, &tree.p9, name).await;
    }
    // Vietnamese alphabet: a < ă < â, d < đ, o < ô < ơ (distinct letters, not accents).
    let expected = [
        "Xóm An",
        "Xóm An",
        "Xóm Ăng",
        "Xóm Ân",
        "Xóm Dừa",
        "Xóm Đông",
        "Xóm Ót",
        "Xóm Ông",
        "Xóm Ơn",
    ];
    let token = world.token(Actor::Client);
    for base in [
        format!("/api/v1/organizations?parent_id={}&limit=2", tree.p9.id),
        format!("{}/children?limit=2", org_path(tree.p9.id)),
    ] {
        let mut names = Vec::new();
        let mut ids = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let path = match &cursor {
                Some(cursor) => format!("{base}&cursor={cursor}"),
                None => base.clone(),
            };
            let (status, page) = world.app.get_json(&path, token).await;
            assert_eq!(status, 200, "{page}");
            pages += 1;
            assert!(page["items"].as_array().unwrap().len() <= 2);
            names.extend(names_of(&page));
            ids.extend(ids_of(&page["items"]));
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
            assert!(pages < 20, "pagination does not end");
        }
        assert_eq!(names, expected, "{base}");
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), expected.len(), "an item was repeated: {base}");
        assert_eq!(pages, 5, "{base}");
    }
}

// ---------------------------------------------------------------------------------------------
// Search

#[tokio::test]
async fn every_spelling_of_hoa_finds_my_hoa() {
    let world = World::new().await;
    let token = world.token(Actor::Member);
    for q in [
        "Hòa",         // composed, accent on the o (new style)
        "Ho\u{00e0}",  // "Hoà": accent on the a (old style)
        "Ho\u{0300}a", // decomposed: o + combining grave
        "Hoa\u{0300}", // decomposed, old style
        "HÒA",
        "hoa",
        "Mỹ Hoà",
        "My\u{0303} Hòa",
    ] {
        assert_eq!(
            search(&world.app, token, q).await,
            vec!["Xã Mỹ Hòa"],
            "q={q:?}"
        );
    }
}

#[tokio::test]
async fn search_treats_percent_and_underscore_literally() {
    let world = World::new().await;
    let tree = &world.fixture.tree;
    for name in ["Tổ 100%", "Tổ 1000", "Tổ A_B", "Tổ AXB", "Tổ C\\D"] {
        insert_child(&world.app, &tree.p9, name).await;
    }
    let token = world.token(Actor::Member);
    assert_eq!(search(&world.app, token, "%").await, vec!["Tổ 100%"]);
    assert_eq!(search(&world.app, token, "0%").await, vec!["Tổ 100%"]);
    assert_eq!(search(&world.app, token, "_").await, vec!["Tổ A_B"]);
    assert_eq!(search(&world.app, token, "A_B").await, vec!["Tổ A_B"]);
    assert_eq!(search(&world.app, token, "\\").await, vec!["Tổ C\\D"]);
    assert_eq!(search(&world.app, token, "%%").await, Vec::<String>::new());
    assert_eq!(search(&world.app, token, "'").await, Vec::<String>::new());
}

// ---------------------------------------------------------------------------------------------
// Move

#[tokio::test]
async fn moving_a_unit_rewrites_its_whole_subtree() {
    let world = World::new().await;
    let tree = &world.fixture.tree;
    let admin = world.token(Actor::Admin);
    let (status, moved) = world.admin_moves(tree.c1.id, tree.d2.id).await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(moved["parent_id"], json!(tree.d2.id));
    assert_eq!(moved["depth"], 2);
    assert_eq!(ids_of(&moved["ancestors"]), vec![tree.p.id, tree.d2.id]);

    let (status, k1) = world.app.get_json(&org_path(tree.k1.id), admin).await;
    assert_eq!(status, 200);
    assert_eq!(
        ids_of(&k1["ancestors"]),
        vec![tree.p.id, tree.d2.id, tree.c1.id]
    );
    assert_eq!(k1["depth"], 3);
    assert_eq!(k1["parent_id"], json!(tree.c1.id));

    let children = |id: Uuid| {
        let world = &world;
        async move { names_of(&world.children(admin, id).await.1) }
    };
    assert_eq!(children(tree.d1.id).await, vec!["Xã C3"]);
    assert_eq!(children(tree.d2.id).await, vec!["Xã C2", "Xã Mỹ Hòa"]);
    // Ids and history stay.
    assert_eq!(
        audit_actions_for(&world.app, tree.c1.id).await,
        vec!["organization.move"]
    );
    // Paths in the database follow the new parent.
    let moved_under_d2 = world
        .app
        .db
        .count(&format!(
            "SELECT count(*) FROM organizations WHERE path LIKE '{}%' AND id IN ('{}', '{}')",
            tree.d2.path, tree.c1.id, tree.k1.id
        ))
        .await;
    assert_eq!(moved_under_d2, 2);
}

#[tokio::test]
async fn a_unit_cannot_move_under_itself_or_its_descendants() {
    let world = World::new().await;
    let tree = &world.fixture.tree;
    let snapshot = tree_snapshot(&world.app).await;
    let audits = audit_count(&world.app, None, None).await;
    for (node, parent) in [
        (&tree.c1, &tree.k1),
        (&tree.c1, &tree.c1),
        (&tree.p, &tree.c2),
        (&tree.d1, &tree.k1),
    ] {
        let (status, body) = world.admin_moves(node.id, parent.id).await;
        assert_eq!(status, 422, "{} under {}: {body}", node.name, parent.name);
        assert_eq!(body["errors"][0]["pointer"], "/parent_id");
    }
    assert_eq!(tree_snapshot(&world.app).await, snapshot);
    assert_eq!(audit_count(&world.app, None, None).await, audits);
}

#[tokio::test]
async fn a_unit_cannot_move_under_an_inactive_parent() {
    let world = World::new().await;
    let tree = &world.fixture.tree;
    let admin = world.token(Actor::Admin);
    let response = deactivate(&world.app, admin, tree.c2.id).await;
    assert_eq!(response.status(), 200);
    let (status, _) = world.admin_moves(tree.c3.id, tree.c2.id).await;
    assert_eq!(status, 422);
}

// ---------------------------------------------------------------------------------------------
// Deactivate

#[tokio::test]
async fn deactivation_waits_for_the_children_and_then_keeps_the_unit() {
    let world = World::new().await;
    let tree = &world.fixture.tree;
    let admin = world.token(Actor::Admin);
    let deactivate = |id: Uuid| {
        let app = &world.app;
        async move { status_and_json(deactivate(app, admin, id).await).await }
    };
    let snapshot = tree_snapshot(&world.app).await;
    let (status, body) = deactivate(tree.c1.id).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(tree_snapshot(&world.app).await, snapshot);

    let (status, k1) = deactivate(tree.k1.id).await;
    assert_eq!(status, 200);
    assert_eq!(k1["active"], false);
    assert!(k1["deactivated_at"].is_string());

    let (status, c1) = deactivate(tree.c1.id).await;
    assert_eq!(status, 200, "{c1}");
    assert_eq!(c1["active"], false);

    // Already inactive.
    let (status, _) = deactivate(tree.c1.id).await;
    assert_eq!(status, 409);

    // Still readable, and listed as inactive.
    let (status, c1) = world.app.get_json(&org_path(tree.c1.id), admin).await;
    assert_eq!(status, 200);
    assert_eq!(c1["active"], false);
    let (_, inactive) = world
        .app
        .get_json("/api/v1/organizations?active=false", admin)
        .await;
    assert_eq!(names_of(&inactive), vec!["Chi bộ K1", "Xã Mỹ Hòa"]);
    assert_eq!(
        audit_actions_for(&world.app, tree.c1.id).await,
        vec!["organization.deactivate"]
    );
    // No children under an inactive unit.
    let (status, _) = world
        .admin_creates(&json!({"parent_id": tree.c1.id, "kind": "hamlet", "name": "Ấp"}))
        .await;
    assert_eq!(status, 422);
}

// ---------------------------------------------------------------------------------------------
// Conditional writes

#[tokio::test]
async fn a_patch_with_a_stale_if_match_is_412_and_changes_nothing() {
    let world = World::new().await;
    let tree = &world.fixture.tree;
    let manager = world.token(Actor::Manager);
    let path = org_path(tree.c1.id);
    let etag = world.app.get(&path, manager).await.headers()["etag"]
        .to_str()
        .unwrap()
        .to_owned();
    let patch = |if_match: String, name: &'static str| {
        world
            .app
            .request(Method::PATCH, &path, Some(manager))
            .header("If-Match", if_match)
            .json(&json!({"name": name}))
            .send()
    };

    let snapshot = tree_snapshot(&world.app).await;
    let audits = audit_count(&world.app, None, None).await;
    let response = patch("\"999\"".to_owned(), "Xã Mới").await.unwrap();
    assert_eq!(response.status(), 412);
    assert_eq!(response.headers()["etag"].to_str().unwrap(), etag);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "precondition_failed");
    assert_eq!(body["current_etag"], etag.as_str());
    assert_eq!(tree_snapshot(&world.app).await, snapshot);
    assert_eq!(audit_count(&world.app, None, None).await, audits);

    let response = patch(etag.clone(), "Xã Mỹ Hòa Mới").await.unwrap();
    assert_eq!(response.status(), 200);
    let new_etag = response.headers()["etag"].to_str().unwrap().to_owned();
    assert_ne!(new_etag, etag);

    // The ETag just used is stale now.
    let snapshot = tree_snapshot(&world.app).await;
    let response = patch(etag, "Xã Lần Hai").await.unwrap();
    assert_eq!(response.status(), 412);
    assert_eq!(tree_snapshot(&world.app).await, snapshot);
    let (_, c1) = world.app.get_json(&path, manager).await;
    assert_eq!(c1["name"], "Xã Mỹ Hòa Mới");
    assert_eq!(format!("\"{}\"", c1["version"]), new_etag);
}

#[tokio::test]
async fn renaming_a_unit_changes_the_etag_of_its_descendants() {
    // Descendants show the ancestor's name, so their representations changed too.
    let world = World::new().await;
    let tree = &world.fixture.tree;
    let admin = world.token(Actor::Admin);
    let etag_of = |id: Uuid| {
        let app = &world.app;
        async move {
            app.get(&org_path(id), admin).await.headers()["etag"]
                .to_str()
                .unwrap()
                .to_owned()
        }
    };
    let before = etag_of(tree.k1.id).await;
    let response = world
        .app
        .patch_json(&org_path(tree.d1.id), admin, &json!({"name": "Huyện Mới"}))
        .await;
    assert_eq!(response.status(), 200);
    assert_ne!(etag_of(tree.k1.id).await, before);
    let (_, k1) = world.app.get_json(&org_path(tree.k1.id), admin).await;
    assert_eq!(k1["ancestors"][1]["name"], "Huyện Mới");
}

// ---------------------------------------------------------------------------------------------
// Audit

#[tokio::test]
async fn each_successful_write_is_audited_once_with_before_and_after() {
    let world = World::new().await;
    let tree = &world.fixture.tree;
    let admin = world.token(Actor::Admin);
    let admin_id = world.fixture.users[fixture::ADMIN];
    let (status, created) = world
        .admin_creates(
            &json!({"parent_id": tree.c1.id, "kind": "hamlet", "name": "Ấp Một", "code": "A1"}),
        )
        .await;
    assert_eq!(status, 201);
    let id = Uuid::parse_str(created["id"].as_str().unwrap()).unwrap();
    let response = world
        .app
        .patch_json(&org_path(id), admin, &json!({"name": "Ấp Hai"}))
        .await;
    assert_eq!(response.status(), 200);
    // A refused write (duplicate code) leaves no event.
    let (status, _) = world
        .admin_creates(
            &json!({"parent_id": tree.c1.id, "kind": "hamlet", "name": "Ấp Ba", "code": "A1"}),
        )
        .await;
    assert_eq!(status, 409);
    assert_eq!(
        audit_actions_for(&world.app, id).await,
        vec!["organization.create", "organization.update"]
    );
    assert_eq!(audit_count(&world.app, None, None).await, 2);

    let client = world.app.db.client().await;
    let row = client
        .query_one(
            &format!(
                "SELECT actor_id::text, actor_kind, before->>'name', after->>'name', request_id \
                 FROM audit_events WHERE entity_id = '{id}' AND action = 'organization.update'"
            ),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), admin_id.to_string());
    assert_eq!(row.get::<_, String>(1), "user");
    assert_eq!(row.get::<_, String>(2), "Ấp Một");
    assert_eq!(row.get::<_, String>(3), "Ấp Hai");
    assert!(row.get::<_, Option<String>>(4).is_some());
}

#[tokio::test]
async fn a_child_created_while_its_ancestor_moves_follows_the_move() {
    // A unit created under K1 by a transaction that commits while the move of C1 waits for
    // K1's lock must still end up inside the moved subtree: a stale path would leave it in
    // D1's subtree for authorization.
    use diesel_async::AsyncConnection;
    let world = World::new().await;
    let tree = world.fixture.tree.clone();
    let http = world.app.http.clone();
    let url = world.app.url(&format!("{}/move", org_path(tree.c1.id)));
    let admin = world.token(Actor::Admin).to_owned();
    let mut conn = world.app.state.db.write().await.unwrap();
    let (child, moving) = conn
        .transaction::<_, diesel::result::Error, _>(async |conn| {
            let k1 = repo::find_for_update(conn, tree.k1.id).await?.unwrap();
            let child =
                repo::insert(conn, Some(&k1), OrganizationKind::Hamlet, "Ấp Đua", None).await?;
            let moving = tokio::spawn(async move {
                http.post(url)
                    .bearer_auth(admin)
                    .json(&json!({"parent_id": tree.d2.id}))
                    .send()
                    .await
                    .unwrap()
                    .status()
            });
            // Let the move reach K1's lock before this transaction commits.
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            Ok((child, moving))
        })
        .await
        .unwrap();
    drop(conn);
    assert_eq!(moving.await.unwrap(), 200);
    let (status, body) = world
        .app
        .get_json(&org_path(child.id), world.token(Actor::Admin))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        ids_of(&body["ancestors"]),
        vec![tree.p.id, tree.d2.id, tree.c1.id, tree.k1.id]
    );
    assert_eq!(body["depth"], 4);
    let stale = world
        .app
        .db
        .count(&format!(
            "SELECT count(*) FROM organizations WHERE path LIKE '{}%'",
            tree.c1.path
        ))
        .await;
    assert_eq!(stale, 0, "rows left under C1's old path");
}

#[tokio::test]
async fn moving_a_unit_to_its_current_parent_changes_nothing_in_its_subtree() {
    let world = World::new().await;
    let tree = &world.fixture.tree;
    let admin = world.token(Actor::Admin);
    let (status, body) = world.admin_moves(tree.c1.id, tree.d1.id).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["parent_id"], json!(tree.d1.id));
    let (_, k1) = world.app.get_json(&org_path(tree.k1.id), admin).await;
    assert_eq!(
        ids_of(&k1["ancestors"]),
        vec![tree.p.id, tree.d1.id, tree.c1.id]
    );
    assert_eq!(k1["depth"], 3);
}
