//! What every handler shares: database pools, token keys, password hashing and settings.

use std::sync::Arc;

use crate::auth::password::PasswordService;
use crate::auth::tokens::TokenKeys;
use crate::config::Settings;
use crate::db::Databases;

/// Shared application state, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: Databases,
    pub tokens: TokenKeys,
    pub passwords: PasswordService,
    pub settings: Arc<Settings>,
    /// Overviews computed by this instance, reused while the tallies are unchanged.
    pub overviews: Arc<crate::stats::cache::OverviewCache>,
}

impl AppState {
    /// Builds the state from settings: pools (connections open lazily), keys, hashing.
    pub fn from_settings(settings: Settings) -> anyhow::Result<Self> {
        Ok(Self {
            db: Databases::connect(&settings)?,
            tokens: TokenKeys::from_settings(&settings)?,
            passwords: PasswordService::new(settings.password_hashing)?,
            overviews: Arc::new(crate::stats::cache::OverviewCache::with_capacity(
                settings.overview_cache_entries,
            )),
            settings: Arc::new(settings),
        })
    }
}
