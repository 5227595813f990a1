//! Aggregate answers kept under the version of the data they were computed at.
//!
//! The version (`r.tally_version()`, and `history::kept_version` which adds the
//! restructurings) moves with every change of a count, of a pending delta, or of a unit's name,
//! place or state, so a kept answer is exactly what computing it again would give. Reusing one
//! costs the round trip that reads the version; nothing is ever served without that check, so
//! instances never disagree and no answer is ever stale. `/stats/overview` asks
//! `overview_of()` to answer "unchanged" instead of computing; the other aggregates that read
//! only what the version covers (stats::handlers::kept_or_computed) read the version first.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_web::web::Bytes;
use chrono::NaiveDate;
use uuid::Uuid;

/// What an answer depends on besides the data: its aggregate, unit, request and day.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AnswerKey {
    /// The aggregate ("overview", "coverage", …).
    pub endpoint: &'static str,
    pub organization_id: Uuid,
    /// The rest of the request: its query string as sent (two spellings of one request are
    /// two entries), or for the overview its campaign and year.
    pub query: String,
    pub today: NaiveDate,
}

impl AnswerKey {
    /// The weak ETag of the answer to this request at `version` of the data: answers under the
    /// same tag are the same (weak: equal in meaning, RFC 9110 §8.8.1), on every instance. A
    /// digest, so that it says nothing of the version but whether it changed.
    pub fn etag(&self, version: &str) -> String {
        use base64::Engine as _;
        use sha2::{Digest, Sha256};
        let digest = Sha256::new()
            .chain_update(self.endpoint)
            .chain_update([0])
            .chain_update(self.organization_id.as_bytes())
            .chain_update(self.query.as_bytes())
            .chain_update([0])
            .chain_update(self.today.to_string())
            .chain_update([0])
            .chain_update(version)
            .finalize();
        let tag = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..15]);
        format!("W/\"{tag}\"")
    }

    /// The key of an overview of `organization_id` for a campaign and year.
    pub fn overview(
        organization_id: Uuid,
        campaign_id: Option<Uuid>,
        year: Option<i32>,
        today: NaiveDate,
    ) -> Self {
        Self {
            endpoint: "overview",
            organization_id,
            query: format!("{campaign_id:?}/{year:?}"),
            today,
        }
    }
}

/// An answer as sent, with what is needed to reuse it.
#[derive(Debug)]
pub struct KeptAnswer {
    /// The version of the data when it was computed.
    pub version: String,
    /// The unit's path then, for the caller's visibility check.
    pub path: String,
    /// The JSON body.
    pub body: Bytes,
}

#[derive(Debug, Default)]
struct Entries {
    answers: HashMap<AnswerKey, Arc<KeptAnswer>>,
    /// The bodies' bytes.
    held: usize,
}

/// The answers this instance computed, by key: bodies of at most `budget` bytes in all
/// (`THIDUA_ANSWER_CACHE_MIB`); when full it starts over, and with 0 it keeps none.
#[derive(Debug)]
pub struct AnswerCache {
    budget: usize,
    entries: Mutex<Entries>,
}

impl AnswerCache {
    pub fn with_budget(budget: usize) -> Self {
        Self {
            budget,
            entries: Mutex::default(),
        }
    }

    /// Whether it keeps anything.
    pub fn keeps(&self) -> bool {
        self.budget > 0
    }

    pub fn get(&self, key: &AnswerKey) -> Option<Arc<KeptAnswer>> {
        self.entries.lock().ok()?.answers.get(key).cloned()
    }

    pub fn put(&self, key: AnswerKey, kept: KeptAnswer) {
        let size = kept.body.len();
        if !self.keeps() || size > self.budget {
            return;
        }
        if let Ok(mut entries) = self.entries.lock() {
            if let Some(old) = entries.answers.remove(&key) {
                entries.held -= old.body.len();
            }
            if entries.held + size > self.budget {
                entries.answers.clear();
                entries.held = 0;
            }
            entries.held += size;
            entries.answers.insert(key, Arc::new(kept));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u128) -> AnswerKey {
        AnswerKey::overview(
            Uuid::from_u128(n),
            None,
            None,
            NaiveDate::from_ymd_opt(2026, 11, 27).unwrap(),
        )
    }

    fn kept(version: &str, size: usize) -> KeptAnswer {
        KeptAnswer {
            version: version.to_owned(),
            path: "1.".to_owned(),
            body: Bytes::from(vec![b' '; size]),
        }
    }

    const BUDGET: usize = 1_000;

    #[test]
    fn a_newer_answer_replaces_the_kept_one() {
        let cache = AnswerCache::with_budget(BUDGET);
        cache.put(key(1), kept("1.0", 10));
        cache.put(key(1), kept("2.0", 20));
        assert_eq!(cache.get(&key(1)).unwrap().version, "2.0");
        assert!(cache.get(&key(2)).is_none());
        assert_eq!(cache.entries.lock().unwrap().held, 20);
    }

    #[test]
    fn the_cache_never_holds_more_than_its_budget() {
        let cache = AnswerCache::with_budget(BUDGET);
        for n in 0..=20 {
            cache.put(key(n), kept("1.0", 100));
            let entries = cache.entries.lock().unwrap();
            let held: usize = entries.answers.values().map(|kept| kept.body.len()).sum();
            assert_eq!(held, entries.held);
            assert!(held <= BUDGET, "{held}");
        }
        assert!(cache.get(&key(20)).is_some());
        // A body larger than the whole budget is not kept, and leaves the others.
        cache.put(key(21), kept("1.0", BUDGET + 1));
        assert!(cache.get(&key(21)).is_none());
        assert!(cache.get(&key(20)).is_some());
    }

    #[test]
    fn requests_that_differ_are_kept_apart() {
        let cache = AnswerCache::with_budget(BUDGET);
        let today = NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
        let coverage = |query: &str| AnswerKey {
            endpoint: "coverage",
            organization_id: Uuid::from_u128(1),
            query: query.to_owned(),
            today,
        };
        cache.put(coverage("kind=commune"), kept("1.0", 10));
        assert!(cache.get(&coverage("kind=commune")).is_some());
        assert!(cache.get(&coverage("")).is_none());
        assert!(cache.get(&key(1)).is_none());
        let tomorrow = AnswerKey {
            today: today.succ_opt().unwrap(),
            ..coverage("kind=commune")
        };
        assert!(cache.get(&tomorrow).is_none());
    }

    #[test]
    fn an_etag_names_the_request_and_the_version() {
        let tag = key(1).etag("h:1.0/0");
        assert!(tag.starts_with("W/\"") && tag.ends_with('"'), "{tag}");
        assert_eq!(tag, key(1).etag("h:1.0/0"), "the same on every instance");
        assert_ne!(tag, key(1).etag("h:1.1/0"));
        assert_ne!(tag, key(2).etag("h:1.0/0"));
        let tomorrow = AnswerKey {
            today: key(1).today.succ_opt().unwrap(),
            ..key(1)
        };
        assert_ne!(tag, tomorrow.etag("h:1.0/0"));
    }

    #[test]
    fn a_cache_of_no_bytes_keeps_nothing() {
        let cache = AnswerCache::with_budget(0);
        assert!(!cache.keeps());
        cache.put(key(1), kept("1.0", 0));
        cache.put(key(2), kept("1.0", 1));
        assert!(cache.get(&key(1)).is_none());
        assert!(cache.get(&key(2)).is_none());
    }
}
