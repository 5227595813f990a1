//! The `thidua` command line: serve, migrate, bootstrap the first admin, demo data, the spec.

use std::io::{Read, Write};

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::config::Settings;

#[derive(Debug, Parser)]
#[command(
    name = "thidua",
    version,
    about = "Emulation movements (phong trào thi đua) over HTTP/JSON",
    after_help = "Configuration comes from the environment: DATABASE_URL (default \
                  postgres://postgres@127.0.0.1:5432/thidua), THIDUA_* and RUST_LOG, listed with \
                  their defaults in .env.example and the README. A .env file in the working \
                  directory is read first; variables already set win over it."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the database if missing, apply migrations and serve HTTP.
    Serve {
        /// Address to listen on (overrides THIDUA_BIND).
        #[arg(long)]
        bind: Option<String>,
        /// Load the demonstration data first: Ba Tri in 2022, the reform of 1/7/2025, 2026 (development only).
        #[arg(long)]
        demo: bool,
    },
    /// Create the database if missing and apply pending migrations.
    Migrate,
    /// Create an administrator (the tree's root too, when it is empty).
    CreateAdmin {
        #[arg(long)]
        username: String,
        /// Read the password from standard input (it never appears in the process list).
        #[arg(long, required = true)]
        password_stdin: bool,
        /// The user exists: set its password (and end its sessions), leave its roles alone.
        #[arg(long)]
        reset_password: bool,
    },
    /// Load the demonstration data: Ba Tri in 2022, the reform of 1/7/2025, 2026 (idempotent; development only).
    SeedDemo,
    /// Print the OpenAPI 3.1 document.
    Openapi,
    /// Apply the 1/7/2025 administrative reform from data/vn-admin-2025 (one restructuring per
    /// new province): create the new provinces and communes, merge the current units found by
    /// old code into them, dissolve the old districts. Provinces imported before are skipped.
    ImportUnits {
        /// The new → old mapping (merges.json of data/vn-admin-2025).
        #[arg(long, default_value = "data/vn-admin-2025/merges.json")]
        merges: std::path::PathBuf,
        /// Only this new province, by its 2025 code (e.g. 86, Tỉnh Vĩnh Long).
        #[arg(long)]
        province: Option<String>,
        /// Print what would happen and write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Recompute every tally (the counts behind /stats) from the rows themselves and empty the
    /// queue of changes not yet counted: a repair. Writers wait until it ends (about 2.5 minutes
    /// at 1M pledges).
    RebuildTallies,
    /// Fill the database with a deterministic benchmark data set (resumable; development only).
    Generate {
        /// Organizations in all, on the real 2025 structure: a root, the first provinces of the
        /// data that fit (all 34 from 6,677 on), their real communes and wards, and hamlets and
        /// party cells below the communes for the rest.
        #[arg(long)]
        organizations: u32,
        /// Only the first this many of the 34 provinces (default: as many as fit).
        #[arg(long)]
        provinces: Option<u32>,
        /// The real 2025 structure (merges.json of data/vn-admin-2025).
        #[arg(long, default_value = "data/vn-admin-2025/merges.json")]
        merges: std::path::PathBuf,
        /// Pledges over 2020–2025.
        #[arg(long)]
        pledges: u64,
        /// Nominations (skipped when the nominations table does not exist).
        #[arg(long, default_value_t = 0)]
        nominations: u64,
        /// Persons in the units below the root, with their 2025 record, title registrations
        /// and the awards of the two years before (for the persons and candidates lists).
        #[arg(long, default_value_t = 0)]
        persons: u64,
        /// Same seed, same data.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Connections loading chunks of rows side by side (default: one per CPU).
        #[arg(long)]
        jobs: Option<usize>,
    },
}

