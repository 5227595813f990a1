//! The pledge state machine (docs/design.md §3) as a pure function, tested as a table.
//!
//! draft → submitted → approved → assessed; submitted → returned → submitted;
//! draft | submitted | returned | approved → withdrawn.

use crate::text_enum;
use crate::workflow::state_machine;

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

state_machine! {
    /// The pledge workflow's state table (its rules are in `service`).
    pub struct PledgeWorkflow("pledge"): PledgeStatus, PledgeAction {
        [Draft, Returned] Submit => Submitted,
        [Submitted] Approve => Approved,
        [Submitted] Return => Returned,
        [Approved] Assess => Assessed,
        [Draft, Submitted, Returned, Approved] Withdraw => Withdrawn,
    }
    design "
        from       submit     approve   return    withdraw   assess
        draft      submitted  -         -         withdrawn  -
        submitted  -          approved  returned  withdrawn  -
        returned   submitted  -         -         withdrawn  -
        approved   -          -         -         withdrawn  assessed
        assessed   -          -         -         -          -
        withdrawn  -          -         -         -          -
    ";
}

#[cfg(test)]
mod tests {
    use super::PledgeAction as A;
    use super::PledgeStatus as S;
    use super::*;
    use crate::workflow;

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
