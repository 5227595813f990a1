//! What a new user meets in the first hour (issue 15): the documentation link, messages about
//! the database that point at the real cause, and `create-admin` / `seed-demo` on one tree
//! without surprises.

use reqwest::Method;
use thidua::auth::principal::Role;
use thidua::users::repo::{Bootstrapped, bootstrap_admin, ensure_user};

use crate::helpers::TestApp;
use crate::helpers::arrange::get_anonymously;
use crate::helpers::db::server_url;

#[tokio::test]
async fn docs_without_the_trailing_slash_leads_to_swagger_ui() {
    let app = TestApp::spawn().await;
    for method in [Method::GET, Method::HEAD] {
        let response = app
            .request(method.clone(), "/docs", None)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 308, "{method}");
        assert_eq!(response.headers()["location"], "/docs/", "{method}");
    }
    let page = get_anonymously(&app, "/docs/").await;
    assert_eq!(page.status(), 200);
}

#[tokio::test]
async fn a_missing_database_user_is_reported_as_such_not_as_a_server_to_start() {
    let mut url = url::Url::parse(&server_url()).unwrap();
    url.set_username("thidua_no_such_role").unwrap();
    url.set_password(None).unwrap();
    url.set_path("/thidua_never_created");
    let creating = thidua::db::create_database_if_missing(url.as_str())
        .await
        .unwrap_err()
        .to_string();
    let migrating = thidua::db::run_migrations(url.as_str())
        .await
        .unwrap_err()
        .to_string();
    for error in [creating, migrating] {
        assert!(
            error.contains("refused the connection") && error.contains("thidua_no_such_role"),
            "{error}"
        );
        assert!(error.contains("DATABASE_URL"), "{error}");
        assert!(
            !error.contains("cannot reach") && !error.contains("docker"),
            "{error}"
        );
    }

    // Nothing listens on port 1: that one is a server to start.
    let error = thidua::db::create_database_if_missing("postgres://postgres@127.0.0.1:1/thidua")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("cannot reach PostgreSQL") && error.contains("docker compose"),
        "{error}"
    );
}

async fn roots(app: &TestApp) -> i64 {
    app.db
        .count("SELECT count(*) FROM organizations WHERE parent_id IS NULL")
        .await
}

/// `create-admin` of "ops.admin" with its first password, as an operator runs it first.
async fn create_ops_admin(app: &TestApp) -> Bootstrapped {
    bootstrap_admin(&app.state, "ops.admin", "First-pass-2026", false)
        .await
        .unwrap()
}

/// `create-admin` without `--reset-password` that must fail: its message.
async fn create_admin_refused(app: &TestApp, username: &str, password: &str) -> String {
    bootstrap_admin(&app.state, username, password, false)
        .await
        .unwrap_err()
        .to_string()
}

#[tokio::test]
async fn create_admin_twice_is_refused_unless_the_password_reset_is_asked_for() {
    let app = TestApp::spawn().await;
    let created = create_ops_admin(&app).await;
    let Bootstrapped::Created {
        id, created_root, ..
    } = created.clone()
    else {
        panic!("{created:?}");
    };
    assert!(created_root);
    assert!(
        created
            .to_string()
            .contains("created now because it was empty")
    );
    let first_session = app.token("ops.admin", "First-pass-2026").await;
    assert_eq!(app.get("/api/v1/me", &first_session).await.status(), 200);

    let error = create_admin_refused(&app, "ops.admin", "Second-pass-2026").await;
    assert!(
        error.contains("already exists") && error.contains("--reset-password"),
        "{error}"
    );
    assert_eq!(
        app.login("ops.admin", "Second-pass-2026").await.status(),
        401
    );
    app.token("ops.admin", "First-pass-2026").await;

    let reset = bootstrap_admin(&app.state, "ops.admin", "Second-pass-2026", true)
        .await
        .unwrap();
    assert_eq!(reset, Bootstrapped::PasswordReset { id, admin: true });
    app.token("ops.admin", "Second-pass-2026").await;
    assert_eq!(app.get("/api/v1/me", &first_session).await.status(), 401);
    assert_eq!(roots(&app).await, 1);
}

