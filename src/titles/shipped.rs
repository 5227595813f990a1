//! The rule sets and base salaries the service ships as data (`data/rule-sets/`), loaded by
//! the migrator: a rule set whose code the database does not hold yet is inserted as version
//! 1, a base salary whose day is missing is added. What an administrator published is never
//! overwritten, and a shipped rule set that would overlap one of theirs is left out.

use anyhow::Context;
use diesel::sql_types::{Array, BigInt, Date, Jsonb, Nullable, Text, Uuid as SqlUuid};
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use serde::Deserialize;

use super::rules::RuleSetContent;

/// The shipped rule sets, oldest first.
pub const RULE_SETS: [&str; 2] = [
    include_str!("../../data/rule-sets/nd-98-2023.json"),
    include_str!("../../data/rule-sets/nd-152-2025.json"),
];

/// The shipped base salaries (lương cơ sở).
pub const BASE_SALARIES: &str = include_str!("../../data/rule-sets/base-salaries.json");

#[derive(Debug, Deserialize)]
pub struct ShippedSalary {
    pub effective_from: chrono::NaiveDate,
    pub amount: i64,
    pub legal_basis: String,
}

/// The shipped rule sets, parsed.
pub fn rule_sets() -> anyhow::Result<Vec<RuleSetContent>> {
    RULE_SETS
        .iter()
        .map(|text| serde_json::from_str(text).context("a shipped rule set (data/rule-sets/)"))
        .collect()
}

/// Inserts what is missing (see the module documentation).
pub fn load(connection: &mut AsyncConnectionWrapper<AsyncPgConnection>) -> anyhow::Result<()> {
    for rules in rule_sets()? {
        let titles = serde_json::to_value(&rules.titles)?;
        diesel::RunQueryDsl::execute(
            diesel::sql_query(
                "INSERT INTO rule_sets (id, code, version, name, legal_basis, effective_from, \
                     effective_to, titles, notes) \
                 SELECT $1, $2, 1, $3, $4, $5, $6, $7, $8 \
                 WHERE NOT EXISTS (SELECT 1 FROM rule_sets WHERE code = $2) \
                 ON CONFLICT DO NOTHING",
            )
            .bind::<SqlUuid, _>(uuid::Uuid::now_v7())
            .bind::<Text, _>(&rules.code)
            .bind::<Text, _>(&rules.name)
            .bind::<Array<Text>, _>(&rules.legal_basis)
            .bind::<Date, _>(rules.effective_from)
            .bind::<Nullable<Date>, _>(rules.effective_to)
            .bind::<Jsonb, _>(titles)
            .bind::<Nullable<Text>, _>(rules.notes.as_deref()),
            connection,
        )
        .with_context(|| format!("loading the shipped rule set {}", rules.code))?;
    }
    let salaries: Vec<ShippedSalary> =
        serde_json::from_str(BASE_SALARIES).context("data/rule-sets/base-salaries.json")?;
    for salary in salaries {
        diesel::RunQueryDsl::execute(
            diesel::sql_query(
                "INSERT INTO base_salaries (effective_from, amount, legal_basis) \
                 VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            )
            .bind::<Date, _>(salary.effective_from)
            .bind::<BigInt, _>(salary.amount)
            .bind::<Text, _>(&salary.legal_basis),
            connection,
        )
        .context("loading the shipped base salaries")?;
    }
    Ok(())
}
