//! The rules of the title cycle as data, and the pure evaluator of their conditions
//! (docs/design.md § The annual title cycle).
//!
//! A rule set lists titles; a title names its subject, the kinds of unit whose head confers it,
//! its conditions (all must hold), its council vote, its quota and its reward. Conditions are
//! the closed set of [`Condition`]: typed predicates over a subject's year record, its awards
//! and its members, never code. [`evaluate`] decides one subject, title and year from
//! [`SubjectFacts`] already loaded, without a database, and explains every condition in words
//! a TĐKT officer reads ("chien_si_thi_dua_co_so in 2 of 3 consecutive years: 2024, 2025").

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::organizations::dto::OrganizationKind;
use crate::text::Checks;
use crate::text_enum;

text_enum! {
    /// The year-end completion rating of a person or a unit, worst first (so `>=` reads "at
    /// least").
    pub enum Rating {
        KhongHoanThanh = "khong_hoan_thanh",
        HoanThanh = "hoan_thanh",
        HoanThanhTot = "hoan_thanh_tot",
        HoanThanhXuatSac = "hoan_thanh_xuat_sac",
    }
}

text_enum! {
    /// The heaviest discipline of the year, lightest first (so `>=` reads "at or above").
    pub enum Discipline {
        None = "none",
        KhienTrach = "khien_trach",
        CanhCao = "canh_cao",
        CachChuc = "cach_chuc",
        BuocThoiViec = "buoc_thoi_viec",
    }
}

text_enum! {
    /// Whom a title is for.
    pub enum TitleSubject {
        /// A person.
        Individual = "individual",
        /// A unit (a collective is an organization; its members are its persons).
        Collective = "collective",
    }
}

text_enum! {
    /// What a subject of the cycle is.
    pub enum SubjectType {
        Person = "person",
        Organization = "organization",
    }
}

impl SubjectType {
    /// The title subject this type of subject may hold.
    pub fn title_subject(self) -> TitleSubject {
        match self {
            Self::Person => TitleSubject::Individual,
            Self::Organization => TitleSubject::Collective,
        }
    }
}

text_enum! {
    /// Of whom a council vote's threshold is counted.
    pub enum VoteBase {
        /// All members of the council.
        Members = "members",
        /// The members present at the session.
        Present = "present",
    }
}

/// An exact fraction (two thirds is not 66.67 %): `numerator / denominator`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Ratio {
    #[schema(minimum = 0, maximum = 1000)]
    pub numerator: u32,
    #[schema(minimum = 1, maximum = 1000)]
    pub denominator: u32,
}

impl Ratio {
    /// Whether `count` of `total` reaches the ratio (`strict`: exceeds it).
    pub fn reached_by(self, count: u64, total: u64, strict: bool) -> bool {
        let left = count * u64::from(self.denominator);
        let right = total * u64::from(self.numerator);
        if strict { left > right } else { left >= right }
    }

    /// The ratio in percent, for messages.
    pub fn percent(self) -> String {
        let tenths = (u64::from(self.numerator) * 1000 + u64::from(self.denominator) / 2)
            / u64::from(self.denominator.max(1));
        if tenths % 10 == 0 {
            format!("{}%", tenths / 10)
        } else {
            format!("{}.{}%", tenths / 10, tenths % 10)
        }
    }

    fn check(self, checks: &mut Checks, pointer: &str) {
        if self.denominator == 0 || self.numerator > self.denominator {
            checks.fail(
                pointer,
                "must be a fraction between 0 and 1 (numerator ≤ denominator, denominator ≥ 1)",
            );
        }
    }
}

/// One predicate of the closed set. All conditions of a title must hold; [`Condition::AnyOf`]
/// holds when one of its conditions does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Condition {
    /// The subject holds `title` in the year: awarded, or (in the year being decided)
    /// registered and eligible for it.
    HoldsTitle {
        #[schema(pattern = "^[a-z][a-z0-9_]{0,63}$", max_length = 64)]
        title: String,
    },
    /// The subject held `title` in each of the `years` consecutive years up to this one (past
    /// years by unrevoked awards only).
    ConsecutiveYears {
        #[schema(pattern = "^[a-z][a-z0-9_]{0,63}$", max_length = 64)]
        title: String,
        #[schema(minimum = 2, maximum = 10)]
        years: u8,
    },
    /// The year's completion rating is at least `rating`.
    RatingAtLeast { rating: Rating },
    /// A recognised initiative (sáng kiến) in the year.
    Initiative,
    /// No discipline at or above `discipline` in the year.
    NoDisciplineAtOrAbove { discipline: Discipline },
    /// At least (`strict`: more than) `at_least` of the unit's members hold `title`.
    MembersShareHolding {
        #[schema(pattern = "^[a-z][a-z0-9_]{0,63}$", max_length = 64)]
        title: String,
        at_least: Ratio,
        #[serde(default)]
        strict: bool,
    },
    /// At least `at_least` of the unit's members hold `title`.
    MembersCountHolding {
        #[schema(pattern = "^[a-z][a-z0-9_]{0,63}$", max_length = 64)]
        title: String,
        #[schema(minimum = 1, maximum = 100000)]
        at_least: u32,
    },
    /// Every member of the unit is rated at least `rating`.
    AllMembersRatedAtLeast { rating: Rating },
    /// No member of the unit is disciplined at or above `discipline`.
    NoMemberDisciplineAtOrAbove { discipline: Discipline },
    /// One of `conditions` holds.
    AnyOf {
        #[schema(no_recursion, min_items = 2, max_items = 10)]
        conditions: Vec<Condition>,
    },
}

