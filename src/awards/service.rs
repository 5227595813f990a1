//! The rules of council votes and award decisions: whether a candidate passed, and which
//! awards of a decision may be conferred (every refused award with every failed check).

use std::collections::{BTreeMap, HashMap, HashSet};

use diesel_async::AsyncPgConnection;
use serde_json::json;
use uuid::Uuid;

use super::dto::{AwardDto, BallotDto, CreateDecision};
use super::repo::{self, AwardRow, BallotRow, SessionRow};
use crate::error::{AppError, AppResult, FieldError};
use crate::titles::rules::{SubjectType, VoteBase, VoteRule};
use crate::titles::service::{self as titles, InForce};

/// A candidate's result under `vote`.
pub struct Tally {
    pub share: f64,
    pub quorum_met: bool,
    pub passed: bool,
    pub detail: String,
}

/// Whether `approve` votes carry a session of `total` members with `present` present.
pub fn tally(vote: &VoteRule, total: i32, present: i32, approve: i32) -> Tally {
    let total = u64::try_from(total).unwrap_or(0);
    let present = u64::try_from(present).unwrap_or(0);
    let approve = u64::try_from(approve).unwrap_or(0);
    let (base, of) = match vote.of {
        VoteBase::Members => (total, "all members"),
        VoteBase::Present => (present, "the members present"),
    };
    let quorum_met = vote.quorum.reached_by(present, total, false);
    let reached = base > 0 && vote.threshold.reached_by(approve, base, false);
    let share = if base == 0 {
        0.0
    } else {
        approve as f64 / base as f64
    };
    let detail = if quorum_met {
        format!(
            "{approve} of {base} ({:.1}%) approve; at least {} of {of} required",
            share * 100.0,
            vote.threshold.percent()
        )
    } else {
        format!(
            "{present} of {total} members present, below the quorum of {}",
            vote.quorum.percent()
        )
    };
    Tally {
        share,
        quorum_met,
        passed: quorum_met && reached,
        detail,
    }
}

/// A ballot with its result under the rule set in force on the session's day.
pub fn ballot_dto(session: &SessionRow, rules: Option<&InForce>, row: BallotRow) -> BallotDto {
    let (subject_type, subject_id) = row.subject();
    let vote = rules
        .and_then(|rules| rules.content.title(&row.title_code))
        .and_then(|title| title.vote.clone())
        .unwrap_or(VoteRule {
            threshold: crate::titles::rules::Ratio {
                numerator: 1,
                denominator: 2,
            },
            of: VoteBase::Members,
            quorum: crate::titles::rules::Ratio {
                numerator: 2,
                denominator: 3,
            },
            secret_ballot: true,
        });
    let result = tally(
        &vote,
        session.members_total,
        session.members_present,
        row.approve,
    );
    BallotDto {
        id: row.id,
        subject_type,
        subject_id,
        subject_name: row.subject_name,
        title_code: row.title_code,
        approve: row.approve,
        disapprove: row.disapprove,
        invalid: row.invalid,
        share: (result.share * 1000.0).round() / 1000.0,
        threshold: vote.threshold,
        of: vote.of,
        quorum: vote.quorum,
        quorum_met: result.quorum_met,
        passed: result.passed,
        detail: result.detail,
    }
}

pub fn award_dto(row: AwardRow) -> AwardDto {
    let subject_type = if row.person_id.is_some() {
        SubjectType::Person
    } else {
        SubjectType::Organization
    };
    AwardDto {
        id: row.id,
        subject_type,
        subject_id: row.person_id.or(row.organization_id).unwrap_or_default(),
        subject_name: row.subject_name,
        title_code: row.title_code,
        year: row.year,
        decision_id: row.decision_id,
        decision_no: row.decision_no,
        decided_on: row.decided_on,
        issuer_organization_id: row.issuer_organization_id,
        reward_amount: row.reward_amount,
        state: if row.revoked_at.is_some() {
            "revoked"
        } else {
            "awarded"
        }
        .to_owned(),
        revoked_at: row.revoked_at,
        revocation_reason: row.revocation_reason,
        revocation_note: row.revocation_note,
        recovery_amount: row.recovery_amount,
    }
}

/// The reward of `multiple` × `base_salary`, to the dong.
pub fn reward(multiple: f64, base_salary: i64) -> i64 {
    (multiple * base_salary as f64).round() as i64
}

/// What a decision will confer, once every award passed its checks.
pub struct Approved {
    pub awards: Vec<(SubjectType, Uuid, String, i64)>,
    pub reward_total: i64,
}

