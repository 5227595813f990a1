//! The nomination state machine (docs/design.md §3) as a pure function, tested as a table.
//!
//! draft → submitted → under_review → recognized → commended;
//! submitted | under_review → rejected; draft | submitted | under_review | recognized → withdrawn.
//! `rejected`, `withdrawn` and `commended` are final.

use crate::text_enum;
use crate::workflow::{Edge, StateMachine};

text_enum! {
    /// Where a nomination stands in its workflow.
    pub enum NominationStatus {
        Draft = "draft",
        Submitted = "submitted",
        UnderReview = "under_review",
        Recognized = "recognized",
        Commended = "commended",
        Rejected = "rejected",
        Withdrawn = "withdrawn",
    }
}

impl NominationStatus {
    /// An exemplar: readable by everyone, may be named by pledges.
    pub fn is_exemplar(self) -> bool {
        matches!(self, Self::Recognized | Self::Commended)
    }

    /// Still in progress: a restructuring carries it to the successor of its unit.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Draft | Self::Submitted | Self::UnderReview)
    }

    /// Still counts as a nomination of its nominee (for duplicate detection).
    pub fn is_live(self) -> bool {
        !matches!(self, Self::Rejected | Self::Withdrawn)
    }
}

text_enum! {
    /// The transitions of a nomination (`POST /nominations/{id}/<action>`).
    pub enum NominationAction {
        Submit = "submit",
        StartReview = "start_review",
        Recognize = "recognize",
        Commend = "commend",
        Reject = "reject",
        Withdraw = "withdraw",
    }
}

text_enum! {
    /// Whom a nomination puts forward.
    pub enum NomineeType {
        Individual = "individual",
        Collective = "collective",
    }
}

text_enum! {
    /// Form of a commendation.
    pub enum CommendationForm {
        /// Giấy khen.
        GiayKhen = "giay_khen",
        /// Bằng khen.
        BangKhen = "bang_khen",
        /// Cờ thi đua.
        CoThiDua = "co_thi_dua",
        Other = "other",
    }
}

text_enum! {
    /// A reviewer's vote.
    pub enum ReviewDecision {
        Endorse = "endorse",
        Oppose = "oppose",
        Abstain = "abstain",
    }
}

/// The nomination workflow's state table (its rules are in `service`).
pub struct NominationWorkflow;

impl StateMachine for NominationWorkflow {
    const ENTITY: &'static str = "nomination";
    type Status = NominationStatus;
    type Action = NominationAction;
    const EDGES: &'static [Edge<NominationStatus, NominationAction>] = {
        use NominationAction as A;
        use NominationStatus as S;
        &[
            Edge {
                from: &[S::Draft],
                action: A::Submit,
                to: S::Submitted,
            },
            Edge {
                from: &[S::Submitted],
                action: A::StartReview,
                to: S::UnderReview,
            },
            Edge {
                from: &[S::UnderReview],
                action: A::Recognize,
                to: S::Recognized,
            },
            Edge {
                from: &[S::Recognized],
                action: A::Commend,
                to: S::Commended,
            },
            Edge {
                from: &[S::Submitted, S::UnderReview],
                action: A::Reject,
                to: S::Rejected,
            },
            Edge {
                from: &[S::Draft, S::Submitted, S::UnderReview, S::Recognized],
                action: A::Withdraw,
                to: S::Withdrawn,
            },
        ]
    };
}

#[cfg(test)]
mod tests {
    use super::NominationAction as A;
    use super::NominationStatus as S;
    use super::*;
    use crate::workflow;

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
        workflow::assert_table::<NominationWorkflow>(table);
    }

    #[test]
    fn a_refused_action_names_the_allowed_ones() {
        let Err(error) = workflow::next_status::<NominationWorkflow>(S::UnderReview, A::Commend)
        else {
            panic!("a nomination under review cannot be commended");
        };
        assert_eq!(error.from, "under_review");
        assert_eq!(error.allowed, vec!["recognize", "reject", "withdraw"]);
        for last in [S::Commended, S::Rejected, S::Withdrawn] {
            assert!(
                workflow::allowed_actions::<NominationWorkflow>(last).is_empty(),
                "{last:?} is final"
            );
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
