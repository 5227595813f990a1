//! What a caller sees of the change feed (docs/design.md § 5.1, Visibility), the same for
//! `GET /changes` and for the webhooks that deliver it (`crate::webhooks`).

use super::dto::ChangeDto;
use super::repo::EventRow;
use crate::auth::authorize::Visibility;
use crate::auth::policy::{self, Operation};
use crate::auth::principal::Principal;
use crate::error::AppResult;

/// What the caller may see of the feed: the entities of its subtrees (like the lists), and the
/// restructurings touching the subtrees whose audit log it may read.
pub struct FeedView {
    pub entities: Visibility,
    pub restructurings: Option<Visibility>,
}

impl FeedView {
    /// What `principal` may see: 403 for a partner client without the scope `read`.
    pub fn of(principal: &Principal) -> AppResult<Self> {
        Ok(Self {
            entities: policy::subtrees_allowing(principal, Operation::Read)?,
            restructurings: policy::subtrees_allowing(principal, Operation::ReadAudit).ok(),
        })
    }

    /// The item `row` is for this caller, or `None` when it must not see it.
    pub fn item(&self, row: EventRow) -> Option<ChangeDto> {
        let (visible, tombstone) = if row.entity_type == "restructuring" {
            let touched = row.touched_paths.as_deref().unwrap_or_default();
            let visible = self
                .restructurings
                .as_ref()
                .is_some_and(|view| touched.iter().any(|path| view.includes(path)));
            (visible, false)
        } else {
            match row.path.as_deref() {
                // Reference data (rule sets, base salaries): every caller reads it.
                None => (true, row.action == "deleted"),
                Some(path) if self.entities.includes(path) => (true, row.action == "deleted"),
                // Left the caller's view: a tombstone for who saw it where it was.
                Some(_) => {
                    let saw = row
                        .old_path
                        .as_deref()
                        .is_some_and(|old| self.entities.includes(old));
                    (saw, true)
                }
            }
        };
        if !visible {
            return None;
        }
        let left_view = tombstone && row.action != "deleted";
        Some(ChangeDto {
            seq: row.seq,
            entity_type: row.entity_type,
            id: row.entity_id,
            action: row.action,
            version: row.version,
            // The unit it went to is none of the caller's business.
            organization_id: if left_view { None } else { row.organization_id },
            at: row.at,
            tombstone,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(
        entity_type: &str,
        action: &str,
        path: Option<&str>,
        old_path: Option<&str>,
    ) -> EventRow {
        EventRow {
            seq: 1,
            entity_type: entity_type.to_owned(),
            entity_id: "e".to_owned(),
            action: action.to_owned(),
            version: Some(1),
            organization_id: Some(uuid::Uuid::nil()),
            path: path.map(str::to_owned),
            old_path: old_path.map(str::to_owned),
            touched_paths: (entity_type == "restructuring").then(|| vec!["1.2.".to_owned()]),
            at: chrono::Utc::now(),
        }
    }

    /// (caller's view) × (event) → None (not shown), Some(false) item, Some(true) tombstone.
    #[test]
    fn each_event_is_an_item_a_tombstone_or_nothing_for_each_caller() {
        let district = FeedView {
            entities: Visibility::Subtrees(vec!["1.2.".into()]),
            restructurings: None,
        };
        let admin = FeedView {
            entities: Visibility::Everything,
            restructurings: Some(Visibility::Everything),
        };
        let cases = [
            (
                event("pledge", "created", Some("1.2.3."), None),
                Some(false),
                Some(false),
            ),
            (
                event("pledge", "created", Some("1.23."), None),
                None,
                Some(false),
            ),
            (
                event("pledge", "deleted", Some("1.2.3."), None),
                Some(true),
                Some(true),
            ),
            (
                event("pledge", "moved", Some("1.4."), Some("1.2.3.")),
                Some(true),
                Some(false),
            ),
            (
                event("pledge", "moved", Some("1.2.5."), Some("1.4.")),
                Some(false),
                Some(false),
            ),
            (
                event("pledge", "moved", Some("1.4."), Some("1.5.")),
                None,
                Some(false),
            ),
            (
                event("rule_set", "created", None, None),
                Some(false),
                Some(false),
            ),
            (
                event("restructuring", "created", None, None),
                None,
                Some(false),
            ),
        ];
        for (row, for_district, for_admin) in cases {
            let label = format!(
                "{} {} {:?} {:?}",
                row.entity_type, row.action, row.path, row.old_path
            );
            let shown = |view: &FeedView, row: EventRow| view.item(row).map(|item| item.tombstone);
            assert_eq!(
                shown(&district, row.clone()),
                for_district,
                "district: {label}"
            );
            assert_eq!(shown(&admin, row), for_admin, "admin: {label}");
        }
        // A tombstone of an entity that left the view does not say where it went.
        let gone = district
            .item(event("pledge", "moved", Some("1.4."), Some("1.2.3.")))
            .unwrap();
        assert_eq!(gone.organization_id, None);
    }
}
