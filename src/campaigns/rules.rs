//! The rules a campaign must satisfy, as pure functions that add to one [`Checks`] so a request
//! learns about every invalid member at once.

use std::collections::HashSet;

use chrono::{Datelike, NaiveDate};

use super::dto::CampaignField;
use crate::text::Checks;

pub const CODE_MAX: usize = 64;
pub const NAME_MAX: usize = 300;
pub const DIRECTIVE_MAX: usize = 500;
pub const DESCRIPTION_MAX: usize = 10_000;
pub const FIELDS_MAX: usize = 50;
pub const FIELD_CODE_MAX: usize = 64;
pub const FIELD_NAME_MAX: usize = 200;
/// Campaigns are planned within these years; pledges are per year, so an unbounded range
/// would let one campaign span millennia of pledge years.
pub const FIRST_YEAR: i32 = 1900;
pub const LAST_YEAR: i32 = 2100;

/// Campaign codes appear in URLs, file names and official documents: keep them plain.
pub fn check_code(checks: &mut Checks, code: &str) {
    let length = code.chars().count();
    if length == 0 || length > CODE_MAX {
        checks.fail("/code", format!("must be 1 to {CODE_MAX} characters"));
    } else if !code
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        checks.fail(
            "/code",
            "may only contain letters A–Z and a–z, digits, '_' and '-'",
        );
    }
}

pub fn check_name(checks: &mut Checks, name: &str) {
    checks.length("/name", name, 1, NAME_MAX);
}

pub fn check_directive(checks: &mut Checks, directive: &str) {
    checks.length("/directive", directive, 0, DIRECTIVE_MAX);
}

pub fn check_description(checks: &mut Checks, description: &str) {
    checks.length("/description", description, 0, DESCRIPTION_MAX);
}

fn is_field_code(code: &str) -> bool {
    (1..=FIELD_CODE_MAX).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// 1–50 fields, each with a well-formed code unique within the list and a name.
pub fn check_fields(checks: &mut Checks, fields: &[CampaignField]) {
    if fields.is_empty() || fields.len() > FIELDS_MAX {
        checks.fail(
            "/fields",
            format!("must list 1 to {FIELDS_MAX} fields, not {}", fields.len()),
        );
    }
    let mut seen = HashSet::new();
    for (index, field) in fields.iter().enumerate() {
        if !is_field_code(&field.code) {
            checks.fail(
                &format!("/fields/{index}/code"),
                format!("must be 1 to {FIELD_CODE_MAX} lower-case letters a–z, digits or '_'"),
            );
        } else if !seen.insert(field.code.as_str()) {
            checks.fail(
                &format!("/fields/{index}/code"),
                format!("the code {:?} is already used by another field", field.code),
            );
        }
        checks.length(
            &format!("/fields/{index}/name"),
            &field.name,
            1,
            FIELD_NAME_MAX,
        );
    }
}

/// Where to report a failure of a rule that involves several members: the member the request
/// changed (a PATCH may change only one side of a rule).
pub struct DatePointers<'a> {
    pub order: &'a str,
    pub vision_year: &'a str,
}

pub const CREATE_POINTERS: DatePointers<'static> = DatePointers {
    order: "/ends_on",
    vision_year: "/vision_year",
};

/// Years within bounds, `ends_on` not before `starts_on`, `vision_year` not before the last
/// year of the campaign.
pub fn check_dates(
    checks: &mut Checks,
    starts_on: NaiveDate,
    ends_on: NaiveDate,
    vision_year: Option<i32>,
    pointers: &DatePointers<'_>,
) {
    if starts_on.year() < FIRST_YEAR || starts_on.year() > LAST_YEAR {
        checks.fail(
            "/starts_on",
            format!("must be in the years {FIRST_YEAR} to {LAST_YEAR}"),
        );
    }
    if ends_on.year() < FIRST_YEAR || ends_on.year() > LAST_YEAR {
        checks.fail(
            "/ends_on",
            format!("must be in the years {FIRST_YEAR} to {LAST_YEAR}"),
        );
    }
    if ends_on < starts_on {
        checks.fail(
            pointers.order,
            format!("the campaign must not end ({ends_on}) before it starts ({starts_on})"),
        );
    }
    if let Some(year) = vision_year
        && (year < ends_on.year() || year > LAST_YEAR)
    {
        checks.fail(
            pointers.vision_year,
            format!(
                "the vision year must be from {} (the campaign's last year) to {LAST_YEAR}",
                ends_on.year()
            ),
        );
    }
}

