//! A database per test, cloned from a migrated template and dropped afterwards.

use std::sync::OnceLock;

use sha2::{Digest, Sha256};
use tokio_postgres::NoTls;

/// Maintenance connection URL (any database of the server; `postgres` by default).
pub fn server_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

fn url_for(database: &str) -> String {
    let mut url = url::Url::parse(&server_url()).expect("TEST_DATABASE_URL is a URL");
    url.set_path(&format!("/{database}"));
    url.to_string()
}

/// The template's name changes whenever a migration or the replaceable schema changes, so a
/// stale one is never used; it does not depend on where the checkout is, so every checkout of
/// the same migrations shares one template (see [`drop_stale_templates`] for the others).
fn template_name() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| template_name_of(std::path::Path::new(env!("CARGO_MANIFEST_DIR"))))
}

/// The template name of the checkout at `root`: a hash of the migrations and the replaceable
/// schema, their paths taken relative to `root`.
pub fn template_name_of(root: &std::path::Path) -> String {
    let mut hasher = Sha256::new();
    let mut entries: Vec<_> = walk(&root.join("migrations"));
    entries.push(root.join("src/db/replaceable.sql"));
    entries.sort();
    for path in entries {
        let relative = path.strip_prefix(root).unwrap_or(&path);
        hasher.update(relative.to_string_lossy().as_bytes());
        hasher.update(std::fs::read(&path).unwrap_or_default());
    }
    let digest = hasher.finalize();
    format!(
        "{TEMPLATE_PREFIX}{}",
        digest
            .iter()
            .take(6)
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}

const TEMPLATE_PREFIX: &str = "thidua_template_";

/// A template no run has used for this long is dropped by the next run. No run lasts that
/// long, so a template is never dropped under a run (in this checkout or another) using it.
pub const STALE_AFTER_SECS: i64 = 6 * 3600;

/// Drops every `thidua_template_*` database but `keep` that no test run has used for
/// [`STALE_AFTER_SECS`]: the templates of migrations since changed, and those of checkouts
/// since deleted. A run marks its template used (its comment) when it starts; a template
/// without that mark (made before it existed) counts from its creation. The test harness has
/// no "end of run" to drop a template at, and another run may still be using it then: the next
/// run cleans up instead, so at most one template per set of migrations in use remains.
pub async fn drop_stale_templates(client: &tokio_postgres::Client, keep: &str) -> Vec<String> {
    let rows = client
        .query(
            "SELECT datname, \
                    coalesce(substring(shobj_description(oid, 'pg_database') \
                                       FROM '^thidua test template, last used (\\d+)$')::bigint, \
                             extract(epoch FROM (pg_stat_file('base/' || oid || '/PG_VERSION')).modification)::bigint) \
               FROM pg_database WHERE starts_with(datname, $1) AND datname <> $2",
            &[&TEMPLATE_PREFIX, &keep],
        )
        .await;
    // pg_stat_file needs a superuser (or pg_read_server_files): without it nothing is dropped.
    let Ok(rows) = rows else {
        return Vec::new();
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() as i64);
    let mut dropped = Vec::new();
    for row in rows {
        let name: String = row.get(0);
        let used: Option<i64> = row.get(1);
        if used.is_some_and(|used| now - used < STALE_AFTER_SECS) {
            continue;
        }
        let _ = client
            .batch_execute(&format!("ALTER DATABASE \"{name}\" WITH IS_TEMPLATE false"))
            .await;
        // Without FORCE: a database someone is connected to is left for a later run.
        if client
            .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\""))
            .await
            .is_ok()
        {
            dropped.push(name);
        }
    }
    dropped
}

/// Marks `name` as used now (see [`drop_stale_templates`]).
pub async fn mark_template_used(client: &tokio_postgres::Client, name: &str) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    client
        .batch_execute(&format!(
            "COMMENT ON DATABASE {name} IS 'thidua test template, last used {now}'"
        ))
        .await
        .expect("mark template used");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                files.extend(walk(&path));
            } else {
                files.push(path);
            }
        }
    }
    files
}

pub async fn maintenance() -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&server_url(), NoTls)
        .await
        .expect("PostgreSQL is reachable at TEST_DATABASE_URL (start it with scripts/test)");
    tokio::spawn(connection);
    client
}

