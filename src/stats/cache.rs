//! Overviews kept under the tally version they were computed at.
//!
//! `overview_of()` in the database answers "unchanged" instead of computing when the caller
//! already holds the overview of the current `tally_version()`; the version moves with every
//! change of a count, of a pending delta, or of a unit's name, place or state, so a kept answer
//! is exactly what computing it again would give. Reusing one costs the round trip that checks
//! the version; nothing is ever served without that check, so instances never disagree and no
//! answer is ever stale.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_web::web::Bytes;
use chrono::NaiveDate;
use uuid::Uuid;

/// What an overview depends on besides the data: its unit, filters and day.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OverviewKey {
    pub organization_id: Uuid,
    pub campaign_id: Option<Uuid>,
    pub year: Option<i32>,
    pub today: NaiveDate,
}

/// An overview as sent, with what is needed to reuse it.
#[derive(Debug)]
pub struct KeptOverview {
    /// `tally_version()` when it was computed.
    pub version: String,
    /// The unit's path then, for the caller's visibility check.
    pub path: String,
    /// The JSON body.
    pub body: Bytes,
}

/// The overviews this instance computed, by key: at most `capacity` (each a few kilobytes;
/// `THIDUA_OVERVIEW_CACHE_ENTRIES`); when full it starts over, and with 0 it keeps none.
#[derive(Debug)]
pub struct OverviewCache {
    capacity: usize,
    entries: Mutex<HashMap<OverviewKey, Arc<KeptOverview>>>,
}

impl OverviewCache {
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            capacity,
            entries: Mutex::default(),
        }
    }

    pub fn get(&self, key: &OverviewKey) -> Option<Arc<KeptOverview>> {
        self.entries.lock().ok()?.get(key).cloned()
    }

    pub fn put(&self, key: OverviewKey, kept: KeptOverview) {
        if self.capacity == 0 {
            return;
        }
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= self.capacity && !entries.contains_key(&key) {
                entries.clear();
            }
            entries.insert(key, Arc::new(kept));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u128) -> OverviewKey {
        OverviewKey {
            organization_id: Uuid::from_u128(n),
            campaign_id: None,
            year: None,
            today: NaiveDate::from_ymd_opt(2026, 11, 27).unwrap(),
        }
    }

    fn kept(version: &str) -> KeptOverview {
        KeptOverview {
            version: version.to_owned(),
            path: "1.".to_owned(),
            body: Bytes::from_static(b"{}"),
        }
    }

    const CAPACITY: usize = 64;

    #[test]
    fn a_newer_overview_replaces_the_kept_one() {
        let cache = OverviewCache::with_capacity(CAPACITY);
        cache.put(key(1), kept("1.0"));
        cache.put(key(1), kept("2.0"));
        assert_eq!(cache.get(&key(1)).unwrap().version, "2.0");
        assert!(cache.get(&key(2)).is_none());
    }

    #[test]
    fn the_cache_never_holds_more_than_its_capacity() {
        let cache = OverviewCache::with_capacity(CAPACITY);
        for n in 0..=CAPACITY as u128 {
            cache.put(key(n), kept("1.0"));
        }
        let held = cache.entries.lock().unwrap().len();
        assert!(held <= CAPACITY, "{held}");
        assert!(cache.get(&key(CAPACITY as u128)).is_some());
    }

    #[test]
    fn a_cache_of_no_entries_keeps_nothing() {
        let cache = OverviewCache::with_capacity(0);
        cache.put(key(1), kept("1.0"));
        assert!(cache.get(&key(1)).is_none());
    }
}