/// Trimmed optional text; blank means absent.
pub fn optional_text(value: Option<&str>) -> Option<String> {
    value
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .map(str::to_owned)
}

/// Fields as stored: names trimmed, codes exactly as validated.
pub fn stored_fields(fields: &[CampaignField]) -> serde_json::Value {
    serde_json::Value::Array(
        fields
            .iter()
            .map(|field| serde_json::json!({"code": field.code, "name": field.name.trim()}))
            .collect(),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn field(code: &str, name: &str) -> CampaignField {
        CampaignField {
            code: code.to_owned(),
            name: name.to_owned(),
        }
    }

    fn pointers(checks: Checks) -> Vec<String> {
        checks.errors.into_iter().map(|e| e.pointer).collect()
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn codes_allow_only_plain_characters() {
        for good in ["A", "dong-khoi_2025", &"x".repeat(64)] {
            let mut checks = Checks::default();
            check_code(&mut checks, good);
            assert!(checks.errors.is_empty(), "{good}");
        }
        for bad in ["", "đồng", "a b", "a/b", &"x".repeat(65)] {
            let mut checks = Checks::default();
            check_code(&mut checks, bad);
            assert_eq!(pointers(checks), vec!["/code"], "{bad}");
        }
    }

    #[test]
    fn every_bad_field_is_named_once() {
        let mut checks = Checks::default();
        check_fields(
            &mut checks,
            &[
                field("economy", "Kinh tế"),
                field("Economy", "Kinh tế"),
                field("economy", "  "),
                field("culture", "Văn hóa"),
            ],
        );
        assert_eq!(
            pointers(checks),
            vec!["/fields/1/code", "/fields/2/code", "/fields/2/name"]
        );
    }

    #[test]
    fn field_count_is_bounded() {
        let mut none = Checks::default();
        check_fields(&mut none, &[]);
        assert_eq!(pointers(none), vec!["/fields"]);
        let many: Vec<_> = (0..51).map(|i| field(&format!("f{i}"), "x")).collect();
        let mut too_many = Checks::default();
        check_fields(&mut too_many, &many);
        assert_eq!(pointers(too_many), vec!["/fields"]);
        let mut fifty = Checks::default();
        check_fields(&mut fifty, &many[..50]);
        assert!(fifty.errors.is_empty());
    }

    #[test]
    fn dates_must_be_ordered_and_vision_after_the_end() {
        let mut ok = Checks::default();
        check_dates(
            &mut ok,
            date(2025, 1, 1),
            date(2025, 1, 1),
            Some(2025),
            &CREATE_POINTERS,
        );
        assert!(ok.errors.is_empty());

        let mut reversed = Checks::default();
        check_dates(
            &mut reversed,
            date(2026, 1, 1),
            date(2025, 12, 31),
            Some(2024),
            &CREATE_POINTERS,
        );
        assert_eq!(pointers(reversed), vec!["/ends_on", "/vision_year"]);

        let mut far = Checks::default();
        check_dates(
            &mut far,
            date(1800, 1, 1),
            date(2101, 1, 1),
            Some(2200),
            &CREATE_POINTERS,
        );
        assert_eq!(
            pointers(far),
            vec!["/starts_on", "/ends_on", "/vision_year"]
        );
    }

    #[test]
    fn blank_optional_text_is_absent() {
        assert_eq!(optional_text(Some("  ")), None);
        assert_eq!(optional_text(Some(" CT-05 ")), Some("CT-05".to_owned()));
        assert_eq!(optional_text(None), None);
    }
}
