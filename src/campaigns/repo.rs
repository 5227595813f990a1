//! Queries of campaigns. Other modules (pledges, nominations, stats) read campaigns through
//! [`find`] and [`campaign_rules`], what a pledge or nomination must respect of its campaign.

use chrono::NaiveDate;
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Date, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::model::{CampaignChanges, CampaignRow, NewCampaign};
use crate::db::schema::campaigns;

/// What a pledge must respect of its campaign.
#[derive(Debug, Clone)]
pub struct CampaignRules {
    pub first_year: i32,
    pub last_year: i32,
    pub field_codes: Vec<String>,
}

pub async fn campaign_rules(
    conn: &mut AsyncPgConnection,
    id: Uuid,
) -> QueryResult<Option<CampaignRules>> {
    let row: Option<(NaiveDate, NaiveDate, serde_json::Value)> = campaigns::table
        .find(id)
        .select((campaigns::starts_on, campaigns::ends_on, campaigns::fields))
        .first(conn)
        .await
        .optional()?;
    Ok(row.map(|(starts_on, ends_on, fields)| CampaignRules::new(starts_on, ends_on, &fields)))
}

impl CampaignRules {
    /// `field` must be one of the campaign's field codes.
    pub fn check_field(&self, checks: &mut crate::text::Checks, field: &str) {
        if !self.field_codes.iter().any(|code| code == field) {
            checks.fail(
                "/field",
                format!(
                    "must be a field code of the campaign: {}",
                    self.field_codes.join(", ")
                ),
            );
        }
    }

    /// The rules of a campaign running from `starts_on` to `ends_on` with `fields` (its JSON
    /// array of `{code, …}`).
    pub fn new(starts_on: NaiveDate, ends_on: NaiveDate, fields: &serde_json::Value) -> Self {
        use chrono::Datelike;
        Self {
            first_year: starts_on.year(),
            last_year: ends_on.year(),
            field_codes: fields
                .as_array()
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|item| {
                            item.get("code")
                                .and_then(|code| code.as_str())
                                .map(str::to_owned)
                        })
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

crate::db::row_by_id!(campaigns, CampaignRow);

/// Filters of a campaign listing, already validated.
pub struct ListQuery<'a> {
    pub owner_organization_id: Option<Uuid>,
    pub q: Option<&'a str>,
    pub active_on: Option<NaiveDate>,
    /// Keyset position: the (`starts_on`, `id`) of the last row of the previous page.
    pub after: Option<(NaiveDate, Uuid)>,
    pub limit: i64,
}

/// Lists campaigns latest start first, then by id descending (ids are UUIDv7, so the newer
/// of two campaigns starting on the same day comes first). Fetches `limit + 1` rows.
pub async fn list(
    conn: &mut AsyncPgConnection,
    query: ListQuery<'_>,
) -> QueryResult<Vec<CampaignRow>> {
    let mut statement = campaigns::table
        .select(CampaignRow::as_select())
        .order((campaigns::starts_on.desc(), campaigns::id.desc()))
        .limit(query.limit + 1)
        .into_boxed();
    if let Some(owner) = query.owner_organization_id {
        statement = statement.filter(campaigns::owner_organization_id.eq(owner));
    }
    if let Some(day) = query.active_on {
        statement = statement
            .filter(campaigns::starts_on.le(day))
            .filter(campaigns::ends_on.ge(day));
    }
    for word in crate::text::search_words(query.q.unwrap_or_default()) {
        statement = statement.filter(
            sql::<Bool>("search_text LIKE '%' || search_fold(")
                .bind::<Text, _>(word)
                .sql(") || '%'"),
        );
    }
    if let Some((starts_on, id)) = query.after {
        statement = statement.filter(
            sql::<Bool>("(starts_on, id) < (")
                .bind::<Date, _>(starts_on)
                .sql(", ")
                .bind::<diesel::sql_types::Uuid, _>(id)
                .sql(")"),
        );
    }
    statement.load(conn).await
}

pub async fn insert(
    conn: &mut AsyncPgConnection,
    campaign: NewCampaign<'_>,
) -> QueryResult<CampaignRow> {
    diesel::insert_into(campaigns::table)
        .values(campaign)
        .returning(CampaignRow::as_returning())
        .get_result(conn)
        .await
}

/// Writes `changes` to campaign `id` with the next version.
pub async fn update(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    changes: &CampaignChanges,
) -> QueryResult<CampaignRow> {
    diesel::update(campaigns::table.find(id))
        .set((
            changes,
            campaigns::version.eq(campaigns::version + 1),
            campaigns::updated_at.eq(diesel::dsl::now),
        ))
        .returning(CampaignRow::as_returning())
        .get_result(conn)
        .await
}
