//! Database access: the async connection pool, embedded migrations, the replaceable schema of
//! SQL functions and triggers (`replaceable.sql`), database creation and the generated diesel
//! schema.
//!
//! Connections come from a deadpool of diesel-async connections recycled without a test query
//! (docs/benchmarking.md: a `SELECT 1` per checkout costs a third of the throughput); every connection
//! runs under a statement timeout so no query holds a worker for long.

pub mod schema;

/// Writes a repo's `find` (the row with this id, if any) and `find_for_update` (the same, locked
/// for the rest of the transaction) for a table keyed by a uuid `id` and its selectable row.
macro_rules! row_by_id {
    ($table:ident, $row:ident) => {
        /// The row with this id, if any.
        pub async fn find(
            conn: &mut diesel_async::AsyncPgConnection,
            id: uuid::Uuid,
        ) -> diesel::QueryResult<Option<$row>> {
            use diesel::prelude::*;
            use diesel_async::RunQueryDsl;
            $table::table
                .find(id)
                .select($row::as_select())
                .first(conn)
                .await
                .optional()
        }

        /// The row with this id, if any, locked for the rest of the transaction (serializes
        /// the writes to it).
        pub async fn find_for_update(
            conn: &mut diesel_async::AsyncPgConnection,
            id: uuid::Uuid,
        ) -> diesel::QueryResult<Option<$row>> {
            use diesel::prelude::*;
            use diesel_async::RunQueryDsl;
            $table::table
                .find(id)
                .select($row::as_select())
                .for_update()
                .first(conn)
                .await
                .optional()
        }
    };
}
pub(crate) use row_by_id;

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
    .map_err(|_| connection_failure(url, "timed out", false))?
    .map_err(|error| match error.as_db_error() {
        Some(refusal) => connection_failure(url, refusal.message(), true),
        None => connection_failure(url, &error.to_string(), false),
    })?;
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

/// What to tell the operator when no connection could be opened. A server that answered
/// (`answered`: it refused the role, the password or the database) is running, so starting
/// one would not help: the message points at DATABASE_URL's credentials instead.
pub fn connection_failure(url: &str, cause: &str, answered: bool) -> anyhow::Error {
    let url = redact_password(url);
    if answered {
        anyhow::anyhow!(
            "PostgreSQL at {url} refused the connection: {cause}.\n\
             The server is running; check the user, password and database in DATABASE_URL \
             (the user must exist, e.g. `createuser --createdb NAME`, and may create databases)."
        )
    } else {
        anyhow::anyhow!(
            "cannot reach PostgreSQL at {url} ({cause}).\n\
             Start one, for example `docker compose -f docker/compose.yaml up -d postgres`, \
             or set DATABASE_URL to a running server."
        )
    }
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

/// The current definition of every SQL function and trigger (schema `r`): see the comment at
/// the top of the file for what lives there and why.
pub const REPLACEABLE_SCHEMA: &str = include_str!("replaceable.sql");

/// The key of both the migrations and the replaceable schema: instances starting together
/// take turns, and the second finds everything done.
const MIGRATION_LOCK: i64 = 7346201;

/// Applies the embedded migrations that are not applied yet, then (re)creates the replaceable
/// schema from [`REPLACEABLE_SCHEMA`] if needed; returns the versions applied.
pub async fn run_migrations(url: &str) -> anyhow::Result<Vec<String>> {
    migrate_with(url, REPLACEABLE_SCHEMA).await
}

/// [`run_migrations`] with another replaceable schema (tests give it a broken one).
///
/// When no migration is pending and schema `r` carries the hash of `replaceable`, nothing is
/// done: instances of a rolling deploy starting one after another do not recreate it each.
/// Otherwise, in one transaction: drop `r` with CASCADE (its triggers go with it), apply the
/// pending migrations (so they never meet a trigger of `r` on a column they alter), run
/// `replaceable`, store its hash as the schema's comment. Callers, old instances included,
/// see the old definitions or the new ones, and no write slips between a dropped trigger and
/// its replacement untallied; a failure leaves everything as it was. A migration that cannot
/// run in a transaction (diesel's `run_in_transaction = false`) is applied outside one, so
/// the pending set is then applied step by step. A binary older than the database (it does
/// not know its newest applied migration, say an old instance restarting during a rolling
/// deploy) leaves `r` alone rather than put older definitions back.
pub async fn migrate_with(url: &str, replaceable: &str) -> anyhow::Result<Vec<String>> {
    let url = url.to_owned();
    let replaceable = replaceable.to_owned();
    tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<String>> {
        let mut connection =
            <AsyncConnectionWrapper<AsyncPgConnection> as diesel::Connection>::establish(&url)
                .map_err(|error| match &error {
                    // diesel-async reports a server's refusal as the server's own error, and a
                    // failure to talk to any server as "unable to send command".
                    diesel::ConnectionError::CouldntSetupConfiguration(
                        diesel::result::Error::DatabaseError(kind, refusal),
                    ) if !matches!(
                        kind,
                        diesel::result::DatabaseErrorKind::UnableToSendCommand
                    ) =>
                    {
                        connection_failure(&url, refusal.message(), true)
                    }
                    _ => connection_failure(&url, &error.to_string(), false),
                })?;
        // Two instances starting together must not apply the same migration twice.
        diesel::RunQueryDsl::execute(
            diesel::sql_query("SELECT pg_advisory_lock($1)")
                .bind::<diesel::sql_types::BigInt, _>(MIGRATION_LOCK),
            &mut connection,
        )?;
        let applied = migrate_locked(&mut connection, &replaceable).and_then(|applied| {
            fill_name_keys(&mut connection)?;
            crate::titles::shipped::load(&mut connection)?;
            Ok(applied)
        });
        diesel::RunQueryDsl::execute(
            diesel::sql_query("SELECT pg_advisory_unlock($1)")
                .bind::<diesel::sql_types::BigInt, _>(MIGRATION_LOCK),
            &mut connection,
        )?;
        applied
    })
    .await
    .context("the migration task panicked")?
}

