//! The nomination state machine (docs/design.md §3) as a pure function, tested as a table.
//!
//! draft → submitted → under_review → recognized → commended;
//! submitted | under_review → rejected; draft | submitted | under_review | recognized → withdrawn.
//! `rejected`, `withdrawn` and `commended` are final.

use crate::text_enum;
use crate::workflow::state_machine;

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

state_machine! {
    /// The nomination workflow's state table (its rules are in `service`).
    pub struct NominationWorkflow("nomination"): NominationStatus, NominationAction {
        [Draft] Submit => Submitted,
        [Submitted] StartReview => UnderReview,
        [UnderReview] Recognize => Recognized,
        [Recognized] Commend => Commended,
        [Submitted, UnderReview] Reject => Rejected,
        [Draft, Submitted, UnderReview, Recognized] Withdraw => Withdrawn,
    }
    design "
        from          submit     start_review  recognize   commend    reject    withdraw
        draft         submitted  -             -           -          -         withdrawn
        submitted     -          under_review  -           -          rejected  withdrawn
        under_review  -          -             recognized  -          rejected  withdrawn
        recognized    -          -             -           commended  -         withdrawn
        commended     -          -             -           -          -         -
        rejected      -          -             -           -          -         -
        withdrawn     -          -             -           -          -         -
    ";
}

#[cfg(test)]
mod tests {
    use super::NominationAction as A;
    use super::NominationStatus as S;
    use super::*;
    use crate::workflow;

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