async fn ensure_template() {
    let client = maintenance().await;
    // Serializes template creation across test threads and processes.
    client
        .execute("SELECT pg_advisory_lock(88120431)", &[])
        .await
        .expect("lock");
    let name = template_name();
    let exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await
        .expect("query")
        .is_some();
    if !exists {
        let building = format!("{name}_building");
        client
            .batch_execute(&format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)"))
            .await
            .expect("drop stale template");
        client
            .batch_execute(&format!("CREATE DATABASE {building}"))
            .await
            .expect("create template");
        thidua::db::run_migrations(&url_for(&building))
            .await
            .expect("migrate template");
        client
            .batch_execute(&format!("ALTER DATABASE {building} RENAME TO {name}"))
            .await
            .expect("rename template");
        client
            .batch_execute(&format!("ALTER DATABASE {name} WITH IS_TEMPLATE true"))
            .await
            .expect("mark template");
    }
    mark_template_used(&client, name).await;
    drop_stale_templates(&client, name).await;
    client
        .execute("SELECT pg_advisory_unlock(88120431)", &[])
        .await
        .expect("unlock");
}

/// A fresh, migrated database for one test; dropped when this value is dropped.
pub struct TestDb {
    pub name: String,
    pub url: String,
    /// Whether dropping this value drops the database (false for [`TestDb::attach`]).
    owned: bool,
}

impl TestDb {
    pub async fn new() -> Self {
        static TEMPLATE: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
        TEMPLATE.get_or_init(ensure_template).await;
        let name = format!("thidua_test_{}", uuid::Uuid::new_v4().simple());
        let client = maintenance().await;
        // CREATE DATABASE … TEMPLATE fails while another session is connected to the template
        // (another test cloning it at the same instant): retry briefly.
        let mut attempt = 0;
        loop {
            match client
                .batch_execute(&format!(
                    "CREATE DATABASE {name} TEMPLATE {}",
                    template_name()
                ))
                .await
            {
                Ok(()) => break,
                Err(error) if attempt < 50 => {
                    attempt += 1;
                    let _ = error;
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                Err(error) => panic!("cannot create test database: {error}"),
            }
        }
        Self {
            url: url_for(&name),
            name,
            owned: true,
        }
    }

    /// An empty database (no migration applied), dropped when this value is dropped.
    pub async fn empty() -> Self {
        let name = format!("thidua_test_{}", uuid::Uuid::new_v4().simple());
        maintenance()
            .await
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create an empty database");
        Self {
            url: url_for(&name),
            name,
            owned: true,
        }
    }

    /// The database of another `TestDb`, not dropped by this value (a second app instance on
    /// the same database).
    pub fn attach(other: &TestDb) -> Self {
        Self {
            name: other.name.clone(),
            url: other.url.clone(),
            owned: false,
        }
    }

    /// A plain connection to this test's database, for arranging and asserting.
    pub async fn client(&self) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(&self.url, NoTls)
            .await
            .expect("connect");
        tokio::spawn(connection);
        client
    }

    /// Runs `sql` (one or more statements, no parameters) for arranging a test; panics when it
    /// fails.
    pub async fn execute_sql(&self, sql: &str) {
        let client = self.client().await;
        client.batch_execute(sql).await.expect(sql);
    }

    /// The number of rows `from` (a table or join, with a `WHERE` clause when given) holds.
    pub async fn rows(&self, from: &str) -> i64 {
        self.count(&format!("SELECT count(*) FROM {from}")).await
    }

    /// Runs `sql` and returns the first column of every row, as text, in the order returned.
    pub async fn texts(&self, sql: &str) -> Vec<String> {
        let client = self.client().await;
        client
            .query(sql, &[])
            .await
            .expect(sql)
            .iter()
            .map(|row| row.get(0))
            .collect()
    }

    /// Runs `sql` and returns the first column of the first row as i64.
    pub async fn count(&self, sql: &str) -> i64 {
        let client = self.client().await;
        client.query_one(sql, &[]).await.expect(sql).get(0)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if !self.owned {
            return;
        }
        let name = self.name.clone();
        // Drop needs its own runtime: the test's may already be shutting down.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(runtime) = runtime {
                runtime.block_on(async move {
                    if let Ok((client, connection)) =
                        tokio_postgres::connect(&server_url(), NoTls).await
                    {
                        tokio::spawn(connection);
                        let _ = client
                            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                            .await;
                    }
                });
            }
        })
        .join();
    }
}