/// Runs one command to completion.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::Openapi = cli.command {
        // `thidua openapi | head` closes the pipe early: that is the reader's choice, not an error.
        return match std::io::stdout()
            .lock()
            .write_all(crate::openapi::document_json().as_bytes())
        {
            Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            written => written.context("writing the document to standard output"),
        };
    }
    let mut settings = Settings::from_env()?;
    if let Command::Serve {
        bind: Some(bind), ..
    } = &cli.command
    {
        crate::config::check_bind(bind).map_err(|error| anyhow::anyhow!("--bind {error}"))?;
    }
    let _log_guard = crate::telemetry::init(settings.log_format, settings.log_filter.as_deref());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    match cli.command {
        Command::Serve { bind, demo } => {
            if let Some(bind) = bind {
                settings.bind = bind;
            }
            // actix runs its own system per worker; the runtime drives start-up and the server.
            actix_web::rt::System::new().block_on(crate::startup::serve(settings, demo))
        }
        Command::Migrate => runtime.block_on(async {
            crate::db::create_database_if_missing(&settings.database_url).await?;
            let applied = crate::db::run_migrations(&settings.database_url).await?;
            println!("applied {} migration(s)", applied.len());
            Ok(())
        }),
        Command::CreateAdmin {
            username,
            reset_password,
            ..
        } => {
            let mut password = String::new();
            std::io::stdin()
                .read_to_string(&mut password)
                .context("reading the password from standard input")?;
            let password = password.trim_end_matches(['\r', '\n']).to_owned();
            runtime.block_on(async {
                crate::db::create_database_if_missing(&settings.database_url).await?;
                crate::db::run_migrations(&settings.database_url).await?;
                let state = crate::state::AppState::from_settings(settings)?;
                let done = crate::users::repo::bootstrap_admin(
                    &state,
                    &username,
                    &password,
                    reset_password,
                )
                .await?;
                println!("{username}: {done}");
                Ok(())
            })
        }
        Command::SeedDemo => {
            if settings.is_production() {
                anyhow::bail!(
                    "seed-demo loads well-known passwords and is refused when THIDUA_ENV=production"
                );
            }
            runtime.block_on(async {
                crate::db::create_database_if_missing(&settings.database_url).await?;
                crate::db::run_migrations(&settings.database_url).await?;
                let state = crate::state::AppState::from_settings(settings)?;
                crate::demo::seed(&state).await?;
                println!("demo data loaded; see the README for the demo users");
                Ok(())
            })
        }
        Command::Generate {
            organizations,
            provinces,
            merges,
            pledges,
            nominations,
            persons,
            seed,
            jobs,
        } => {
            if settings.is_production() {
                anyhow::bail!(
                    "generate loads well-known passwords and is refused when THIDUA_ENV=production"
                );
            }
            let sizes = crate::generate::Sizes {
                organizations,
                provinces,
                pledges,
                nominations,
                persons,
                seed,
            };
            let jobs = jobs.unwrap_or_else(|| {
                std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
            });
            runtime.block_on(crate::generate::run(&settings, sizes, &merges, jobs))
        }
        Command::RebuildTallies => runtime.block_on(async {
            crate::db::create_database_if_missing(&settings.database_url).await?;
            crate::db::run_migrations(&settings.database_url).await?;
            // Its own connection: the pool's statement timeout would stop it on a large tree.
            let mut conn =
                <diesel_async::AsyncPgConnection as diesel_async::AsyncConnection>::establish(
                    &settings.database_url,
                )
                .await
                .context("connecting to the database")?;
            let started = std::time::Instant::now();
            let written = crate::stats::tallies::rebuild(&mut conn).await?;
            println!(
                "tallies: {written} rows rebuilt in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }),
        Command::ImportUnits {
            merges,
            province,
            dry_run,
        } => runtime.block_on(async {
            crate::db::create_database_if_missing(&settings.database_url).await?;
            crate::db::run_migrations(&settings.database_url).await?;
            let state = crate::state::AppState::from_settings(settings)?;
            let mut conn = state.db.write().await?;
            let started = std::time::Instant::now();
            let options = crate::restructurings::import::Options {
                merges: &merges,
                province: province.as_deref(),
                dry_run,
            };
            let outcomes = crate::restructurings::import::run(&mut conn, &options).await?;
            for outcome in &outcomes {
                println!(
                    "{}",
                    crate::restructurings::import::summary(outcome, dry_run)
                );
            }
            println!(
                "{} province(s) {} in {:.1} s",
                outcomes.len(),
                if dry_run {
                    "previewed, nothing written"
                } else {
                    "done"
                },
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }),
        Command::Openapi => Ok(()),
    }
}