impl Condition {
    /// The titles this condition reads in the year being decided (which must not lead back to
    /// the title itself).
    fn same_year_titles(&self, into: &mut Vec<String>) {
        match self {
            Self::HoldsTitle { title }
            | Self::ConsecutiveYears { title, .. }
            | Self::MembersShareHolding { title, .. }
            | Self::MembersCountHolding { title, .. } => into.push(title.clone()),
            Self::AnyOf { conditions } => {
                for condition in conditions {
                    condition.same_year_titles(into);
                }
            }
            Self::RatingAtLeast { .. }
            | Self::Initiative
            | Self::NoDisciplineAtOrAbove { .. }
            | Self::AllMembersRatedAtLeast { .. }
            | Self::NoMemberDisciplineAtOrAbove { .. } => {}
        }
    }

    fn reads_members(&self) -> bool {
        match self {
            Self::MembersShareHolding { .. }
            | Self::MembersCountHolding { .. }
            | Self::AllMembersRatedAtLeast { .. }
            | Self::NoMemberDisciplineAtOrAbove { .. } => true,
            Self::AnyOf { conditions } => conditions.iter().any(Self::reads_members),
            _ => false,
        }
    }

    fn depth(&self) -> usize {
        match self {
            Self::AnyOf { conditions } => 1 + conditions.iter().map(Self::depth).max().unwrap_or(0),
            _ => 1,
        }
    }

    /// The condition in words, without the facts.
    pub fn describe(&self) -> String {
        match self {
            Self::HoldsTitle { title } => format!("holds {title} in the year"),
            Self::ConsecutiveYears { title, years } => {
                format!("{title} in {years} consecutive years up to this one")
            }
            Self::RatingAtLeast { rating } => format!("rated at least {rating}"),
            Self::Initiative => "a recognised initiative".to_owned(),
            Self::NoDisciplineAtOrAbove { discipline } => {
                format!("no discipline at or above {discipline}")
            }
            Self::MembersShareHolding {
                title,
                at_least,
                strict,
            } => format!(
                "{} {} of the members hold {title}",
                if *strict { "more than" } else { "at least" },
                at_least.percent()
            ),
            Self::MembersCountHolding { title, at_least } => {
                format!("at least {at_least} member(s) hold {title}")
            }
            Self::AllMembersRatedAtLeast { rating } => {
                format!("every member rated at least {rating}")
            }
            Self::NoMemberDisciplineAtOrAbove { discipline } => {
                format!("no member disciplined at or above {discipline}")
            }
            Self::AnyOf { conditions } => format!(
                "any of: {}",
                conditions
                    .iter()
                    .map(Self::describe)
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        }
    }
}

/// A council vote a title needs (Hội đồng thi đua – khen thưởng, secret ballot).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VoteRule {
    /// Share of approvals needed.
    pub threshold: Ratio,
    /// Counted of all council members or of those present.
    pub of: VoteBase,
    /// Share of the members that must be present.
    pub quorum: Ratio,
    #[serde(default = "yes")]
    pub secret_ballot: bool,
}

fn yes() -> bool {
    true
}

/// At most `at_most` of the subjects the issuer awards `of_title` in the year.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct QuotaRule {
    pub at_most: Ratio,
    #[schema(pattern = "^[a-z][a-z0-9_]{0,63}$", max_length = 64)]
    pub of_title: String,
}

/// Where a figure of the rules comes from, and whether that source is secondary (the primary
/// text was not found): admins publish a corrected version when they find it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Source {
    /// What the source covers ("vote threshold", "reward multiple", …).
    #[schema(min_length = 1, max_length = 200)]
    pub figure: String,
    /// The text: "Luật 06/2022/QH15 điều 24", …
    #[schema(min_length = 1, max_length = 500)]
    pub reference: String,
    #[serde(default)]
    pub secondary: bool,
}

/// A title (danh hiệu) or form of commendation of a rule set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TitleRule {
    /// Stable code (`chien_si_thi_dua_co_so`).
    #[schema(pattern = "^[a-z][a-z0-9_]{0,63}$", max_length = 64)]
    pub code: String,
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    pub subject: TitleSubject,
    /// The kinds of unit whose head confers it.
    #[schema(min_items = 1, max_items = 12)]
    pub conferred_by: Vec<OrganizationKind>,
    /// All must hold.
    #[schema(max_items = 20)]
    pub conditions: Vec<Condition>,
    /// The council vote it needs, if any.
    pub vote: Option<VoteRule>,
    /// Its quota over the issuer's awards of the year, if any.
    pub quota: Option<QuotaRule>,
    /// The reward as a multiple of the base salary in force on the decision's day.
    #[schema(minimum = 0, maximum = 100)]
    pub reward_multiple: f64,
    #[serde(default)]
    #[schema(max_items = 20)]
    pub sources: Vec<Source>,
}

