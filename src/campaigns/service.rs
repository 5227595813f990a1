//! Campaign rules: who may read and write campaigns (through `auth::policy`), the validation of
//! a new campaign or a merge patch (`rules`), and the audit of every write. The write functions
//! run inside the caller's transaction.

use uuid::Uuid;

use super::dto::{CampaignDto, CampaignFilter, CampaignPage, CreateCampaign, UpdateCampaign};
use super::model::{CampaignChanges, NewCampaign};
use super::repo::{self, ListQuery};
use super::rules::{self, DatePointers};
use crate::audit::{self, Change};
use crate::auth::policy::{self, Operation, Target};
use crate::auth::principal::Principal;
use crate::conditional::IfMatch;
use crate::db::Databases;
use crate::error::{AppError, AppResult, ProblemCode};
use crate::organizations;
use crate::pagination;
use crate::text::Checks;
use crate::workflow::snapshot;
use diesel_async::AsyncPgConnection;

/// Campaigns are public within the service, but a partner client still needs scope `read`.
fn require_read(principal: &Principal) -> AppResult<()> {
    policy::require(principal, Operation::Read, Target::default())
}

fn code_conflict(error: diesel::result::Error) -> AppError {
    match &error {
        diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        ) => AppError::conflict(ProblemCode::AlreadyExists, "another campaign has this code"),
        _ => error.into(),
    }
}

/// A page of the campaigns `filter` selects.
pub async fn list(
    db: &Databases,
    principal: &Principal,
    filter: CampaignFilter,
) -> AppResult<CampaignPage> {
    require_read(principal)?;
    let limit = pagination::limit(filter.limit)?;
    let query = ListQuery {
        owner_organization_id: filter.owner_organization_id,
        q: filter.q.as_deref(),
        active_on: filter.active_on,
        after: pagination::position(filter.cursor.as_deref())?,
        limit,
    };
    let mut conn = db.read().await?;
    let rows = repo::list(&mut conn, query).await?;
    let (rows, next_cursor) = pagination::paginate(rows, limit, |row| (row.starts_on, row.id));
    Ok(CampaignPage {
        items: rows.into_iter().map(CampaignDto::from_row).collect(),
        next_cursor,
    })
}

/// Campaign `id` (404 when there is none).
pub async fn get(db: &Databases, principal: &Principal, id: Uuid) -> AppResult<CampaignDto> {
    require_read(principal)?;
    let mut conn = db.read().await?;
    let row = repo::find(&mut conn, id)
        .await?
        .ok_or_else(AppError::not_found)?;
    Ok(CampaignDto::from_row(row))
}

/// The checks of a new campaign that need no database; their failures are reported with the
/// owner's in one 422 by [`create`].
pub fn check_new(request: &CreateCampaign) -> Checks {
    let mut checks = Checks::default();
    rules::check_code(&mut checks, &request.code);
    rules::check_name(&mut checks, &request.name);
    if let Some(directive) = &request.directive {
        rules::check_directive(&mut checks, directive);
    }
    if let Some(description) = &request.description {
        rules::check_description(&mut checks, description);
    }
    rules::check_dates(
        &mut checks,
        request.starts_on,
        request.ends_on,
        request.vision_year,
        &rules::CREATE_POINTERS,
    );
    rules::check_fields(&mut checks, &request.fields);
    checks
}

/// Creates a campaign: the owner exists (422), the caller may write campaigns there (403) and
/// it is active (422, with the failures of `checks`); then the row and its audit event.
pub async fn create(
    conn: &mut AsyncPgConnection,
    principal: &Principal,
    request: CreateCampaign,
    mut checks: Checks,
) -> AppResult<CampaignDto> {
    let owner = organizations::repo::find(conn, request.owner_organization_id).await?;
    let Some(owner) = owner else {
        checks.fail("/owner_organization_id", "no such organization");
        return Err(AppError::validation(checks.errors));
    };
    policy::require(
        principal,
        Operation::WriteCampaign,
        Target::unit(&owner.path),
    )?;
    if !owner.active {
        checks.fail(
            "/owner_organization_id",
            "the owner organization is inactive",
        );
    }
    checks.finish()?;
    let directive = rules::optional_text(request.directive.as_deref());
    let description = rules::optional_text(request.description.as_deref());
    let row = repo::insert(
        conn,
        NewCampaign {
            id: Uuid::now_v7(),
            code: &request.code,
            name: request.name.trim(),
            directive: directive.as_deref(),
            owner_organization_id: owner.id,
            starts_on: request.starts_on,
            ends_on: request.ends_on,
            vision_year: request.vision_year,
            description: description.as_deref(),
            fields: rules::stored_fields(&request.fields),
            created_by: Some(principal.id),
        },
    )
    .await
    .map_err(code_conflict)?;
    let dto = CampaignDto::from_row(row);
    audit::record(
        conn,
        Some(principal),
        Change {
            action: "campaign.create",
            entity_type: "campaign",
            entity_id: dto.id,
            organization_id: Some(dto.owner_organization_id),
            before: None,
            after: snapshot(&dto),
        },
    )
    .await?;
    Ok(dto)
}

