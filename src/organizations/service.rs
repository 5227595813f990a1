//! Organization rules: who may create, change, move and deactivate units (through
//! `auth::policy`), the sibling-name and code rules, and the audit of every write. The write
//! functions run inside the caller's transaction.

use diesel_async::AsyncPgConnection;
use uuid::Uuid;

use super::dto::{CreateOrganization, MoveOrganization, OrganizationDto, UpdateOrganization};
use super::model::OrganizationChanges;
use super::repo;
use crate::audit::{self, Change};
use crate::auth::policy::{self, Operation, Target, require_admin};
use crate::auth::principal::Principal;
use crate::conditional::IfMatch;
use crate::error::{AppError, AppResult, ProblemCode};
use crate::text::Checks;
use crate::workflow::snapshot;

const NAME_MAX: usize = 200;
const CODE_MAX: usize = 64;

/// The unique index behind [`refuse_sibling_named`], for writes that race past the check.
const SIBLING_NAME_INDEX: &str = "organizations_sibling_name_key";

fn code_conflict(error: diesel::result::Error) -> AppError {
    match &error {
        diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            info,
        ) if info.constraint_name() == Some(SIBLING_NAME_INDEX) => AppError::conflict(
            ProblemCode::AlreadyExists,
            "an active sibling unit already has this name (compared without case, accents, \
             extra spaces or invisible characters)",
        ),
        diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        ) => AppError::conflict(
            ProblemCode::AlreadyExists,
            "another organization has this code",
        ),
        // Codes are unique among the units valid on the same day (an exclusion constraint).
        diesel::result::Error::DatabaseError(_, info)
            if info.constraint_name() == Some("organizations_code_valid_key") =>
        {
            AppError::conflict(
                ProblemCode::AlreadyExists,
                "another organization valid on the same days has this code",
            )
        }
        _ => error.into(),
    }
}

/// 409 naming the active unit under `parent_id` whose name reads like `name`, if any (the
/// unique index on `name_key` holds the same rule against concurrent writes).
async fn refuse_sibling_named(
    conn: &mut diesel_async::AsyncPgConnection,
    parent_id: Option<Uuid>,
    name: &str,
    except: Option<Uuid>,
) -> AppResult<()> {
    match repo::sibling_named(conn, parent_id, name, except).await? {
        None => Ok(()),
        Some((id, existing)) => Err(AppError::conflict(
            ProblemCode::AlreadyExists,
            format!(
                "the active sibling unit \u{201c}{existing}\u{201d} ({id}) already has this name; \
                 names under one parent must differ beyond case, accents, spacing and invisible \
                 characters"
            ),
        )
        .with_extra("existing_organization_id", id.to_string())
        .with_extra("existing_organization_name", existing)),
    }
}

/// The lengths of a new organization's name and code (422 before any database work).
pub fn check_new(request: &CreateOrganization) -> AppResult<()> {
    let mut checks = Checks::default();
    checks.length("/name", &request.name, 1, NAME_MAX);
    if let Some(code) = &request.code {
        checks.length("/code", code, 1, CODE_MAX);
    }
    checks.finish()
}

/// The lengths of a merge patch's name and code (422 before any database work).
pub fn check_patch(request: &UpdateOrganization) -> AppResult<()> {
    let mut checks = Checks::default();
    if let Some(name) = &request.name {
        checks.length("/name", name, 1, NAME_MAX);
    }
    if let Some(Some(code)) = &request.code {
        checks.length("/code", code, 1, CODE_MAX);
    }
    checks.finish()
}

/// Moving units is the administrators' (403 before anything else).
pub fn require_move(principal: &Principal) -> AppResult<()> {
    policy::require(principal, Operation::MoveOrganization, Target::default())
}

/// Creates an organization under `parent_id` (or a root, administrators only): the parent
/// exists (422), the caller may manage it (403), it is active (422) and no active sibling has
/// the name (409); then the row and its audit event.
pub async fn create(
    conn: &mut AsyncPgConnection,
    principal: &Principal,
    request: CreateOrganization,
) -> AppResult<OrganizationDto> {
    let parent = match request.parent_id {
        Some(parent_id) => Some(
            repo::find_for_update(conn, parent_id)
                .await?
                .ok_or_else(|| AppError::field("/parent_id", "no such organization"))?,
        ),
        None => None,
    };
    match &parent {
        Some(parent) => policy::require(
            principal,
            Operation::ManageOrganization,
            Target::unit(&parent.path),
        )?,
        None => require_admin(principal)?,
    }
    if let Some(parent) = parent.as_ref().filter(|parent| !parent.active) {
        let detail = repo::inactive_detail(conn, parent.id).await?;
        return Err(AppError::field(
            "/parent_id",
            format!("the parent: {detail}"),
        ));
    }
    let parent_id = parent.as_ref().map(|parent| parent.id);
    refuse_sibling_named(conn, parent_id, request.name.trim(), None).await?;
    let row = repo::insert(
        conn,
        parent.as_ref(),
        request.kind,
        request.name.trim(),
        request.code.as_deref().map(str::trim),
    )
    .await
    .map_err(code_conflict)?;
    let ancestors = repo::ancestors(conn, &row.path).await?;
    let dto = OrganizationDto::from_row(row, Some(ancestors));
    audit::record(
        conn,
        Some(principal),
        Change {
            action: "organization.create",
            entity_type: "organization",
            entity_id: dto.id,
            organization_id: Some(dto.id),
            before: None,
            after: snapshot(&dto),
        },
    )
    .await?;
    Ok(dto)
}

