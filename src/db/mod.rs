//! Database access: the async connection pool, embedded migrations, database creation and the
//! generated diesel schema.
//!
//! Connections come from a deadpool of diesel-async connections recycled without a test query
//! (BENCHMARKS.md: a `SELECT 1` per checkout costs a third of the throughput); every connection
//! runs under a statement timeout so no query holds a worker for long.

pub mod schema;

use std::time::Duration;

use anyhow::Context;
use diesel::prelude::*;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use futures_util::FutureExt;

use crate::config::Settings;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

pub type DbPool = Pool<AsyncPgConnection>;
pub type DbConn = Object<AsyncPgConnection>;
pub type PoolError = diesel_async::pooled_connection::deadpool::PoolError;

/// The pools the service reads and writes through.
#[derive(Clone)]
pub struct Databases {
    /// The primary: every write and every read that must see its own writes.
    pub primary: DbPool,
    /// A streaming replica for read-only list and aggregate traffic, or the primary again.
    pub replica: DbPool,
}

impl Databases {
    pub fn connect(settings: &Settings) -> anyhow::Result<Self> {
        let primary = build_pool(&settings.database_url, settings)?;
        let replica = match &settings.database_replica_url {
            Some(url) => build_pool(url, settings)?,
            None => primary.clone(),
        };
        Ok(Self { primary, replica })
    }

    pub async fn write(&self) -> Result<DbConn, PoolError> {
        self.primary.get().await
    }

    /// Lists and aggregates: may lag the primary by the replica's replay delay.
    pub async fn read(&self) -> Result<DbConn, PoolError> {
        self.replica.get().await
    }

    /// Reads of one resource, which must see the caller's own writes (a client follows
    /// `Location` or retries with `If-Match` right after a write): always the primary.
    pub async fn read_own_writes(&self) -> Result<DbConn, PoolError> {
        self.primary.get().await
    }
}

/// A pool whose connections set `statement_timeout` once, when they are opened, and turn JIT
/// off: it compiles a subtree aggregate for tens of milliseconds before running it for one.
pub fn build_pool(url: &str, settings: &Settings) -> anyhow::Result<DbPool> {
    let timeout_ms = settings.db_statement_timeout.as_millis();
    let mut config = ManagerConfig::default();
    config.recycling_method = RecyclingMethod::Fast;
    config.custom_setup = Box::new(move |url| {
        let url = url.to_owned();
        async move {
            let mut connection = AsyncPgConnection::establish(&url).await?;
            connection
                .batch_execute(&format!(
                    "SET statement_timeout = {timeout_ms}; SET lock_timeout = {timeout_ms}; \
                     SET idle_in_transaction_session_timeout = {}; SET jit = off",
                    timeout_ms * 2
                ))
                .await
                .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
            Ok(connection)
        }
        .boxed()
    });
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(url, config);
    Pool::builder(manager)
        .max_size(settings.db_pool_size)
        .wait_timeout(Some(settings.db_acquire_timeout))
        .create_timeout(Some(settings.db_acquire_timeout))
        .recycle_timeout(Some(Duration::from_secs(1)))
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .context("building the database pool")
}

/// Creates the database named in `url` when it does not exist yet.
pub async fn create_database_if_missing(url: &str) -> anyhow::Result<()> {
    let parsed = url::Url::parse(url).context("DATABASE_URL is not a URL")?;
    let name = parsed.path().trim_start_matches('/').to_owned();
    anyhow::ensure!(!name.is_empty(), "DATABASE_URL names no database");
    let mut maintenance = parsed.clone();
    maintenance.set_path("/postgres");
    let (client, connection) = tokio::time::timeout(
        Duration::from_secs(5),
        tokio_postgres::connect(maintenance.as_str(), tokio_postgres::NoTls),
    )
    .await
    .map_err(|_| unreachable_database(url, "timed out"))?
    .map_err(|error| unreachable_database(url, &error.to_string()))?;
    let driver = tokio::spawn(connection);
    let exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await?
        .is_some();
    if !exists {
        let quoted = name.replace('"', "\"\"");
        match client
            .batch_execute(&format!("CREATE DATABASE \"{quoted}\""))
            .await
        {
            Ok(()) => tracing::info!(database = %name, "created the database"),
            // Another instance created it in between.
            Err(error)
                if error.code() == Some(&tokio_postgres::error::SqlState::DUPLICATE_DATABASE) => {}
            Err(error) => return Err(error).context("creating the database"),
        }
    }
    drop(client);
    driver.abort();
    Ok(())
}

fn unreachable_database(url: &str, cause: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "cannot reach PostgreSQL at {} ({cause}).\n\
         Start one, for example `docker compose -f docker/compose.yaml up -d postgres`, \
         or set DATABASE_URL to a running server.",
        redact_password(url)
    )
}

/// The URL without its password, for messages and logs.
pub fn redact_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

/// Applies the embedded migrations that are not applied yet.
pub async fn run_migrations(url: &str) -> anyhow::Result<Vec<String>> {
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<String>> {
        let mut connection =
            <AsyncConnectionWrapper<AsyncPgConnection> as diesel::Connection>::establish(&url)
                .map_err(|error| unreachable_database(&url, &error.to_string()))?;
        // Two instances starting together must not apply the same migration twice.
        diesel::RunQueryDsl::execute(
            diesel::sql_query("SELECT pg_advisory_lock(7346201)"),
            &mut connection,
        )?;
        let applied = connection
            .run_pending_migrations(MIGRATIONS)
            .map(|versions| {
                versions
                    .into_iter()
                    .map(|version| version.to_string())
                    .collect::<Vec<_>>()
            })
            .map_err(|error| anyhow::anyhow!("applying migrations: {error}"));
        diesel::RunQueryDsl::execute(
            diesel::sql_query("SELECT pg_advisory_unlock(7346201)"),
            &mut connection,
        )?;
        applied
    })
    .await
    .context("the migration task panicked")?
}

/// The newest migration version embedded in this binary, as diesel records it.
pub fn latest_migration_version() -> Option<String> {
    use diesel::migration::MigrationSource;
    let migrations: Vec<Box<dyn diesel::migration::Migration<diesel::pg::Pg>>> =
        MigrationSource::<diesel::pg::Pg>::migrations(&MIGRATIONS).ok()?;
    migrations
        .iter()
        .map(|migration| migration.name().version().to_string())
        .max()
}

#[derive(QueryableByName)]
struct AppliedVersion {
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    version: Option<String>,
}

/// The newest migration applied to the connected database.
pub async fn applied_migration_version(
    conn: &mut AsyncPgConnection,
) -> QueryResult<Option<String>> {
    let row: AppliedVersion =
        diesel::sql_query("SELECT max(version) AS version FROM __diesel_schema_migrations")
            .get_result(conn)
            .await?;
    Ok(row.version)
}