#[tokio::test]
async fn create_admin_never_promotes_an_existing_user() {
    let app = TestApp::spawn().await;
    create_ops_admin(&app).await;
    let root: uuid::Uuid = app
        .db
        .client()
        .await
        .query_one(
            "SELECT id::text FROM organizations WHERE parent_id IS NULL",
            &[],
        )
        .await
        .unwrap()
        .get::<_, String>(0)
        .parse()
        .unwrap();
    let hash = app.state.passwords.hash("Member-pass-2026").await.unwrap();
    let member = {
        let mut conn = app.state.db.write().await.unwrap();
        ensure_user(
            &mut conn,
            "plain.member",
            "Member",
            &hash,
            root,
            Role::Member,
        )
        .await
        .unwrap()
    };
    let admin_memberships = "SELECT count(*) FROM memberships m JOIN users u ON u.id = m.user_id \
                             WHERE u.username = 'plain.member' AND m.role = 'admin'";

    let error = create_admin_refused(&app, "plain.member", "Taken-over-2026").await;
    assert!(error.contains("already exists"), "{error}");
    let reset = bootstrap_admin(&app.state, "plain.member", "Taken-over-2026", true)
        .await
        .unwrap();
    assert_eq!(
        reset,
        Bootstrapped::PasswordReset {
            id: member,
            admin: false
        }
    );
    assert!(
        reset.to_string().contains("NOT an administrator"),
        "{reset}"
    );
    assert_eq!(app.db.count(admin_memberships).await, 0);
}

#[tokio::test]
async fn seed_demo_after_create_admin_grows_the_one_tree() {
    let app = TestApp::spawn().await;
    create_ops_admin(&app).await;
    thidua::demo::seed(&app.state).await.unwrap();
    thidua::demo::seed(&app.state).await.unwrap();
    assert_eq!(roots(&app).await, 1);
    // The province sits under the root create-admin made, and the demo's rows know that root.
    assert_eq!(
        app.db
            .count(
                "SELECT count(*) FROM organizations p JOIN organizations r ON r.id = p.parent_id \
                 WHERE p.code = '83' AND r.parent_id IS NULL"
            )
            .await,
        1
    );
    assert_eq!(
        app.db
            .count(
                "SELECT count(*) FROM pledges p JOIN organizations r \
                 ON r.id = p.root_organization_id WHERE r.parent_id IS NOT NULL"
            )
            .await,
        0
    );
    // The first administrator sees the demo below its root.
    let token = app.token("ops.admin", "First-pass-2026").await;
    let pledges = app.get("/api/v1/pledges?year=2022", &token).await;
    assert_eq!(pledges.status(), 200);
    let body: serde_json::Value = pledges.json().await.unwrap();
    assert!(!body["items"].as_array().unwrap().is_empty(), "{body}");
}