/// The content of a rule set: what `POST /rule-sets` takes and the data files ship.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RuleSetContent {
    /// The code of the legal text (`nd-152-2025`); posting an existing code publishes its
    /// next version.
    #[schema(pattern = "^[a-z0-9][a-z0-9-]{0,63}$", max_length = 64)]
    pub code: String,
    #[schema(min_length = 1, max_length = 300)]
    pub name: String,
    /// The legal texts, most specific last.
    #[schema(schema_with = legal_basis_schema)]
    pub legal_basis: Vec<String>,
    #[serde(serialize_with = "crate::json_dates::date")]
    pub effective_from: NaiveDate,
    /// Last day in force, inclusive; `null` while in force.
    #[serde(serialize_with = "crate::json_dates::date_opt")]
    pub effective_to: Option<NaiveDate>,
    #[schema(min_items = 1, max_items = 100)]
    pub titles: Vec<TitleRule>,
    #[schema(max_length = 2000)]
    pub notes: Option<String>,
}

/// 1–20 legal texts of 1–300 characters each.
fn legal_basis_schema() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(300)),
        )
        .min_items(Some(1))
        .max_items(Some(20))
        .description(Some("The legal texts, most specific last."))
        .build()
}

impl RuleSetContent {
    pub fn title(&self, code: &str) -> Option<&TitleRule> {
        self.titles.iter().find(|title| title.code == code)
    }

    /// Every rule the shape of the document does not say: unique codes, conditions naming
    /// titles of the set, member conditions on collectives only, no title that needs itself
    /// in the year being decided, sane fractions and multiples.
    pub fn check(&self, checks: &mut Checks) {
        let code_ok = |code: &str| {
            let mut chars = code.chars();
            chars.next().is_some_and(|c| c.is_ascii_lowercase())
                && code.len() <= 64
                && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        };
        if !(1..=64).contains(&self.code.len())
            || !self
                .code
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            checks.fail(
                "/code",
                "must be 1–64 lower-case letters, digits and hyphens",
            );
        }
        checks.length("/name", &self.name, 1, 300);
        for (index, basis) in self.legal_basis.iter().enumerate() {
            checks.length(&format!("/legal_basis/{index}"), basis, 1, 300);
        }
        if self.legal_basis.is_empty() {
            checks.fail("/legal_basis", "must name at least one legal text");
        }
        if let Some(to) = self.effective_to
            && to < self.effective_from
        {
            checks.fail("/effective_to", "must not be before effective_from");
        }
        if self.titles.is_empty() {
            checks.fail("/titles", "must list at least one title");
        }
        let mut seen = BTreeSet::new();
        for (index, title) in self.titles.iter().enumerate() {
            let at = format!("/titles/{index}");
            if !code_ok(&title.code) {
                checks.fail(
                    &format!("{at}/code"),
                    "must be a snake_case code of at most 64 characters",
                );
            } else if !seen.insert(title.code.as_str()) {
                checks.fail(
                    &format!("{at}/code"),
                    format!("{} is listed twice", title.code),
                );
            }
            checks.length(&format!("{at}/name"), &title.name, 1, 200);
            if title.conferred_by.is_empty() {
                checks.fail(
                    &format!("{at}/conferred_by"),
                    "must name at least one kind of unit",
                );
            }
            if !title.reward_multiple.is_finite() || !(0.0..=100.0).contains(&title.reward_multiple)
            {
                checks.fail(
                    &format!("{at}/reward_multiple"),
                    "must be between 0 and 100",
                );
            }
            if let Some(vote) = &title.vote {
                vote.threshold
                    .check(checks, &format!("{at}/vote/threshold"));
                vote.quorum.check(checks, &format!("{at}/vote/quorum"));
            }
            if let Some(quota) = &title.quota {
                quota.at_most.check(checks, &format!("{at}/quota/at_most"));
                if self.title(&quota.of_title).is_none() {
                    checks.fail(
                        &format!("{at}/quota/of_title"),
                        format!("{} is not a title of this rule set", quota.of_title),
                    );
                }
            }
            for (position, condition) in title.conditions.iter().enumerate() {
                self.check_condition(
                    checks,
                    &format!("{at}/conditions/{position}"),
                    title,
                    condition,
                );
            }
        }
        for (index, title) in self.titles.iter().enumerate() {
            if self.needs_itself(&title.code) {
                checks.fail(
                    &format!("/titles/{index}/conditions"),
                    format!(
                        "{} needs itself in the year being decided (through its conditions)",
                        title.code
                    ),
                );
            }
        }
    }

    fn check_condition(
        &self,
        checks: &mut Checks,
        at: &str,
        title: &TitleRule,
        condition: &Condition,
    ) {
        if condition.depth() > 3 {
            checks.fail(at, "any_of may nest at most twice");
            return;
        }
        if condition.reads_members() && title.subject != TitleSubject::Collective {
            checks.fail(at, "conditions on members apply to collective titles only");
        }
        let named = match condition {
            Condition::HoldsTitle { title }
            | Condition::ConsecutiveYears { title, .. }
            | Condition::MembersShareHolding { title, .. }
            | Condition::MembersCountHolding { title, .. } => Some(title),
            _ => None,
        };
        if let Some(named) = named {
            match self.title(named) {
                None => checks.fail(
                    &format!("{at}/title"),
                    format!("{named} is not a title of this rule set"),
                ),
                Some(named_title) => {
                    let wanted = if matches!(
                        condition,
                        Condition::MembersShareHolding { .. }
                            | Condition::MembersCountHolding { .. }
                    ) {
                        TitleSubject::Individual
                    } else {
                        title.subject
                    };
                    if named_title.subject != wanted {
                        checks.fail(
                            &format!("{at}/title"),
                            format!(
                                "{named} is a title of the {} subject, not of the {wanted}",
                                named_title.subject
                            ),
                        );
                    }
                }
            }
        }
        match condition {
            Condition::ConsecutiveYears { years, .. } if !(2..=10).contains(years) => {
                checks.fail(&format!("{at}/years"), "must be 2 to 10");
            }
            Condition::MembersShareHolding { at_least, .. } => {
                at_least.check(checks, &format!("{at}/at_least"));
            }
            Condition::MembersCountHolding { at_least: 0, .. } => {
                checks.fail(&format!("{at}/at_least"), "must be at least 1");
            }
            Condition::AnyOf { conditions } => {
                if conditions.len() < 2 {
                    checks.fail(
                        &format!("{at}/conditions"),
                        "must list at least two conditions",
                    );
                }
                for (index, inner) in conditions.iter().enumerate() {
                    self.check_condition(checks, &format!("{at}/conditions/{index}"), title, inner);
                }
            }
            _ => {}
        }
    }

    /// Whether deciding `code` in a year needs `code` in the same year, through the titles its
    /// conditions read.
    fn needs_itself(&self, code: &str) -> bool {
        let mut stack: Vec<String> = Vec::new();
        if let Some(title) = self.title(code) {
            for condition in &title.conditions {
                condition.same_year_titles(&mut stack);
            }
        }
        let mut visited = BTreeSet::new();
        while let Some(next) = stack.pop() {
            if next == code {
                return true;
            }
            if visited.insert(next.clone())
                && let Some(title) = self.title(&next)
            {
                for condition in &title.conditions {
                    condition.same_year_titles(&mut stack);
                }
            }
        }
        false
    }
}

