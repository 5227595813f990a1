//! What every handler shares: database pools, token keys and revocations, password hashing and
//! settings.

use std::sync::Arc;

use crate::auth::password::PasswordService;
use crate::auth::revocation::Revocations;
use crate::auth::tokens::TokenKeys;
use crate::config::Settings;
use crate::db::Databases;

/// Shared application state, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: Databases,
    pub tokens: TokenKeys,
    /// Access tokens revoked before they expire (this instance's copy).
    pub revocations: Arc<Revocations>,
    pub passwords: PasswordService,
    pub settings: Arc<Settings>,
    /// Aggregate answers computed by this instance, reused while their data is unchanged.
    pub answers: Arc<crate::stats::cache::AnswerCache>,
    /// Bounds the spreadsheets this instance builds at once.
    pub exports: crate::export::ExportSlots,
    /// Whether any unit has lineage yet (the all-years overview's fast path until then).
    pub lineage: Arc<crate::stats::history::LineageFlag>,
}

impl AppState {
    /// Builds the state from settings: pools (connections open lazily), keys, hashing.
    pub fn from_settings(settings: Settings) -> anyhow::Result<Self> {
        Ok(Self {
            db: Databases::connect(&settings)?,
            tokens: TokenKeys::from_settings(&settings)?,
            revocations: Arc::new(Revocations::new()),
            passwords: PasswordService::new(settings.password_hashing)?,
            answers: Arc::new(crate::stats::cache::AnswerCache::with_budget(
                settings.answer_cache_bytes,
            )),
            exports: crate::export::ExportSlots::default(),
            lineage: Arc::default(),
            settings: Arc::new(settings),
        })
    }
}
