//! The pledge state machine (docs/design.md §3) as a pure function, tested as a table.
//!
//! draft → submitted → approved → assessed; submitted → returned → submitted;
//! draft | submitted | returned | approved → withdrawn.

use crate::text_enum;
use crate::workflow::{Edge, StateMachine};

text_enum! {
    /// Where a pledge stands in its workflow.
    pub enum PledgeStatus {
        Draft = "draft",
        Submitted = "submitted",
        Approved = "approved",
        Assessed = "assessed",
        Returned = "returned",
        Withdrawn = "withdrawn",
    }
}

impl PledgeStatus {
    /// A registered pledge counts for coverage: submitted and not withdrawn.
    pub fn is_registered(self) -> bool {
        matches!(self, Self::Submitted | Self::Approved | Self::Assessed)
    }

    /// An open pledge is still expected to meet its deadline, so it can be overdue: neither
    /// assessed nor withdrawn (`r.pledge_is_open` in SQL).
    pub fn is_open(self) -> bool {
        !matches!(self, Self::Assessed | Self::Withdrawn)
    }

    /// Content may change only while the unit still holds the pen.
    pub fn is_editable(self) -> bool {
        Self::EDITABLE.contains(&self)
    }

    pub const EDITABLE: [PledgeStatus; 2] = [Self::Draft, Self::Returned];
}

text_enum! {
    /// The transitions of a pledge (`POST /pledges/{id}/<action>`).
    pub enum PledgeAction {
        Submit = "submit",
        Approve = "approve",
        Return = "return",
        Withdraw = "withdraw",
        Assess = "assess",
    }
}

text_enum! {
    /// Assessment result of an approved pledge.
    pub enum PledgeResult {
        Exceeded = "exceeded",
        Achieved = "achieved",
        PartiallyAchieved = "partially_achieved",
        NotAchieved = "not_achieved",
    }
}

impl PledgeResult {
    /// Counts as having attained a registered title.
    pub fn is_achievement(self) -> bool {
        matches!(self, Self::Exceeded | Self::Achieved)
    }
}

text_enum! {
    /// What a pledge registers.
    pub enum PledgeKind {
        /// Concrete content, optionally with a numeric target.
        Target = "target",
        /// The unit registers to attain a named title.
        Title = "title",
    }
}

text_enum! {
    /// How a pledge relates to the exemplar it names.
    pub enum ExemplarRelation {
        Learn = "learn",
        CatchUp = "catch_up",
        Surpass = "surpass",
    }
}

/// The pledge workflow's state table (its rules are in `service`).
pub struct PledgeWorkflow;

impl StateMachine for PledgeWorkflow {
    const ENTITY: &'static str = "pledge";
    type Status = PledgeStatus;
    type Action = PledgeAction;
    const EDGES: &'static [Edge<PledgeStatus, PledgeAction>] = {
        use PledgeAction as A;
        use PledgeStatus as S;
        &[
            Edge {
                from: &[S::Draft, S::Returned],
                action: A::Submit,
                to: S::Submitted,
            },
            Edge {
                from: &[S::Submitted],
                action: A::Approve,
                to: S::Approved,
            },
            Edge {
                from: &[S::Submitted],
                action: A::Return,
                to: S::Returned,
            },
            Edge {
                from: &[S::Approved],
                action: A::Assess,
                to: S::Assessed,
            },
            Edge {
                from: &[S::Draft, S::Submitted, S::Returned, S::Approved],
                action: A::Withdraw,
                to: S::Withdrawn,
            },
        ]
    };
}

#[cfg(test)]
mod tests {
    use super::PledgeAction as A;
    use super::PledgeStatus as S;
    use super::*;
    use crate::workflow;

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
        workflow::assert_table::<PledgeWorkflow>(table);
    }

    #[test]
    fn a_refused_action_names_the_allowed_ones() {
        let Err(error) = workflow::next_status::<PledgeWorkflow>(S::Submitted, A::Assess) else {
            panic!("a submitted pledge cannot be assessed");
        };
        assert_eq!(error.allowed, vec!["approve", "return", "withdraw"]);
        assert!(workflow::allowed_actions::<PledgeWorkflow>(S::Assessed).is_empty());
    }

    #[test]
    fn only_submitted_approved_and_assessed_count_as_registered() {
        let registered: Vec<_> = S::ALL.into_iter().filter(|s| s.is_registered()).collect();
        assert_eq!(registered, vec![S::Submitted, S::Approved, S::Assessed]);
    }
}