/// A subject's record of one year.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct YearFacts {
    pub rating: Option<Rating>,
    pub initiative: Option<String>,
    pub discipline: Option<Discipline>,
}

/// What the evaluator knows of one subject: its name (for messages), its record of the year
/// asked about, the titles it registered that year and its unrevoked awards by year.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub name: String,
    /// `None`: no record of the year.
    pub record: Option<YearFacts>,
    pub registered: BTreeSet<String>,
    pub awarded: BTreeMap<i32, BTreeSet<String>>,
}

impl Facts {
    fn awarded_in(&self, year: i32, title: &str) -> bool {
        self.awarded
            .get(&year)
            .is_some_and(|titles| titles.contains(title))
    }
}

/// A subject with, for a collective, the facts of each of its members.
#[derive(Debug, Clone, Default)]
pub struct SubjectFacts {
    pub own: Facts,
    pub members: Vec<Facts>,
}

/// One condition's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Check {
    pub condition: Condition,
    pub passed: bool,
    /// In words: what was required and what was found.
    pub detail: String,
    /// What was found, as data (years, counts, the rating …).
    pub found: Value,
}

/// The outcome of one subject, title and year.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub registered: bool,
    pub eligible: bool,
    pub checks: Vec<Check>,
}

/// How a subject holds a title in a year.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Holding {
    Awarded,
    /// Registered and eligible in the year being decided.
    Eligible,
    NotHeld,
}

/// Evaluates titles of one rule set for the year being decided.
pub struct Evaluator<'a> {
    pub rules: &'a RuleSetContent,
    pub year: i32,
}

