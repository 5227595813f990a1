//! The nomination state machine (DESIGN.md §3) as a pure function, tested as a table.
//!
//! draft → submitted → under_review → recognized → commended;
//! submitted | under_review → rejected; draft | submitted | under_review | recognized → withdrawn.
//! `rejected`, `withdrawn` and `commended` are final.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NominationStatus {
    Draft,
    Submitted,
    UnderReview,
    Recognized,
    Commended,
    Rejected,
    Withdrawn,
}

impl NominationStatus {
    pub const ALL: [NominationStatus; 7] = [
        Self::Draft,
        Self::Submitted,
        Self::UnderReview,
        Self::Recognized,
        Self::Commended,
        Self::Rejected,
        Self::Withdrawn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Submitted => "submitted",
            Self::UnderReview => "under_review",
            Self::Recognized => "recognized",
            Self::Commended => "commended",
            Self::Rejected => "rejected",
            Self::Withdrawn => "withdrawn",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == value)
    }

    /// An exemplar: readable by everyone, may be named by pledges.
    pub fn is_exemplar(self) -> bool {
        matches!(self, Self::Recognized | Self::Commended)
    }

    /// Still counts as a nomination of its nominee (for duplicate detection).
    pub fn is_live(self) -> bool {
        !matches!(self, Self::Rejected | Self::Withdrawn)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NominationAction {
    Submit,
    StartReview,
    Recognize,
    Commend,
    Reject,
    Withdraw,
}

impl NominationAction {
    pub const ALL: [NominationAction; 6] = [
        Self::Submit,
        Self::StartReview,
        Self::Recognize,
        Self::Commend,
        Self::Reject,
        Self::Withdraw,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Submit => "submit",
            Self::StartReview => "start_review",
            Self::Recognize => "recognize",
            Self::Commend => "commend",
            Self::Reject => "reject",
            Self::Withdraw => "withdraw",
        }
    }
}

/// An action that the current state does not allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidTransition {
    pub from: NominationStatus,
    pub action: NominationAction,
    pub allowed: Vec<NominationAction>,
}

/// The one table of transitions; `next_status` and `allowed_actions` both read it.
fn target(from: NominationStatus, action: NominationAction) -> Option<NominationStatus> {
    use NominationAction as A;
    use NominationStatus as S;
    match (from, action) {
        (S::Draft, A::Submit) => Some(S::Submitted),
        (S::Submitted, A::StartReview) => Some(S::UnderReview),
        (S::UnderReview, A::Recognize) => Some(S::Recognized),
        (S::Recognized, A::Commend) => Some(S::Commended),
        (S::Submitted | S::UnderReview, A::Reject) => Some(S::Rejected),
        (S::Draft | S::Submitted | S::UnderReview | S::Recognized, A::Withdraw) => {
            Some(S::Withdrawn)
        }
        _ => None,
    }
}

/// The state `action` leads to from `from`, or why it cannot be taken.
pub fn next_status(
    from: NominationStatus,
    action: NominationAction,
) -> Result<NominationStatus, InvalidTransition> {
    target(from, action).ok_or_else(|| InvalidTransition {
        from,
        action,
        allowed: allowed_actions(from),
    })
}

/// Actions the state machine allows from `from` (regardless of who asks).
pub fn allowed_actions(from: NominationStatus) -> Vec<NominationAction> {
    NominationAction::ALL
        .into_iter()
        .filter(|action| target(from, *action).is_some())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::NominationAction as A;
    use super::NominationStatus as S;
    use super::*;

    /// Every (state, action) pair and its expected outcome.
    #[test]
    fn the_transition_table_is_exactly_the_design() {
        let table: &[(S, A, Option<S>)] = &[
            (S::Draft, A::Submit, Some(S::Submitted)),
            (S::Draft, A::StartReview, None),
            (S::Draft, A::Recognize, None),
            (S::Draft, A::Commend, None),
            (S::Draft, A::Reject, None),
            (S::Draft, A::Withdraw, Some(S::Withdrawn)),
            (S::Submitted, A::Submit, None),
            (S::Submitted, A::StartReview, Some(S::UnderReview)),
            (S::Submitted, A::Recognize, None),
            (S::Submitted, A::Commend, None),
            (S::Submitted, A::Reject, Some(S::Rejected)),
            (S::Submitted, A::Withdraw, Some(S::Withdrawn)),
            (S::UnderReview, A::Submit, None),
            (S::UnderReview, A::StartReview, None),
            (S::UnderReview, A::Recognize, Some(S::Recognized)),
            (S::UnderReview, A::Commend, None),
            (S::UnderReview, A::Reject, Some(S::Rejected)),
            (S::UnderReview, A::Withdraw, Some(S::Withdrawn)),
            (S::Recognized, A::Submit, None),
            (S::Recognized, A::StartReview, None),
            (S::Recognized, A::Recognize, None),
            (S::Recognized, A::Commend, Some(S::Commended)),
            (S::Recognized, A::Reject, None),
            (S::Recognized, A::Withdraw, Some(S::Withdrawn)),
            (S::Commended, A::Submit, None),
            (S::Commended, A::StartReview, None),
            (S::Commended, A::Recognize, None),
            (S::Commended, A::Commend, None),
            (S::Commended, A::Reject, None),
            (S::Commended, A::Withdraw, None),
            (S::Rejected, A::Submit, None),
            (S::Rejected, A::StartReview, None),
            (S::Rejected, A::Recognize, None),
            (S::Rejected, A::Commend, None),
            (S::Rejected, A::Reject, None),
            (S::Rejected, A::Withdraw, None),
            (S::Withdrawn, A::Submit, None),
            (S::Withdrawn, A::StartReview, None),
            (S::Withdrawn, A::Recognize, None),
            (S::Withdrawn, A::Commend, None),
            (S::Withdrawn, A::Reject, None),
            (S::Withdrawn, A::Withdraw, None),
        ];
        assert_eq!(table.len(), S::ALL.len() * A::ALL.len());
        for (from, action, expected) in table {
            assert_eq!(
                next_status(*from, *action).ok(),
                *expected,
                "{from:?} --{action:?}-->"
            );
        }
    }

    #[test]
    fn a_refused_action_names_the_allowed_ones() {
        let Err(error) = next_status(S::UnderReview, A::Commend) else {
            panic!("a nomination under review cannot be commended");
        };
        assert_eq!(error.from, S::UnderReview);
        assert_eq!(error.allowed, vec![A::Recognize, A::Reject, A::Withdraw]);
        for last in [S::Commended, S::Rejected, S::Withdrawn] {
            assert!(allowed_actions(last).is_empty(), "{last:?} is final");
        }
    }

    #[test]
    fn only_recognized_and_commended_are_exemplars() {
        let exemplars: Vec<_> = S::ALL.into_iter().filter(|s| s.is_exemplar()).collect();
        assert_eq!(exemplars, vec![S::Recognized, S::Commended]);
        let dead: Vec<_> = S::ALL.into_iter().filter(|s| !s.is_live()).collect();
        assert_eq!(dead, vec![S::Rejected, S::Withdrawn]);
    }

    #[test]
    fn status_names_round_trip_and_match_the_database() {
        let names: Vec<_> = S::ALL.into_iter().map(S::as_str).collect();
        assert_eq!(
            names,
            [
                "draft",
                "submitted",
                "under_review",
                "recognized",
                "commended",
                "rejected",
                "withdrawn"
            ]
        );
        for status in S::ALL {
            assert_eq!(S::parse(status.as_str()), Some(status));
        }
    }
}
