//! The rules of the title cycle applied to stored subjects: which rule set is in force, the
//! facts of a batch of subjects in a few queries, and their verdicts.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use diesel_async::AsyncPgConnection;
use futures_util::future::{try_join, try_join3, try_join4};
use uuid::Uuid;

use super::dto::{EligibilityDto, RuleSetDto, RuleSetRef};
use super::repo::{self, RuleSetRow, SubjectRow};
use super::rules::{
    Condition, Evaluator, Facts, RuleSetContent, SubjectFacts, SubjectType, TitleRule, YearFacts,
};
use crate::error::{AppError, AppResult};

/// A stored rule set with its content read back.
pub struct InForce {
    pub row: RuleSetRow,
    pub content: RuleSetContent,
}

impl InForce {
    pub fn reference(&self) -> RuleSetRef {
        RuleSetRef {
            id: self.row.id,
            code: self.row.code.clone(),
            version: self.row.version,
            name: self.row.name.clone(),
            legal_basis: self.content.legal_basis.clone(),
        }
    }

    /// The title `code`, or a 422 at `pointer` naming the rule set and its titles.
    pub fn title(&self, code: &str, pointer: &str) -> AppResult<&TitleRule> {
        self.content.title(code).ok_or_else(|| {
            let known: Vec<&str> = self
                .content
                .titles
                .iter()
                .map(|title| title.code.as_str())
                .collect();
            AppError::field(
                pointer,
                format!(
                    "{code} is not a title of {} (version {}); its titles are {}",
                    self.row.code,
                    self.row.version,
                    known.join(", ")
                ),
            )
        })
    }
}

pub fn content_of(row: &RuleSetRow) -> AppResult<RuleSetContent> {
    let titles = serde_json::from_value(row.titles.clone()).map_err(|error| {
        AppError::internal(anyhow::anyhow!(
            "rule set {} holds unreadable titles: {error}",
            row.id
        ))
    })?;
    Ok(RuleSetContent {
        code: row.code.clone(),
        name: row.name.clone(),
        legal_basis: row.legal_basis.iter().flatten().cloned().collect(),
        effective_from: row.effective_from,
        effective_to: row.effective_to,
        titles,
        notes: row.notes.clone(),
    })
}

pub fn to_dto(row: RuleSetRow) -> AppResult<RuleSetDto> {
    let content = content_of(&row)?;
    Ok(RuleSetDto {
        id: row.id,
        code: row.code,
        version: row.version,
        name: row.name,
        legal_basis: content.legal_basis,
        effective_from: row.effective_from,
        effective_to: row.effective_to,
        titles: content.titles,
        notes: row.notes,
        current: row.current,
        supersedes: row.supersedes,
        created_at: row.created_at,
    })
}

/// The last day of `year`: titles of a year are judged by the rules in force when it ends.
pub fn end_of(year: i32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, 12, 31).unwrap_or(NaiveDate::MAX)
}

/// The first day of `year`.
pub fn start_of(year: i32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, 1, 1).unwrap_or(NaiveDate::MIN)
}

/// The rule set in force on `day`, or a 422 at `pointer`.
pub async fn in_force(
    conn: &mut AsyncPgConnection,
    day: NaiveDate,
    pointer: &str,
) -> AppResult<InForce> {
    let row = repo::rule_set_on(conn, day)
        .await?
        .ok_or_else(|| AppError::field(pointer, format!("no rule set is in force on {day}")))?;
    let content = content_of(&row)?;
    Ok(InForce { row, content })
}

/// How many years back the conditions of `rules` read (consecutive years).
fn years_back(rules: &RuleSetContent) -> i32 {
    fn of(condition: &Condition) -> i32 {
        match condition {
            Condition::ConsecutiveYears { years, .. } => i32::from(*years),
            Condition::AnyOf { conditions } => conditions.iter().map(of).max().unwrap_or(1),
            _ => 1,
        }
    }
    rules
        .titles
        .iter()
        .flat_map(|title| title.conditions.iter().map(of))
        .max()
        .unwrap_or(1)
}

/// A subject with its facts, ready to evaluate.
pub struct Loaded {
    pub subject: SubjectRow,
    pub facts: SubjectFacts,
}