/// A merge-patch member that may be absent but not `null`.
fn required<T>(checks: &mut Checks, pointer: &str, value: Option<Option<T>>) -> Option<T> {
    match value {
        Some(None) => {
            checks.fail(pointer, "must not be null");
            None
        }
        Some(Some(value)) => Some(value),
        None => None,
    }
}

/// A merge patch's members checked without the database, and what [`update`] still checks.
pub struct CheckedPatch {
    checks: Checks,
    name: Option<String>,
    starts_on: Option<chrono::NaiveDate>,
    ends_on: Option<chrono::NaiveDate>,
    fields: Option<Vec<super::dto::CampaignField>>,
    pointers: DatePointers<'static>,
}

/// The checks of a merge patch that need no database (the dates are checked against the
/// stored ones by [`update`]).
pub fn check_patch(request: &UpdateCampaign) -> CheckedPatch {
    let mut checks = Checks::default();
    let name = required(&mut checks, "/name", request.name.clone());
    let starts_on = required(&mut checks, "/starts_on", request.starts_on);
    let ends_on = required(&mut checks, "/ends_on", request.ends_on);
    let fields = required(&mut checks, "/fields", request.fields.clone());
    if let Some(name) = &name {
        rules::check_name(&mut checks, name);
    }
    if let Some(Some(directive)) = &request.directive {
        rules::check_directive(&mut checks, directive);
    }
    if let Some(Some(description)) = &request.description {
        rules::check_description(&mut checks, description);
    }
    if let Some(fields) = &fields {
        rules::check_fields(&mut checks, fields);
    }
    let pointers = DatePointers {
        order: if ends_on.is_some() {
            "/ends_on"
        } else {
            "/starts_on"
        },
        vision_year: if request.vision_year.is_none() && ends_on.is_some() {
            "/ends_on"
        } else {
            "/vision_year"
        },
    };
    CheckedPatch {
        checks,
        name,
        starts_on,
        ends_on,
        fields,
        pointers,
    }
}

/// Applies a merge patch to campaign `id`: the row (404), the policy on its owner (403),
/// `If-Match` (412), the dates against the stored ones (422 with `checked`'s failures); then
/// the write and its audit event.
pub async fn update(
    conn: &mut AsyncPgConnection,
    principal: &Principal,
    id: Uuid,
    if_match: &IfMatch,
    request: UpdateCampaign,
    checked: CheckedPatch,
) -> AppResult<CampaignDto> {
    let CheckedPatch {
        mut checks,
        name,
        starts_on,
        ends_on,
        fields,
        pointers,
    } = checked;
    let before = repo::find_for_update(conn, id)
        .await?
        .ok_or_else(AppError::not_found)?;
    let owner_path = organizations::repo::path_of(conn, before.owner_organization_id)
        .await?
        .ok_or_else(|| {
            AppError::internal(anyhow::anyhow!("campaign {id} has no owner organization"))
        })?;
    policy::require(
        principal,
        Operation::WriteCampaign,
        Target::unit(&owner_path),
    )?;
    if_match.check(before.version)?;
    let dates_changed = starts_on.is_some() || ends_on.is_some() || request.vision_year.is_some();
    if dates_changed {
        rules::check_dates(
            &mut checks,
            starts_on.unwrap_or(before.starts_on),
            ends_on.unwrap_or(before.ends_on),
            request.vision_year.unwrap_or(before.vision_year),
            &pointers,
        );
    }
    checks.finish()?;
    let changes = CampaignChanges {
        name: name.map(|name| name.trim().to_owned()),
        directive: request
            .directive
            .map(|directive| rules::optional_text(directive.as_deref())),
        description: request
            .description
            .map(|description| rules::optional_text(description.as_deref())),
        starts_on,
        ends_on,
        vision_year: request.vision_year,
        fields: fields.as_deref().map(rules::stored_fields),
    };
    let row = repo::update(conn, id, &changes).await?;
    let before_dto = CampaignDto::from_row(before);
    let dto = CampaignDto::from_row(row);
    audit::record(
        conn,
        Some(principal),
        Change {
            action: "campaign.update",
            entity_type: "campaign",
            entity_id: id,
            organization_id: Some(dto.owner_organization_id),
            before: snapshot(&before_dto),
            after: snapshot(&dto),
        },
    )
    .await?;
    Ok(dto)
}