type SyncConnection = AsyncConnectionWrapper<AsyncPgConnection>;

/// The comment of schema `r` naming the file it was created from.
pub fn replaceable_schema_stamp(replaceable: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(replaceable.as_bytes());
    let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("sha256:{hex}")
}

#[derive(QueryableByName)]
struct SchemaState {
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    stamp: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    newest_applied: Option<String>,
}

fn migrate_locked(
    connection: &mut SyncConnection,
    replaceable: &str,
) -> anyhow::Result<Vec<String>> {
    use diesel::connection::SimpleConnection;

    let pending = connection
        .pending_migrations(MIGRATIONS)
        .map_err(|error| anyhow::anyhow!("listing pending migrations: {error}"))?;
    let stamp = replaceable_schema_stamp(replaceable);
    let state: SchemaState = diesel::RunQueryDsl::get_result(
        diesel::sql_query(
            "SELECT (SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace \
                     WHERE nspname = 'r') AS stamp, \
                    (SELECT max(version) FROM __diesel_schema_migrations) AS newest_applied",
        ),
        connection,
    )?;
    if pending.is_empty() && state.stamp.as_deref() == Some(stamp.as_str()) {
        return Ok(Vec::new());
    }
    let newer_database = match (&state.newest_applied, latest_migration_version()) {
        (Some(applied), Some(known)) => *applied > known,
        _ => false,
    };
    if pending.is_empty() && newer_database {
        tracing::warn!(
            "the database has migrations this binary does not know: \
             its replaceable schema is left as the newer binary created it"
        );
        return Ok(Vec::new());
    }
    let apply = |connection: &mut SyncConnection| -> anyhow::Result<Vec<String>> {
        SimpleConnection::batch_execute(connection, "DROP SCHEMA IF EXISTS r CASCADE")?;
        let mut applied = Vec::with_capacity(pending.len());
        for migration in &pending {
            let version = connection.run_migration(migration).map_err(|error| {
                anyhow::anyhow!("applying migration {}: {error}", migration.name())
            })?;
            applied.push(version.to_string());
        }
        SimpleConnection::batch_execute(connection, replaceable)
            .context("creating the replaceable schema (src/db/replaceable.sql)")?;
        SimpleConnection::batch_execute(connection, &format!("COMMENT ON SCHEMA r IS '{stamp}'"))?;
        Ok(applied)
    };
    if pending
        .iter()
        .all(|migration| migration.metadata().run_in_transaction())
    {
        diesel::Connection::transaction(connection, apply)
    } else {
        apply(connection)
    }
}

#[derive(QueryableByName)]
struct UnkeyedName {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    id: uuid::Uuid,
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
}

/// Fills `organizations.name_key` where it is missing (rows written before the column, or by
/// `thidua generate`), with `crate::text::comparison_key` — Rust, not SQL, so the rule has one
/// implementation. A unit whose name an active sibling already holds keeps no key and is
/// reported: rename it, and its key is written with the new name.
fn fill_name_keys(
    connection: &mut AsyncConnectionWrapper<AsyncPgConnection>,
) -> anyhow::Result<()> {
    use diesel::sql_types::{Text, Uuid as SqlUuid};
    let rows: Vec<UnkeyedName> = diesel::RunQueryDsl::load(
        diesel::sql_query("SELECT id, name FROM organizations WHERE name_key IS NULL ORDER BY seq"),
        connection,
    )?;
    for row in rows {
        let filled = diesel::RunQueryDsl::execute(
            diesel::sql_query("UPDATE organizations SET name_key = $2 WHERE id = $1")
                .bind::<SqlUuid, _>(row.id)
                .bind::<Text, _>(crate::text::comparison_key(&row.name)),
            connection,
        );
        if let Err(error) = filled {
            tracing::warn!(organization = %row.id, name = %row.name, %error,
                "an active sibling unit has the same name; rename one of them");
        }
    }
    Ok(())
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