/// The facts of the subjects `ids` (all of `subject_type`) for `year`, in four or five queries
/// whatever their number, sent in one round trip (persons) or two (collectives); subjects that
/// do not exist are left out.
pub async fn load(
    conn: &mut AsyncPgConnection,
    rules: &RuleSetContent,
    subject_type: SubjectType,
    ids: &[Uuid],
    year: i32,
) -> AppResult<Vec<Loaded>> {
    // One round trip per stage: the statements of a stage are sent together (pipelined) and
    // need nothing from each other. A person's facts are read by the requested ids (facts of an
    // id that is not a person are never looked up); a collective's also cover its members, so
    // they wait for the members.
    let conn: &AsyncPgConnection = conn;
    let first = year - years_back(rules) + 1;
    let (subjects, members, facts_read) = match subject_type {
        SubjectType::Person => {
            let (subjects, records, registered, awarded) = try_join4(
                repo::subjects(conn, subject_type, ids),
                repo::records(conn, ids, year),
                repo::registered(conn, ids, year),
                repo::awarded(conn, ids, first, year),
            )
            .await?;
            (subjects, Vec::new(), (records, registered, awarded))
        }
        SubjectType::Organization => {
            let (subjects, members) = try_join(
                repo::subjects(conn, subject_type, ids),
                repo::members(conn, ids),
            )
            .await?;
            let everyone: Vec<Uuid> = subjects
                .iter()
                .map(|subject| subject.id)
                .chain(members.iter().map(|member| member.id))
                .collect();
            let read = try_join3(
                repo::records(conn, &everyone, year),
                repo::registered(conn, &everyone, year),
                repo::awarded(conn, &everyone, first, year),
            )
            .await?;
            (subjects, members, read)
        }
    };
    let (records, registrations, awards) = facts_read;
    let mut facts: HashMap<Uuid, Facts> = subjects
        .iter()
        .chain(members.iter())
        .map(|subject| {
            (
                subject.id,
                Facts {
                    name: subject.name.clone(),
                    ..Facts::default()
                },
            )
        })
        .collect();
    for record in records {
        if let Some(entry) = facts.get_mut(&record.subject_id) {
            entry.record = Some(YearFacts {
                rating: record.completion_rating,
                initiative: record.initiative,
                discipline: Some(record.discipline),
            });
        }
    }
    for registration in registrations {
        if let Some(entry) = facts.get_mut(&registration.subject_id) {
            entry.registered.insert(registration.title_code);
        }
    }
    for award in awards {
        if let Some(entry) = facts.get_mut(&award.subject_id) {
            entry
                .awarded
                .entry(award.year)
                .or_default()
                .insert(award.title_code);
        }
    }
    let mut members_of: BTreeMap<Uuid, Vec<Facts>> = BTreeMap::new();
    for member in &members {
        if let Some(found) = facts.get(&member.id) {
            members_of
                .entry(member.organization_id)
                .or_default()
                .push(found.clone());
        }
    }
    Ok(subjects
        .into_iter()
        .map(|subject| {
            let own = facts.remove(&subject.id).unwrap_or_default();
            let members = members_of.remove(&subject.id).unwrap_or_default();
            Loaded {
                subject,
                facts: SubjectFacts { own, members },
            }
        })
        .collect())
}

/// The answer of `GET /eligibility` for one loaded subject.
pub fn verdict(
    rules: &InForce,
    title: &TitleRule,
    subject_type: SubjectType,
    year: i32,
    on: NaiveDate,
    loaded: &Loaded,
) -> EligibilityDto {
    let evaluator = Evaluator {
        rules: &rules.content,
        year,
    };
    let verdict = evaluator.evaluate(title, &loaded.facts);
    EligibilityDto {
        subject_type,
        subject_id: loaded.subject.id,
        subject_name: loaded.subject.name.clone(),
        organization_id: loaded.subject.organization_id,
        title_code: title.code.clone(),
        title_name: title.name.clone(),
        year,
        on,
        eligible: verdict.eligible,
        registered: verdict.registered,
        rule_set: rules.reference(),
        checks: verdict.checks,
    }
}
