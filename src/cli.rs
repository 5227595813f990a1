//! The `thidua` command line: serve, migrate, bootstrap the first admin, demo data, the spec.

use std::io::Read;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::config::Settings;

#[derive(Debug, Parser)]
#[command(
    name = "thidua",
    version,
    about = "Emulation movements (phong trào thi đua) over HTTP/JSON"
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
        /// Load the Ba Tri demonstration data first (development only).
        #[arg(long)]
        demo: bool,
    },
    /// Create the database if missing and apply pending migrations.
    Migrate,
    /// Create (or reset the password of) an administrator.
    CreateAdmin {
        #[arg(long)]
        username: String,
        /// Read the password from standard input (it never appears in the process list).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Load the Ba Tri demonstration data (idempotent; development only).
    SeedDemo,
    /// Print the OpenAPI 3.1 document.
    Openapi,
    /// Fill the database with a deterministic benchmark data set (resumable; development only).
    Generate {
        /// Organizations, five levels deep.
        #[arg(long)]
        organizations: u32,
        /// Pledges over 2021–2025.
        #[arg(long)]
        pledges: u64,
        /// Nominations (skipped when the nominations table does not exist).
        #[arg(long, default_value_t = 0)]
        nominations: u64,
        /// Same seed, same data.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

/// Runs one command to completion.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::Openapi = cli.command {
        print!("{}", crate::openapi::document_json());
        return Ok(());
    }
    let mut settings = Settings::from_env()?;
    let _log_guard = crate::telemetry::init(settings.log_format);
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
        Command::CreateAdmin { username, .. } => {
            let mut password = String::new();
            std::io::stdin()
                .read_to_string(&mut password)
                .context("reading the password from standard input")?;
            let password = password.trim_end_matches(['\r', '\n']).to_owned();
            runtime.block_on(async {
                crate::db::create_database_if_missing(&settings.database_url).await?;
                crate::db::run_migrations(&settings.database_url).await?;
                let state = crate::state::AppState::from_settings(settings)?;
                let id = crate::users::repo::bootstrap_admin(&state, &username, &password).await?;
                println!("administrator {username} ready (id {id})");
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
            pledges,
            nominations,
            seed,
        } => {
            if settings.is_production() {
                anyhow::bail!(
                    "generate loads well-known passwords and is refused when THIDUA_ENV=production"
                );
            }
            let sizes = crate::generate::Sizes {
                organizations,
                pledges,
                nominations,
                seed,
            };
            runtime.block_on(crate::generate::run(&settings, sizes))
        }
        Command::Openapi => Ok(()),
    }
}
