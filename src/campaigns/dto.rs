//! Wire types of the campaign endpoints.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::model::{CampaignRow, StoredField};

/// A field (lĩnh vực) of a campaign; pledges and nominations name one by its `code`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignField {
    /// Lower-case letters, digits and `_`, 1–64 characters, unique within the campaign.
    #[schema(example = "economy", pattern = "^[a-z0-9_]{1,64}$", max_length = 64)]
    pub code: String,
    #[schema(example = "Phát triển kinh tế", min_length = 1, max_length = 200)]
    pub name: String,
}

impl From<StoredField> for CampaignField {
    fn from(field: StoredField) -> Self {
        Self {
            code: field.code,
            name: field.name,
        }
    }
}

/// A campaign (phong trào thi đua).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CampaignDto {
    pub id: Uuid,
    /// Unique, as given at creation; never changes.
    #[schema(example = "DONG-KHOI-MOI")]
    pub code: String,
    #[schema(example = "Đồng khởi mới")]
    pub name: String,
    /// The document that launched the campaign (e.g. "Chỉ thị 05-CT/TU").
    pub directive: Option<String>,
    /// The organization that runs the campaign; never changes.
    pub owner_organization_id: Uuid,
    #[serde(serialize_with = "crate::json_dates::date")]
    pub starts_on: NaiveDate,
    #[serde(serialize_with = "crate::json_dates::date")]
    pub ends_on: NaiveDate,
    /// The year the campaign's vision looks to, not before `ends_on`.
    pub vision_year: Option<i32>,
    pub description: Option<String>,
    pub fields: Vec<CampaignField>,
    /// The user who created the campaign.
    pub created_by: Option<Uuid>,
    #[serde(serialize_with = "crate::json_dates::timestamp")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::json_dates::timestamp")]
    pub updated_at: DateTime<Utc>,
    pub version: i32,
}

impl CampaignDto {
    pub fn from_row(row: CampaignRow) -> Self {
        let fields = row
            .stored_fields()
            .into_iter()
            .map(CampaignField::from)
            .collect();
        Self {
            id: row.id,
            code: row.code,
            name: row.name,
            directive: row.directive,
            owner_organization_id: row.owner_organization_id,
            starts_on: row.starts_on,
            ends_on: row.ends_on,
            vision_year: row.vision_year,
            description: row.description,
            fields,
            created_by: row.created_by,
            created_at: row.created_at,
            updated_at: row.updated_at,
            version: row.version,
        }
    }

    /// Codes of the campaign's fields, in their order.
    pub fn field_codes(&self) -> Vec<String> {
        self.fields.iter().map(|field| field.code.clone()).collect()
    }

    /// The calendar years the campaign runs in.
    pub fn years(&self) -> std::ops::RangeInclusive<i32> {
        self.starts_on.year()..=self.ends_on.year()
    }
}

/// A page of campaigns, latest start first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CampaignPage {
    pub items: Vec<CampaignDto>,
    pub next_cursor: Option<String>,
}

/// A new campaign.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCampaign {
    /// Letters, digits, `_` and `-`, 1–64 characters; unique.
    #[schema(
        example = "DONG-KHOI-MOI",
        pattern = "^[A-Za-z0-9_-]{1,64}$",
        max_length = 64
    )]
    pub code: String,
    #[schema(min_length = 1, max_length = 300)]
    pub name: String,
    #[schema(max_length = 500)]
    pub directive: Option<String>,
    /// Administrators, or managers of this organization or a higher one, may create.
    pub owner_organization_id: Uuid,
    pub starts_on: NaiveDate,
    /// Not before `starts_on`.
    pub ends_on: NaiveDate,
    /// Not before the year of `ends_on`, at most 2100.
    #[schema(minimum = 1900, maximum = 2100)]
    pub vision_year: Option<i32>,
    #[schema(max_length = 10000)]
    pub description: Option<String>,
    /// 1–50 fields with distinct codes.
    #[schema(min_items = 1, max_items = 50)]
    pub fields: Vec<CampaignField>,
}

/// Changes to a campaign (JSON merge patch). `code` and `owner_organization_id` never change.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCampaign {
    /// May not be `null`.
    #[serde(default, deserialize_with = "crate::extract::double_option")]
    #[schema(value_type = String, min_length = 1, max_length = 300)]
    pub name: Option<Option<String>>,
    /// `null` removes the directive.
    #[serde(default, deserialize_with = "crate::extract::double_option")]
    #[schema(value_type = Option<String>, max_length = 500)]
    pub directive: Option<Option<String>>,
    /// `null` removes the description.
    #[serde(default, deserialize_with = "crate::extract::double_option")]
    #[schema(value_type = Option<String>, max_length = 10000)]
    pub description: Option<Option<String>>,
    /// May not be `null`.
    #[serde(default, deserialize_with = "crate::extract::double_option")]
    #[schema(value_type = NaiveDate)]
    pub starts_on: Option<Option<NaiveDate>>,
    /// May not be `null`; not before `starts_on`.
    #[serde(default, deserialize_with = "crate::extract::double_option")]
    #[schema(value_type = NaiveDate)]
    pub ends_on: Option<Option<NaiveDate>>,
    /// `null` removes the vision year.
    #[serde(default, deserialize_with = "crate::extract::double_option")]
    #[schema(value_type = Option<i32>, minimum = 1900, maximum = 2100)]
    pub vision_year: Option<Option<i32>>,
    /// Replaces the whole list; may not be `null`.
    #[serde(default, deserialize_with = "crate::extract::double_option")]
    #[schema(value_type = Vec<CampaignField>, min_items = 1, max_items = 50)]
    pub fields: Option<Option<Vec<CampaignField>>>,
}

/// Filters of the campaign list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CampaignFilter {
    /// Campaigns owned by exactly this organization.
    pub owner_organization_id: Option<Uuid>,
    /// Search in name and code: every word, in any order, ignoring case and Vietnamese
    /// diacritics ("khoi dong" finds "Đồng khởi mới").
    pub q: Option<String>,
    /// Campaigns running on this date (`starts_on` ≤ date ≤ `ends_on`).
    pub active_on: Option<NaiveDate>,
    /// 1–200, default 50.
    pub limit: Option<i64>,
    /// Opaque cursor from a previous page.
    pub cursor: Option<String>,
}