/// `field` of every item `list` answers for the search `q` (as the admin of the demo).
async fn found(app: &TestApp, token: &str, list: &str, q: &str, field: &str) -> Vec<String> {
    let separator = if list.contains('?') { '&' } else { '?' };
    let response = app
        .request(
            Method::GET,
            &format!("{list}{separator}limit=200"),
            Some(token),
        )
        .query(&[("q", q)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{list} q={q:?}");
    let page: serde_json::Value = response.json().await.unwrap();
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item[field].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn every_search_matches_each_word_in_any_order_across_spaces() {
    let app = TestApp::spawn().await;
    thidua::demo::seed_before_reform(&app.state).await.unwrap();
    let token = app.token("admin", thidua::demo::ADMIN_PASSWORD).await;
    let organizations = "/api/v1/organizations";
    for q in ["hoa my", "  HOA   mỹ ", "xa\tmy hoa"] {
        let names = found(&app, &token, organizations, q, "name").await;
        assert!(
            names.iter().any(|name| name == "Xã Mỹ Hòa"),
            "{q:?}: {names:?}"
        );
        assert!(
            !names
                .iter()
                .any(|name| name == "Xã An Hòa Tây" || name == "Xã Mỹ Thạnh"),
            "{q:?}: {names:?}"
        );
    }
    assert_eq!(
        found(
            &app,
            &token,
            "/api/v1/pledges?year=2022",
            "nong thon moi  hoan thanh",
            "title"
        )
        .await,
        ["Hoàn thành 19/19 tiêu chí xã nông thôn mới"]
    );
    assert_eq!(
        found(&app, &token, "/api/v1/campaigns", "khoi dong", "name").await,
        ["Phong trào thi đua \"Đồng khởi mới\""]
    );
    assert_eq!(
        found(
            &app,
            &token,
            "/api/v1/nominations",
            "bac guong cau lac bo",
            "nominee_name"
        )
        .await,
        [thidua::demo::CLUB_NAME]
    );
    assert_eq!(
        found(&app, &token, "/api/v1/users", "hoa my thi dua", "username").await,
        ["myhoa.manager"]
    );
    // Every word must be there: one missing word finds nothing.
    assert!(
        found(&app, &token, organizations, "hoa my zzz", "name")
            .await
            .is_empty()
    );
}

#[test]
fn openapi_into_a_pipe_closed_early_ends_quietly() {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_thidua"))
        .arg("openapi")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The document is larger than a pipe's buffer: the binary is still writing when it closes.
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{:?}: {stderr}", output.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn help_names_the_environment_and_the_env_file() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_thidua"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8(output.stdout).unwrap();
    for word in ["DATABASE_URL", "THIDUA_", ".env.example", ".env file"] {
        assert!(help.contains(word), "{word}: {help}");
    }
}

#[tokio::test]
async fn create_admin_says_what_it_did_without_the_signing_key_warning() {
    let app = TestApp::spawn().await;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_thidua"))
        .args([
            "create-admin",
            "--username",
            "ops.admin",
            "--password-stdin",
        ])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &app.db.url)
        .env("THIDUA_LOG_FORMAT", "pretty")
        .current_dir(std::env::temp_dir())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"First-pass-2026").unwrap();
    }
    let output = child.wait_with_output().unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{all}");
    assert!(all.contains("ops.admin: created administrator"), "{all}");
    assert!(!all.contains("THIDUA_JWT_PRIVATE_KEY_FILE"), "{all}");
    assert!(
        !all.contains('\u{1b}'),
        "no colour codes into a pipe: {all}"
    );
}

/// Every checkout of the same migrations shares one template database (its name no longer
/// follows the checkout's path), and a template no run has used for hours is dropped by the
/// next run instead of being left behind for ever.
#[tokio::test]
async fn the_test_template_is_shared_by_checkouts_and_a_stale_one_is_dropped() {
    use crate::helpers::db;

    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let copy = std::env::temp_dir().join(format!("thidua-checkout-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(copy.join("src/db")).unwrap();
    std::fs::copy(
        root.join("src/db/replaceable.sql"),
        copy.join("src/db/replaceable.sql"),
    )
    .unwrap();
    let status = std::process::Command::new("cp")
        .arg("-r")
        .arg(root.join("migrations"))
        .arg(copy.join("migrations"))
        .status()
        .unwrap();
    assert!(status.success());
    let ours = db::template_name_of(root);
    assert_eq!(db::template_name_of(&copy), ours);
    std::fs::remove_dir_all(&copy).unwrap();

    let client = db::maintenance().await;
    let stale = format!(
        "thidua_template_stale{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let recent = format!(
        "thidua_template_recent{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    for name in [&stale, &recent] {
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
    }
    let long_ago = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 2 * db::STALE_AFTER_SECS as u64;
    client
        .batch_execute(&format!(
            "COMMENT ON DATABASE {stale} IS 'thidua test template, last used {long_ago}'"
        ))
        .await
        .unwrap();
    db::mark_template_used(&client, &recent).await;
    let dropped = db::drop_stale_templates(&client, &ours).await;
    let exists = |name: String| {
        let client = &client;
        async move {
            client
                .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
                .await
                .unwrap()
                .is_some()
        }
    };
    let (stale_left, recent_left) = (exists(stale.clone()).await, exists(recent.clone()).await);
    client
        .batch_execute(&format!("DROP DATABASE IF EXISTS {recent}"))
        .await
        .unwrap();
    // (Another test process starting meanwhile may be the one that dropped it.)
    assert!(
        !stale_left,
        "a template unused for hours is dropped: {dropped:?}"
    );
    assert!(recent_left, "a template used lately is kept");
    assert!(exists(ours).await, "the run's own template is kept");
}
