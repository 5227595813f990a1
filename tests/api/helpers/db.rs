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
/// stale one is never used.
fn template_name() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        let mut hasher = Sha256::new();
        let mut entries: Vec<_> = walk(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/migrations"
        )));
        entries.push(std::path::PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src/db/replaceable.sql"
        )));
        entries.sort();
        for path in entries {
            hasher.update(path.to_string_lossy().as_bytes());
            hasher.update(std::fs::read(&path).unwrap_or_default());
        }
        let digest = hasher.finalize();
        format!(
            "thidua_template_{}",
            digest
                .iter()
                .take(6)
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        )
    })
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

async fn maintenance() -> tokio_postgres::Client {
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
