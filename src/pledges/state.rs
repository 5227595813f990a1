//! The pledge state machine (DESIGN.md §3) as a pure function, tested as a table.
//!
//! draft → submitted → approved → assessed; submitted → returned → submitted;
//! draft | submitted | returned | approved → withdrawn.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PledgeStatus {
    Draft,
    Submitted,
    Approved,
    Assessed,
    Returned,
    Withdrawn,
}

impl PledgeStatus {
    pub const ALL: [PledgeStatus; 6] = [
        Self::Draft,
        Self::Submitted,
        Self::Approved,
        Self::Assessed,
        Self::Returned,
        Self::Withdrawn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Submitted => "submitted",
            Self::Approved => "approved",
            Self::Assessed => "assessed",
            Self::Returned => "returned",
            Self::Withdrawn => "withdrawn",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == value)
    }

    /// A registered pledge counts for coverage: submitted and not withdrawn.
    pub fn is_registered(self) -> bool {
        matches!(self, Self::Submitted | Self::Approved | Self::Assessed)
    }

    /// Content may change only while the unit still holds the pen.
    pub fn is_editable(self) -> bool {
        matches!(self, Self::Draft | Self::Returned)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PledgeAction {
    Submit,
    Approve,
    Return,
    Withdraw,
    Assess,
}

impl PledgeAction {
    pub const ALL: [PledgeAction; 5] = [
        Self::Submit,
        Self::Approve,
        Self::Return,
        Self::Withdraw,
        Self::Assess,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Submit => "submit",
            Self::Approve => "approve",
            Self::Return => "return",
            Self::Withdraw => "withdraw",
            Self::Assess => "assess",
        }
    }
}

/// Assessment result of an approved pledge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PledgeResult {
    Exceeded,
    Achieved,
    PartiallyAchieved,
    NotAchieved,
}

impl PledgeResult {
    pub const ALL: [PledgeResult; 4] = [
        Self::Exceeded,
        Self::Achieved,
        Self::PartiallyAchieved,
        Self::NotAchieved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Exceeded => "exceeded",
            Self::Achieved => "achieved",
            Self::PartiallyAchieved => "partially_achieved",
            Self::NotAchieved => "not_achieved",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|result| result.as_str() == value)
    }

    /// Counts as having attained a registered title.
    pub fn is_achievement(self) -> bool {
        matches!(self, Self::Exceeded | Self::Achieved)
    }
}

/// An action that the current state does not allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidTransition {
    pub from: PledgeStatus,
    pub action: PledgeAction,
    pub allowed: Vec<PledgeAction>,
}

/// The state `action` leads to from `from`, or why it cannot be taken.
pub fn next_status(
    from: PledgeStatus,
    action: PledgeAction,
) -> Result<PledgeStatus, InvalidTransition> {
    use PledgeAction as A;
    use PledgeStatus as S;
    let to = match (from, action) {
        (S::Draft | S::Returned, A::Submit) => S::Submitted,
        (S::Submitted, A::Approve) => S::Approved,
        (S::Submitted, A::Return) => S::Returned,
        (S::Approved, A::Assess) => S::Assessed,
        (S::Draft | S::Submitted | S::Returned | S::Approved, A::Withdraw) => S::Withdrawn,
        _ => {
            return Err(InvalidTransition {
                from,
                action,
                allowed: allowed_actions(from),
            });
        }
    };
    Ok(to)
}

/// Actions the state machine allows from `from` (regardless of who asks).
pub fn allowed_actions(from: PledgeStatus) -> Vec<PledgeAction> {
    PledgeAction::ALL
        .into_iter()
        .filter(|action| {
            use PledgeAction as A;
            use PledgeStatus as S;
            matches!(
                (from, action),
                (S::Draft | S::Returned, A::Submit)
                    | (S::Submitted, A::Approve | A::Return)
                    | (S::Approved, A::Assess)
                    | (
                        S::Draft | S::Submitted | S::Returned | S::Approved,
                        A::Withdraw
                    )
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::PledgeAction as A;
    use super::PledgeStatus as S;
    use super::*;

    /// Every (state, action) pair and its expected outcome.
    #[test]
    fn the_transition_table_is_exactly_the_design() {
        let table: &[(S, A, Option<S>)] = &[
            (S::Draft, A::Submit, Some(S::Submitted)),
            (S::Draft, A::Approve, None),
            (S::Draft, A::Return, None),
            (S::Draft, A::Withdraw, Some(S::Withdrawn)),
            (S::Draft, A::Assess, None),
            (S::Submitted, A::Submit, None),
            (S::Submitted, A::Approve, Some(S::Approved)),
            (S::Submitted, A::Return, Some(S::Returned)),
            (S::Submitted, A::Withdraw, Some(S::Withdrawn)),
            (S::Submitted, A::Assess, None),
            (S::Returned, A::Submit, Some(S::Submitted)),
            (S::Returned, A::Approve, None),
            (S::Returned, A::Return, None),
            (S::Returned, A::Withdraw, Some(S::Withdrawn)),
            (S::Returned, A::Assess, None),
            (S::Approved, A::Submit, None),
            (S::Approved, A::Approve, None),
            (S::Approved, A::Return, None),
            (S::Approved, A::Withdraw, Some(S::Withdrawn)),
            (S::Approved, A::Assess, Some(S::Assessed)),
            (S::Assessed, A::Submit, None),
            (S::Assessed, A::Approve, None),
            (S::Assessed, A::Return, None),
            (S::Assessed, A::Withdraw, None),
            (S::Assessed, A::Assess, None),
            (S::Withdrawn, A::Submit, None),
            (S::Withdrawn, A::Approve, None),
            (S::Withdrawn, A::Return, None),
            (S::Withdrawn, A::Withdraw, None),
            (S::Withdrawn, A::Assess, None),
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
        let Err(error) = next_status(S::Submitted, A::Assess) else {
            panic!("a submitted pledge cannot be assessed");
        };
        assert_eq!(error.allowed, vec![A::Approve, A::Return, A::Withdraw]);
        assert!(allowed_actions(S::Assessed).is_empty());
    }

    #[test]
    fn only_submitted_approved_and_assessed_count_as_registered() {
        let registered: Vec<_> = S::ALL.into_iter().filter(|s| s.is_registered()).collect();
        assert_eq!(registered, vec![S::Submitted, S::Approved, S::Assessed]);
    }
}