/// Checks every award of `request` (issuer kind, subtree, eligibility, vote, quota, once a
/// year) and answers all refusals at once: 422 `award_not_allowed`.
#[allow(clippy::too_many_arguments)]
pub async fn check_decision(
    conn: &mut AsyncPgConnection,
    request: &CreateDecision,
    year: i32,
    issuer_kind: &str,
    issuer_path: &str,
    rules: &InForce,
    base_salary: i64,
    session: Option<&SessionRow>,
) -> AppResult<Approved> {
    let mut refusals: Vec<(usize, Vec<String>)> = Vec::new();
    let mut approved = Vec::new();
    let ballots: Vec<BallotRow> = match session {
        Some(session) => repo::ballots(conn, session.id).await?,
        None => Vec::new(),
    };
    // Subjects by type, loaded once.
    let mut by_type: HashMap<SubjectType, Vec<Uuid>> = HashMap::new();
    for award in &request.awards {
        by_type
            .entry(award.subject_type)
            .or_default()
            .push(award.subject_id);
    }
    let mut loaded: HashMap<Uuid, titles::Loaded> = HashMap::new();
    for (subject_type, ids) in &by_type {
        for entry in titles::load(conn, &rules.content, *subject_type, ids, year).await? {
            loaded.insert(entry.subject.id, entry);
        }
    }
    let all_ids: Vec<Uuid> = request
        .awards
        .iter()
        .map(|award| award.subject_id)
        .collect();
    let already: HashSet<(Uuid, String)> = repo::held(conn, &all_ids, year)
        .await?
        .into_iter()
        .map(|row| (row.subject_id, row.title_code))
        .collect();
    let mut issued: BTreeMap<String, i64> =
        repo::issued_by_title(conn, request.issuer_organization_id, year)
            .await?
            .into_iter()
            .map(|row| (row.title_code, row.count))
            .collect();
    let mut in_decision: HashSet<(Uuid, String)> = HashSet::new();
    for (index, award) in request.awards.iter().enumerate() {
        let mut failed = Vec::new();
        let Some(title) = rules.content.title(&award.title_code) else {
            failed.push(format!(
                "{} is not a title of {} (version {})",
                award.title_code, rules.row.code, rules.row.version
            ));
            refusals.push((index, failed));
            continue;
        };
        if title.subject != award.subject_type.title_subject() {
            failed.push(format!(
                "{} is a title of the {} subject",
                title.code, title.subject
            ));
        }
        if !title
            .conferred_by
            .iter()
            .any(|kind| kind.as_str() == issuer_kind)
        {
            failed.push(format!(
                "a unit of kind {issuer_kind} does not confer {} (conferred by {})",
                title.code,
                title
                    .conferred_by
                    .iter()
                    .map(|kind| kind.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let Some(subject) = loaded.get(&award.subject_id) else {
            failed.push(format!("no such {}", award.subject_type));
            refusals.push((index, failed));
            continue;
        };
        if !subject.subject.path.starts_with(issuer_path) {
            failed.push("outside the issuer's subtree".to_owned());
        }
        let verdict = titles::verdict(
            rules,
            title,
            award.subject_type,
            year,
            crate::titles::service::end_of(year),
            subject,
        );
        if !verdict.registered {
            failed.push(format!("not registered for {} in {year}", title.code));
        }
        for check in verdict.checks.iter().filter(|check| !check.passed) {
            failed.push(check.detail.clone());
        }
        if let Some(vote) = &title.vote {
            match session {
                None => failed.push(format!(
                    "{} needs a council vote: name the session",
                    title.code
                )),
                Some(session) => {
                    let ballot = ballots.iter().find(|ballot| {
                        ballot.subject().1 == award.subject_id && ballot.title_code == title.code
                    });
                    match ballot {
                        None => failed.push(format!("no ballot on {} in the session", title.code)),
                        Some(ballot) => {
                            let result = tally(
                                vote,
                                session.members_total,
                                session.members_present,
                                ballot.approve,
                            );
                            if !result.passed {
                                failed.push(format!("the council vote failed: {}", result.detail));
                            }
                        }
                    }
                }
            }
        }
        let key = (award.subject_id, title.code.clone());
        if already.contains(&key) {
            failed.push(format!("already holds {} for {year}", title.code));
        }
        if !in_decision.insert(key) {
            failed.push(format!(
                "{} is conferred twice on this subject in the decision",
                title.code
            ));
        }
        if failed.is_empty() {
            *issued.entry(title.code.clone()).or_default() += 1;
            approved.push((
                award.subject_type,
                award.subject_id,
                title.code.clone(),
                reward(title.reward_multiple, base_salary),
            ));
        } else {
            refusals.push((index, failed));
        }
    }
    // Quotas over the issuer's awards of the year, this decision's included.
    for (index, award) in request.awards.iter().enumerate() {
        let Some(title) = rules.content.title(&award.title_code) else {
            continue;
        };
        let Some(quota) = &title.quota else { continue };
        if refusals.iter().any(|(refused, _)| *refused == index) {
            continue;
        }
        let count = issued.get(&title.code).copied().unwrap_or(0);
        let of = issued.get(&quota.of_title).copied().unwrap_or(0);
        let over = u64::try_from(count).unwrap_or(0) * u64::from(quota.at_most.denominator)
            > u64::try_from(of).unwrap_or(0) * u64::from(quota.at_most.numerator);
        if over {
            refusals.push((
                index,
                vec![format!(
                    "over the quota: {count} {} of {of} {} in {year} by this issuer; at most {}",
                    title.code,
                    quota.of_title,
                    quota.at_most.percent()
                )],
            ));
        }
    }
    if refusals.is_empty() {
        let reward_total = approved.iter().map(|award| award.3).sum();
        return Ok(Approved {
            awards: approved,
            reward_total,
        });
    }
    refusals.sort_by_key(|(index, _)| *index);
    let errors: Vec<FieldError> = refusals
        .iter()
        .map(|(index, failed)| FieldError::new(format!("/awards/{index}"), failed.join("; ")))
        .collect();
    let refused: Vec<serde_json::Value> = refusals
        .iter()
        .map(|(index, failed)| {
            let award = &request.awards[*index];
            json!({
                "pointer": format!("/awards/{index}"),
                "subject_type": award.subject_type,
                "subject_id": award.subject_id,
                "title_code": award.title_code,
                "failed": failed,
            })
        })
        .collect();
    Err(AppError::award_not_allowed(
        format!(
            "{} of {} awards may not be conferred",
            refusals.len(),
            request.awards.len()
        ),
        errors,
    )
    .with_extra("refused", refused))
}