impl Evaluator<'_> {
    /// Whether `subject` may be proposed for `title` this year: registered, and every condition
    /// holds.
    pub fn evaluate(&self, title: &TitleRule, subject: &SubjectFacts) -> Verdict {
        let checks: Vec<Check> = title
            .conditions
            .iter()
            .map(|condition| self.check(condition, &subject.own, &subject.members, 0))
            .collect();
        let registered = subject.own.registered.contains(&title.code);
        Verdict {
            registered,
            eligible: registered && checks.iter().all(|check| check.passed),
            checks,
        }
    }

    /// Whether `facts` (with `members`) hold `title` in `year`.
    fn holding(
        &self,
        title: &str,
        year: i32,
        facts: &Facts,
        members: &[Facts],
        depth: usize,
    ) -> Holding {
        if facts.awarded_in(year, title) {
            return Holding::Awarded;
        }
        if year != self.year || !facts.registered.contains(title) || depth > 8 {
            return Holding::NotHeld;
        }
        let Some(rule) = self.rules.title(title) else {
            return Holding::NotHeld;
        };
        let all = rule
            .conditions
            .iter()
            .all(|condition| self.check(condition, facts, members, depth + 1).passed);
        if all {
            Holding::Eligible
        } else {
            Holding::NotHeld
        }
    }

    fn check(
        &self,
        condition: &Condition,
        facts: &Facts,
        members: &[Facts],
        depth: usize,
    ) -> Check {
        let year = self.year;
        let (passed, detail, found) = match condition {
            Condition::RatingAtLeast { rating } => {
                match facts.record.as_ref().and_then(|r| r.rating) {
                    Some(found) => (
                        found >= *rating,
                        format!("rated {found} in {year}; at least {rating} required"),
                        json!({ "rating": found }),
                    ),
                    None => (
                        false,
                        format!(
                            "no completion rating recorded for {year}; at least {rating} required"
                        ),
                        json!({ "rating": null }),
                    ),
                }
            }
            Condition::Initiative => {
                match facts.record.as_ref().and_then(|r| r.initiative.as_deref()) {
                    Some(initiative) => (
                        true,
                        format!("recognised initiative in {year}: {initiative}"),
                        json!({ "initiative": initiative }),
                    ),
                    None => (
                        false,
                        format!("no recognised initiative recorded for {year}"),
                        json!({ "initiative": null }),
                    ),
                }
            }
            Condition::NoDisciplineAtOrAbove { discipline } => {
                let found = facts
                    .record
                    .as_ref()
                    .and_then(|r| r.discipline)
                    .unwrap_or(Discipline::None);
                if found >= *discipline {
                    (
                        false,
                        format!("disciplined {found} in {year}; {discipline} or heavier excludes"),
                        json!({ "discipline": found }),
                    )
                } else {
                    let words = if found == Discipline::None {
                        format!("no discipline in {year}")
                    } else {
                        format!("disciplined {found} in {year}, lighter than {discipline}")
                    };
                    (true, words, json!({ "discipline": found }))
                }
            }
            Condition::HoldsTitle { title } => {
                match self.holding(title, year, facts, members, depth) {
                    Holding::Awarded => (
                        true,
                        format!("{title} awarded in {year}"),
                        json!({ "holding": "awarded" }),
                    ),
                    Holding::Eligible => (
                        true,
                        format!("{title} in {year}: registered and eligible (proposed together)"),
                        json!({ "holding": "eligible" }),
                    ),
                    Holding::NotHeld if !facts.registered.contains(title) => (
                        false,
                        format!("{title} in {year}: not awarded and not registered"),
                        json!({ "holding": null }),
                    ),
                    Holding::NotHeld => (
                        false,
                        format!("{title} in {year}: not awarded, and its conditions are not met"),
                        json!({ "holding": null }),
                    ),
                }
            }
            Condition::ConsecutiveYears { title, years } => {
                let required: Vec<i32> = (0..i32::from(*years))
                    .rev()
                    .map(|back| year - back)
                    .collect();
                let held: Vec<i32> = required
                    .iter()
                    .copied()
                    .filter(|&y| self.holding(title, y, facts, members, depth) != Holding::NotHeld)
                    .collect();
                let listed = if held.is_empty() {
                    "none".to_owned()
                } else {
                    held.iter()
                        .map(i32::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                (
                    held.len() == required.len(),
                    format!(
                        "{title} in {} of {years} consecutive years: {listed}",
                        held.len()
                    ),
                    json!({ "years_held": held, "years_required": required }),
                )
            }
            Condition::MembersShareHolding {
                title,
                at_least,
                strict,
            } => {
                let total = members.len() as u64;
                let holders = self.holders(title, members, depth);
                let share = if total == 0 {
                    "no members recorded".to_owned()
                } else {
                    format!(
                        "{holders} of {total} members ({}) hold {title} in {year}",
                        Ratio {
                            numerator: u32::try_from(holders).unwrap_or(u32::MAX),
                            denominator: u32::try_from(total).unwrap_or(u32::MAX),
                        }
                        .percent()
                    )
                };
                (
                    total > 0 && at_least.reached_by(holders, total, *strict),
                    format!(
                        "{share}; {} {} required",
                        if *strict { "more than" } else { "at least" },
                        at_least.percent()
                    ),
                    json!({ "holders": holders, "members": total }),
                )
            }
            Condition::MembersCountHolding { title, at_least } => {
                let holders = self.holders(title, members, depth);
                (
                    holders >= u64::from(*at_least),
                    format!(
                        "{holders} member(s) hold {title} in {year}; at least {at_least} required"
                    ),
                    json!({ "holders": holders, "members": members.len() }),
                )
            }
            Condition::AllMembersRatedAtLeast { rating } => {
                let below: Vec<&str> = members
                    .iter()
                    .filter(|member| {
                        member
                            .record
                            .as_ref()
                            .and_then(|r| r.rating)
                            .is_none_or(|found| found < *rating)
                    })
                    .map(|member| member.name.as_str())
                    .collect();
                let detail = if members.is_empty() {
                    "no members recorded".to_owned()
                } else if below.is_empty() {
                    format!(
                        "all {} members rated at least {rating} in {year}",
                        members.len()
                    )
                } else {
                    format!(
                        "{} of {} members rated below {rating} or not rated in {year}: {}",
                        below.len(),
                        members.len(),
                        below.join(", ")
                    )
                };
                (
                    !members.is_empty() && below.is_empty(),
                    detail,
                    json!({ "below": below, "members": members.len() }),
                )
            }
            Condition::NoMemberDisciplineAtOrAbove { discipline } => {
                let disciplined: Vec<String> = members
                    .iter()
                    .filter_map(|member| {
                        let found = member.record.as_ref().and_then(|r| r.discipline)?;
                        (found >= *discipline).then(|| format!("{} ({found})", member.name))
                    })
                    .collect();
                let detail = if disciplined.is_empty() {
                    format!("no member disciplined {discipline} or heavier in {year}")
                } else {
                    format!(
                        "{} member(s) disciplined {discipline} or heavier in {year}: {}",
                        disciplined.len(),
                        disciplined.join(", ")
                    )
                };
                (
                    disciplined.is_empty(),
                    detail,
                    json!({ "disciplined": disciplined }),
                )
            }
            Condition::AnyOf { conditions } => {
                let inner: Vec<Check> = conditions
                    .iter()
                    .map(|condition| self.check(condition, facts, members, depth))
                    .collect();
                let met: Vec<&str> = inner
                    .iter()
                    .filter(|check| check.passed)
                    .map(|check| check.detail.as_str())
                    .collect();
                let detail = if met.is_empty() {
                    format!(
                        "none of: {}",
                        inner
                            .iter()
                            .map(|check| check.detail.as_str())
                            .collect::<Vec<_>>()
                            .join("; ")
                    )
                } else {
                    format!("met: {}", met.join("; "))
                };
                (
                    !met.is_empty(),
                    detail,
                    serde_json::to_value(&inner).unwrap_or(Value::Null),
                )
            }
        };
        Check {
            condition: condition.clone(),
            passed,
            detail,
            found,
        }
    }

    fn holders(&self, title: &str, members: &[Facts], depth: usize) -> u64 {
        members
            .iter()
            .filter(|member| self.holding(title, self.year, member, &[], depth) != Holding::NotHeld)
            .count() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shipped Decree 152/2025 rule set, as the data file says.
    fn decree_152() -> RuleSetContent {
        serde_json::from_str(include_str!("../../data/rule-sets/nd-152-2025.json"))
            .unwrap_or_else(|error| panic!("nd-152-2025.json: {error}"))
    }

    fn record(rating: Rating) -> Option<YearFacts> {
        Some(YearFacts {
            rating: Some(rating),
            initiative: None,
            discipline: Some(Discipline::None),
        })
    }

    fn person(name: &str, rating: Option<Rating>, registered: &[&str]) -> Facts {
        Facts {
            name: name.to_owned(),
            record: rating.and_then(record),
            registered: registered.iter().map(|t| (*t).to_owned()).collect(),
            awarded: BTreeMap::new(),
        }
    }

    fn award(facts: &mut Facts, year: i32, title: &str) {
        facts
            .awarded
            .entry(year)
            .or_default()
            .insert(title.to_owned());
    }

    fn verdict(title: &str, subject: &SubjectFacts) -> Verdict {
        let rules = decree_152();
        let evaluator = Evaluator {
            rules: &rules,
            year: 2025,
        };
        let title = rules.title(title).unwrap_or_else(|| panic!("no {title}"));
        evaluator.evaluate(title, subject)
    }

    fn single(facts: Facts) -> SubjectFacts {
        SubjectFacts {
            own: facts,
            members: Vec::new(),
        }
    }

    const LDTT: &str = "lao_dong_tien_tien";
    const CSTDCS: &str = "chien_si_thi_dua_co_so";
    const CSTDT: &str = "chien_si_thi_dua_tinh";

    #[test]
    fn the_shipped_rule_sets_pass_their_own_checks() {
        for text in [
            include_str!("../../data/rule-sets/nd-98-2023.json"),
            include_str!("../../data/rule-sets/nd-152-2025.json"),
        ] {
            let rules: RuleSetContent =
                serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}"));
            let mut checks = Checks::default();
            rules.check(&mut checks);
            assert!(
                checks.errors.is_empty(),
                "{}: {:?}",
                rules.code,
                checks.errors
            );
        }
    }

    #[test]
    fn lao_dong_tien_tien_by_rating_and_discipline() {
        // (rating, discipline, registered, eligible)
        let table = [
            (Some(Rating::HoanThanhXuatSac), Discipline::None, true, true),
            (Some(Rating::HoanThanhTot), Discipline::None, true, true),
            (Some(Rating::HoanThanh), Discipline::None, true, false),
            (Some(Rating::KhongHoanThanh), Discipline::None, true, false),
            (None, Discipline::None, true, false),
            (
                Some(Rating::HoanThanhTot),
                Discipline::KhienTrach,
                true,
                false,
            ),
            (Some(Rating::HoanThanhTot), Discipline::None, false, false),
        ];
        for (rating, discipline, registered, eligible) in table {
            let mut facts = person("A", rating, if registered { &[LDTT] } else { &[] });
            if let Some(record) = facts.record.as_mut() {
                record.discipline = Some(discipline);
            }
            let found = verdict(LDTT, &single(facts));
            assert_eq!(
                found.eligible, eligible,
                "{rating:?} {discipline:?} {registered}: {found:?}"
            );
            assert_eq!(found.registered, registered);
        }
    }

    #[test]
    fn chien_si_co_so_needs_its_lao_dong_tien_tien_and_an_initiative_or_excellence() {
        // Registered for both and rated excellent: eligible, proposed together.
        let facts = person("A", Some(Rating::HoanThanhXuatSac), &[LDTT, CSTDCS]);
        let found = verdict(CSTDCS, &single(facts));
        assert!(found.eligible, "{found:?}");
        assert!(
            found
                .checks
                .iter()
                .any(|c| c.detail.contains("registered and eligible")),
            "{found:?}"
        );

        // Rated good without an initiative: the any-of fails.
        let facts = person("B", Some(Rating::HoanThanhTot), &[LDTT, CSTDCS]);
        let found = verdict(CSTDCS, &single(facts));
        assert!(!found.eligible);
        let failed: Vec<&Check> = found.checks.iter().filter(|c| !c.passed).collect();
        assert_eq!(failed.len(), 1, "{found:?}");
        assert!(
            failed[0].detail.starts_with("none of:"),
            "{}",
            failed[0].detail
        );

        // Rated good with an initiative: eligible.
        let mut facts = person("C", Some(Rating::HoanThanhTot), &[LDTT, CSTDCS]);
        if let Some(record) = facts.record.as_mut() {
            record.initiative = Some("Số hóa hồ sơ một cửa".to_owned());
        }
        assert!(verdict(CSTDCS, &single(facts)).eligible);

        // Not registered for lao_dong_tien_tien: its condition says so.
        let facts = person("D", Some(Rating::HoanThanhXuatSac), &[CSTDCS]);
        let found = verdict(CSTDCS, &single(facts));
        assert!(!found.eligible);
        assert!(
            found
                .checks
                .iter()
                .any(|c| c.detail.contains("not awarded and not registered")),
            "{found:?}"
        );
    }

    #[test]
    fn chien_si_tinh_counts_three_consecutive_years_by_awards_before_this_one() {
        let base = || person("A", Some(Rating::HoanThanhXuatSac), &[LDTT, CSTDCS, CSTDT]);
        // 2023 and 2024 awarded, 2025 eligible: three in a row.
        let mut facts = base();
        award(&mut facts, 2023, CSTDCS);
        award(&mut facts, 2024, CSTDCS);
        let found = verdict(CSTDT, &single(facts));
        assert!(found.eligible, "{found:?}");

        // Only 2024: two of three.
        let mut facts = base();
        award(&mut facts, 2024, CSTDCS);
        let found = verdict(CSTDT, &single(facts));
        assert!(!found.eligible);
        let chain = found
            .checks
            .iter()
            .find(|c| matches!(c.condition, Condition::ConsecutiveYears { .. }))
            .unwrap_or_else(|| panic!("{found:?}"));
        assert_eq!(
            chain.detail,
            "chien_si_thi_dua_co_so in 2 of 3 consecutive years: 2024, 2025"
        );
        assert_eq!(chain.found["years_held"], json!([2024, 2025]));

        // 2022 and 2024 (a gap in 2023): not consecutive.
        let mut facts = base();
        award(&mut facts, 2022, CSTDCS);
        award(&mut facts, 2024, CSTDCS);
        assert!(!verdict(CSTDT, &single(facts)).eligible);

        // A past year counts by award only: registering in 2025 does not make 2024 held.
        let mut facts = base();
        award(&mut facts, 2023, CSTDCS);
        let found = verdict(CSTDT, &single(facts));
        assert!(!found.eligible);
    }

    fn collective(members: Vec<Facts>, registered: &[&str]) -> SubjectFacts {
        SubjectFacts {
            own: person("Tổ", Some(Rating::HoanThanhXuatSac), registered),
            members,
        }
    }

    #[test]
    fn collective_titles_read_their_members() {
        const TTLDXS: &str = "tap_the_lao_dong_xuat_sac";
        const TTLDTT: &str = "tap_the_lao_dong_tien_tien";
        let good = |name: &str| person(name, Some(Rating::HoanThanhTot), &[LDTT]);
        // 8 of 10 hold LĐTT, one CSTĐCS, all rated at least hoàn thành: both titles.
        let mut members: Vec<Facts> = (0..7).map(|i| good(&format!("M{i}"))).collect();
        members.push(person(
            "Star",
            Some(Rating::HoanThanhXuatSac),
            &[LDTT, CSTDCS],
        ));
        members.push(person("N1", Some(Rating::HoanThanh), &[LDTT]));
        members.push(person("N2", Some(Rating::HoanThanh), &[LDTT]));
        let unit = collective(members.clone(), &[TTLDXS, TTLDTT]);
        assert!(
            verdict(TTLDXS, &unit).eligible,
            "{:?}",
            verdict(TTLDXS, &unit)
        );
        assert!(verdict(TTLDTT, &unit).eligible);

        // 6 of 10 (60 %) miss the 70 %.
        let mut fewer = members.clone();
        fewer[0].record = record(Rating::HoanThanh);
        fewer[1].record = record(Rating::HoanThanh);
        let unit = collective(fewer, &[TTLDXS]);
        let found = verdict(TTLDXS, &unit);
        assert!(!found.eligible);
        assert!(
            found.checks.iter().any(|c| !c.passed
                && c.detail
                    .starts_with("6 of 10 members (60%) hold lao_dong_tien_tien in 2025")),
            "{found:?}"
        );

        // A member disciplined canh_cao excludes the unit; khiển trách does not.
        let mut warned = members.clone();
        if let Some(record) = warned[9].record.as_mut() {
            record.discipline = Some(Discipline::KhienTrach);
        }
        assert!(verdict(TTLDXS, &collective(warned.clone(), &[TTLDXS])).eligible);
        if let Some(record) = warned[9].record.as_mut() {
            record.discipline = Some(Discipline::CanhCao);
        }
        let found = verdict(TTLDXS, &collective(warned, &[TTLDXS]));
        assert!(!found.eligible);
        assert!(
            found
                .checks
                .iter()
                .any(|c| c.detail.contains("N2 (canh_cao)")),
            "{found:?}"
        );

        // A member without a rating fails "all members rated at least hoàn thành".
        let mut unrated = members.clone();
        unrated[9].record = None;
        let found = verdict(TTLDXS, &collective(unrated, &[TTLDXS]));
        assert!(!found.eligible);

        // No member holds CSTĐCS: excellent fails, advanced holds.
        let mut no_star = members;
        no_star[7].registered.remove(CSTDCS);
        assert!(!verdict(TTLDXS, &collective(no_star.clone(), &[TTLDXS])).eligible);
        assert!(verdict(TTLDTT, &collective(no_star, &[TTLDTT])).eligible);

        // A unit without members meets no share.
        assert!(!verdict(TTLDTT, &collective(Vec::new(), &[TTLDTT])).eligible);
    }

    #[test]
    fn ratios_are_exact() {
        let two_thirds = Ratio {
            numerator: 2,
            denominator: 3,
        };
        assert!(two_thirds.reached_by(6, 9, false));
        assert!(!two_thirds.reached_by(5, 9, false));
        let eighty = Ratio {
            numerator: 4,
            denominator: 5,
        };
        assert!(!eighty.reached_by(7, 9, false));
        assert!(eighty.reached_by(8, 10, false));
        assert!(!eighty.reached_by(8, 10, true));
        assert_eq!(two_thirds.percent(), "66.7%");
        assert_eq!(eighty.percent(), "80%");
    }

    #[test]
    fn a_rule_set_is_checked_beyond_its_shape() {
        let mut rules = decree_152();
        // An unknown title in a condition, a member condition on an individual title, a title
        // that needs itself, a duplicate code.
        rules.titles[0].conditions.push(Condition::HoldsTitle {
            title: "khong_co".to_owned(),
        });
        rules.titles[0]
            .conditions
            .push(Condition::AllMembersRatedAtLeast {
                rating: Rating::HoanThanh,
            });
        let code = rules.titles[0].code.clone();
        rules.titles[0]
            .conditions
            .push(Condition::HoldsTitle { title: code });
        let duplicate = rules.titles[1].clone();
        rules.titles.push(duplicate);
        let mut checks = Checks::default();
        rules.check(&mut checks);
        let details: Vec<String> = checks.errors.iter().map(|e| format!("{e:?}")).collect();
        let joined = details.join("\n");
        assert!(
            joined.contains("khong_co is not a title of this rule set"),
            "{joined}"
        );
        assert!(joined.contains("collective titles only"), "{joined}");
        assert!(joined.contains("needs itself"), "{joined}");
        assert!(joined.contains("is listed twice"), "{joined}");
    }
}