/// Applies a merge patch to organization `id`: the row (404), the policy (403), `If-Match`
/// (412), the sibling names (409); a rename touches the subtree (whose paths show names).
pub async fn update(
    conn: &mut AsyncPgConnection,
    principal: &Principal,
    id: Uuid,
    if_match: &IfMatch,
    request: UpdateOrganization,
) -> AppResult<OrganizationDto> {
    let before = repo::find_for_update(conn, id)
        .await?
        .ok_or_else(AppError::not_found)?;
    policy::require(
        principal,
        Operation::ManageOrganization,
        Target::unit(&before.path),
    )?;
    if_match.check(before.version)?;
    let renamed = request
        .name
        .as_deref()
        .is_some_and(|name| name.trim() != before.name);
    if renamed && let Some(name) = request.name.as_deref() {
        refuse_sibling_named(conn, before.parent_id, name.trim(), Some(id)).await?;
    }
    let changes = OrganizationChanges {
        name_key: request
            .name
            .as_deref()
            .map(|name| crate::text::comparison_key(name.trim())),
        name: request.name.map(|name| name.trim().to_owned()),
        code: request
            .code
            .map(|code| code.map(|code| code.trim().to_owned())),
        kind: request.kind,
    };
    let row = repo::update(conn, id, &changes)
        .await
        .map_err(code_conflict)?;
    if renamed {
        repo::touch_descendants(conn, &row.path).await?;
    }
    let ancestors = repo::ancestors(conn, &row.path).await?;
    let before_dto = OrganizationDto::from_row(before, None);
    let dto = OrganizationDto::from_row(row, Some(ancestors));
    audit::record(
        conn,
        Some(principal),
        Change {
            action: "organization.update",
            entity_type: "organization",
            entity_id: id,
            organization_id: Some(id),
            before: snapshot(&before_dto),
            after: snapshot(&dto),
        },
    )
    .await?;
    Ok(dto)
}

/// Moves organization `id` and its subtree under `parent_id` (the caller passed
/// [`require_move`]): the row (404), `If-Match` (412), a parent outside the subtree and active
/// (422), the sibling names (409).
pub async fn move_subtree(
    conn: &mut AsyncPgConnection,
    principal: &Principal,
    id: Uuid,
    if_match: &IfMatch,
    request: MoveOrganization,
) -> AppResult<OrganizationDto> {
    let node = repo::find_for_update(conn, id)
        .await?
        .ok_or_else(AppError::not_found)?;
    if_match.check(node.version)?;
    let parent = repo::find_for_update(conn, request.parent_id)
        .await?
        .ok_or_else(|| AppError::field("/parent_id", "no such organization"))?;
    if parent.path.starts_with(&node.path) {
        return Err(AppError::field(
            "/parent_id",
            "an organization cannot move inside its own subtree",
        ));
    }
    if !parent.active {
        return Err(AppError::field("/parent_id", "the new parent is inactive"));
    }
    if node.active {
        refuse_sibling_named(conn, Some(parent.id), &node.name, Some(node.id)).await?;
    }
    let before_dto = OrganizationDto::from_row(node.clone(), None);
    repo::move_subtree(conn, &node, &parent)
        .await
        .map_err(code_conflict)?;
    let row = repo::find(conn, id)
        .await?
        .ok_or_else(AppError::not_found)?;
    let ancestors = repo::ancestors(conn, &row.path).await?;
    let dto = OrganizationDto::from_row(row, Some(ancestors));
    audit::record(
        conn,
        Some(principal),
        Change {
            action: "organization.move",
            entity_type: "organization",
            entity_id: id,
            organization_id: Some(id),
            before: snapshot(&before_dto),
            after: snapshot(&dto),
        },
    )
    .await?;
    Ok(dto)
}

/// Deactivates organization `id`: the policy on its parent (403), `If-Match` (412), still
/// active (409) and without active children (409).
pub async fn deactivate(
    conn: &mut AsyncPgConnection,
    principal: &Principal,
    id: Uuid,
    if_match: &IfMatch,
) -> AppResult<OrganizationDto> {
    let node = repo::find_for_update(conn, id)
        .await?
        .ok_or_else(AppError::not_found)?;
    let parent_path = repo::ancestor_paths(&node.path).pop();
    match &parent_path {
        Some(parent_path) => policy::require(
            principal,
            Operation::ManageOrganization,
            Target::unit(parent_path),
        )?,
        None => require_admin(principal)?,
    }
    if_match.check(node.version)?;
    if !node.active {
        return Err(AppError::conflict(
            ProblemCode::InvalidTransition,
            "the organization is already inactive",
        ));
    }
    if repo::has_active_children(conn, id).await? {
        return Err(AppError::conflict(
            ProblemCode::InvalidTransition,
            "move or deactivate the active children of this organization first",
        ));
    }
    let before_dto = OrganizationDto::from_row(node, None);
    let row = repo::deactivate(conn, id).await?;
    let ancestors = repo::ancestors(conn, &row.path).await?;
    let dto = OrganizationDto::from_row(row, Some(ancestors));
    audit::record(
        conn,
        Some(principal),
        Change {
            action: "organization.deactivate",
            entity_type: "organization",
            entity_id: id,
            organization_id: Some(id),
            before: snapshot(&before_dto),
            after: snapshot(&dto),
        },
    )
    .await?;
    Ok(dto)
}
