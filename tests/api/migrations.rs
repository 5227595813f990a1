//! Every migration's down.sql undoes its up.sql exactly: for each migration in order, the
//! schema (`pg_dump --schema-only` of a scratch database) before it is applied equals the
//! schema after it is applied and reverted; it is then applied again and the next one checked.
//! Migrations run here without the replaceable schema `r`, as the migrator runs them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use diesel::migration::{Migration, MigrationSource};
use diesel::pg::Pg;
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_migrations::{FileBasedMigrations, MigrationHarness};

use crate::helpers::db::TestDb;

type SyncConnection = AsyncConnectionWrapper<AsyncPgConnection>;

/// The schema of the database at `url` as pg_dump prints it.
fn schema_dump(url: &str) -> String {
    let output = std::process::Command::new("pg_dump")
        .args([
            "--schema-only",
            "--no-owner",
            "--no-privileges",
            "--dbname",
            url,
        ])
        .output()
        .expect("pg_dump (PostgreSQL 15 client) is installed");
    assert!(
        output.status.success(),
        "pg_dump failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("pg_dump prints UTF-8")
        .lines()
        // pg_dump 15.14 and later fence the script with a random `\restrict` key.
        .filter(|line| !line.starts_with("\\restrict") && !line.starts_with("\\unrestrict"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The lines one dump has and the other lacks, for the failure message.
fn difference(before: &str, after: &str) -> String {
    let before_lines: BTreeSet<&str> = before.lines().collect();
    let after_lines: BTreeSet<&str> = after.lines().collect();
    let lost: Vec<_> = before_lines.difference(&after_lines).take(20).collect();
    let gained: Vec<_> = after_lines.difference(&before_lines).take(20).collect();
    format!("lost: {lost:#?}\ngained: {gained:#?}")
}

/// Applies every migration of `source` to the empty database at `url`, checking each round
/// trip; the first migration whose revert does not restore the schema is the error.
fn check_round_trips(url: &str, source: impl MigrationSource<Pg>) -> Result<usize, String> {
    let mut conn = <SyncConnection as diesel::Connection>::establish(url)
        .map_err(|error| format!("connect: {error}"))?;
    let mut migrations = source
        .migrations()
        .map_err(|error| format!("list migrations: {error}"))?;
    migrations.sort_by_key(|migration| migration.name().version().to_string());
    assert!(!migrations.is_empty(), "no migration found");
    // diesel's bookkeeping table, created before the first dump so it is in every one.
    conn.applied_migrations()
        .map_err(|error| format!("set up diesel's table: {error}"))?;
    for migration in &migrations {
        let name = migration.name().to_string();
        let before = schema_dump(url);
        conn.run_migration(migration)
            .map_err(|error| format!("{name}: up.sql failed: {error}"))?;
        conn.revert_migration(migration)
            .map_err(|error| format!("{name}: down.sql failed: {error}"))?;
        let after = schema_dump(url);
        if before != after {
            return Err(format!(
                "{name}: the schema after up.sql then down.sql differs from the one before\n{}",
                difference(&before, &after)
            ));
        }
        conn.run_migration(migration)
            .map_err(|error| format!("{name}: up.sql failed after its down.sql: {error}"))?;
    }
    Ok(migrations.len())
}

fn migrations_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations")
}

/// A copy of migrations/ in a fresh temporary directory, removed by the caller.
fn copy_of_migrations() -> PathBuf {
    let target = std::env::temp_dir().join(format!("thidua-migrations-{}", uuid::Uuid::new_v4()));
    for entry in std::fs::read_dir(migrations_dir()).unwrap() {
        let entry = entry.unwrap();
        if !entry.path().is_dir() {
            continue;
        }
        let into = target.join(entry.file_name());
        std::fs::create_dir_all(&into).unwrap();
        for file in std::fs::read_dir(entry.path()).unwrap() {
            let file = file.unwrap();
            std::fs::copy(file.path(), into.join(file.file_name())).unwrap();
        }
    }
    target
}

#[tokio::test]
async fn every_down_sql_restores_the_schema_its_up_sql_found() {
    let db = TestDb::empty().await;
    let url = db.url.clone();

    let checked = tokio::task::spawn_blocking(move || {
        check_round_trips(
            &url,
            FileBasedMigrations::from_path(migrations_dir()).unwrap(),
        )
    })
    .await
    .unwrap();

    let checked = checked.unwrap_or_else(|failure| panic!("{failure}"));
    assert!(checked >= 6, "{checked} migrations checked");
}

/// The migration that moved the SQL into the replaceable schema also reverts on a database the
/// migrator finished, with every later migration reverted first (its down.sql drops `r`
/// first, whose triggers share names with the old ones).
#[tokio::test]
async fn the_replaceable_schema_migration_reverts_over_the_replaceable_schema() {
    // Diesel names versions by the digits of the folder's date prefix.
    const REPLACEABLE: &str = "20261201000020";
    let db = TestDb::empty().await;
    thidua::db::run_migrations(&db.url).await.unwrap();
    let url = db.url.clone();

    let reverted = tokio::task::spawn_blocking(move || {
        let mut conn = <SyncConnection as diesel::Connection>::establish(&url).unwrap();
        let mut reverted = Vec::new();
        loop {
            let version = conn
                .revert_last_migration(thidua::db::MIGRATIONS)
                .map(|version| version.to_string())
                .map_err(|error| error.to_string())?;
            let digits: String = version.chars().filter(char::is_ascii_digit).collect();
            let done = digits.as_str() <= REPLACEABLE;
            reverted.push(version);
            if done {
                return Ok::<_, String>(reverted);
            }
        }
    })
    .await
    .unwrap();

    let reverted = reverted.unwrap_or_else(|error| panic!("revert failed: {error}"));
    assert_eq!(
        reverted.first().cloned(),
        thidua::db::latest_migration_version()
    );
    assert!(
        reverted.last().is_some_and(|version| {
            version
                .chars()
                .filter(char::is_ascii_digit)
                .collect::<String>()
                == REPLACEABLE
        }),
        "{reverted:?}"
    );
    assert_eq!(
        db.count("SELECT count(*) FROM pg_namespace WHERE nspname = 'r'")
            .await,
        0
    );
}

/// The round trip is a real check: a down.sql that forgets to undo one statement fails it.
#[tokio::test]
async fn a_down_sql_that_forgets_a_statement_fails_the_round_trip() {
    let db = TestDb::empty().await;
    let copy = copy_of_migrations();
    let broken = copy.join("2026-11-27-000004_tallies/down.sql");
    let text = std::fs::read_to_string(&broken).unwrap();
    let forgotten =
        "CREATE INDEX pledges_organization_idx ON pledges (organization_id, campaign_id, year);\n";
    assert!(
        text.contains(forgotten),
        "000004's down.sql restores the index"
    );
    std::fs::write(&broken, text.replace(forgotten, "")).unwrap();
    let url = db.url.clone();
    let source = FileBasedMigrations::from_path(&copy).unwrap();

    let checked = tokio::task::spawn_blocking(move || check_round_trips(&url, source))
        .await
        .unwrap();

    std::fs::remove_dir_all(&copy).unwrap();
    let failure = checked.expect_err("the broken down.sql is caught");
    assert!(
        failure.starts_with("2026-11-27-000004_tallies: the schema after"),
        "{failure}"
    );
    assert!(failure.contains("pledges_organization_idx"), "{failure}");
}
