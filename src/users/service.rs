//! Administration rules and transactions: who may read, create and change users and their
//! memberships (admins everywhere, managers inside their subtree and never above their own
//! role), and partner clients (administrators only).
//!
//! The rules are plain functions over the caller and the target's memberships, so they are
//! tested as a table; the transactions call them again after locking the user row.

use std::collections::{BTreeMap, HashMap, HashSet};

use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde_json::Value;
use uuid::Uuid;

use super::dto::{
    ClientDto, CreateClient, CreateUser, CreatedClientDto, MembershipRequest, ReplaceMemberships,
    UpdateUser, UserDto, UserMembershipDto,
};
use super::model::{ClientRow, NewClient, NewUser, UserChanges, UserRow};
use super::repo::{self, HeldMembership, OrganizationRef};
use crate::audit::{self, Change};
use crate::auth::authorize::is_within;
use crate::auth::password::{MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS};
use crate::auth::policy::{require_admin, require_can_grant, require_user};
use crate::auth::principal::{Principal, Role, Scope};
use crate::auth::revocation::{self, Kind};
use crate::auth::service::{check_current_password, hex_digest, revoke_all_tokens_of_user};
use crate::auth::tokens::random_secret;
use crate::conditional::IfMatch;
use crate::error::{AppError, AppResult, ProblemCode};
use crate::state::AppState;
use crate::text::Checks;

pub const DISPLAY_NAME_MAX: usize = 200;
pub const CLIENT_NAME_MAX: usize = 200;
/// More memberships than this in one request is a mistake, not an organization chart.
pub const MAX_MEMBERSHIPS: usize = 100;

// ---------------------------------------------------------------------------------------------
// Rules
// ---------------------------------------------------------------------------------------------

/// The subtrees in which the caller is a manager (nested ones dropped).
pub fn manager_roots(principal: &Principal) -> Vec<String> {
    let mut roots: Vec<String> = principal
        .grants
        .iter()
        .filter(|grant| grant.role == Role::Manager)
        .map(|grant| grant.path.clone())
        .collect();
    roots.sort();
    roots.dedup_by(|later, earlier| later.starts_with(earlier.as_str()));
    roots
}

/// The caller manages the organization at `path` (it is inside one of their manager subtrees).
fn manages(principal: &Principal, path: &str) -> bool {
    principal
        .grants
        .iter()
        .any(|grant| grant.role == Role::Manager && is_within(path, &grant.path))
}

fn is_self(principal: &Principal, user_id: Uuid) -> bool {
    !principal.is_client() && principal.id == user_id
}

/// Who sees a user: administrators, the user, and managers of a unit the user belongs to.
pub fn can_read_user(principal: &Principal, user_id: Uuid, memberships: &[HeldMembership]) -> bool {
    principal.is_admin()
        || is_self(principal, user_id)
        || memberships
            .iter()
            .any(|membership| manages(principal, &membership.path))
}

/// Changing another user's account: administrators, or a manager of every unit the user
/// belongs to; administrators' accounts only by administrators.
pub fn require_can_administer(
    principal: &Principal,
    memberships: &[HeldMembership],
) -> Result<(), AppError> {
    require_user(principal)?;
    if principal.is_admin() {
        return Ok(());
    }
    if memberships
        .iter()
        .any(|membership| membership.role == Role::Admin)
    {
        return Err(AppError::forbidden(
            "only an administrator may change an administrator",
        ));
    }
    if !memberships.is_empty()
        && memberships
            .iter()
            .all(|membership| manages(principal, &membership.path))
    {
        Ok(())
    } else {
        Err(AppError::forbidden(
            "only a manager of every unit the user belongs to may change this account",
        ))
    }
}

/// What a PATCH of an account would change.
#[derive(Debug, Clone, Copy, Default)]
pub struct AccountChange {
    pub display_name: bool,
    pub disabled: bool,
    pub password: bool,
}

/// What `display_name`, `disabled` and a new password would change of `row`.
pub fn account_change(
    row: &UserRow,
    display_name: Option<&str>,
    disabled: Option<bool>,
    password: bool,
) -> AccountChange {
    AccountChange {
        display_name: display_name.is_some_and(|name| name != row.display_name),
        disabled: disabled.is_some_and(|disabled| disabled != row.disabled),
        password,
    }
}

/// Users change their own name and password, never their own `disabled`; other accounts follow
/// [`require_can_administer`].
pub fn require_can_update(
    principal: &Principal,
    user_id: Uuid,
    memberships: &[HeldMembership],
    change: AccountChange,
) -> Result<(), AppError> {
    require_user(principal)?;
    if is_self(principal, user_id) {
        if change.disabled {
            return Err(AppError::forbidden(
                "nobody enables or disables their own account",
            ));
        }
        return Ok(());
    }
    require_can_administer(principal, memberships)
}

/// Creating a user with `grants` (path, role): administrators anywhere; managers with at
/// least one membership inside their subtree, each at most their own role.
pub fn require_can_create(principal: &Principal, grants: &[(&str, Role)]) -> Result<(), AppError> {
    require_user(principal)?;
    if principal.is_admin() {
        return Ok(());
    }
    if manager_roots(principal).is_empty() {
        return Err(AppError::forbidden(
            "only administrators and managers create users",
        ));
    }
    if grants.is_empty() {
        return Err(AppError::field(
            "/memberships",
            "give the user at least one membership inside your subtree",
        ));
    }
    for (path, role) in grants {
        require_can_grant(principal, path, *role)?;
    }
    Ok(())
}

/// Replacing the memberships of `user_id` (`old`) by `new` (organization id, path, role).
/// Every membership added, removed or changed must be one the caller may grant; the others
/// (outside the caller's subtree) stay as they are. Only administrators change their own
/// memberships, or those of an administrator.
pub fn require_can_replace_memberships(
    principal: &Principal,
    user_id: Uuid,
    old: &[HeldMembership],
    new: &[(Uuid, &str, Role)],
) -> Result<(), AppError> {
    require_user(principal)?;
    if principal.is_admin() {
        return Ok(());
    }
    if is_self(principal, user_id) {
        return Err(AppError::forbidden(
            "only an administrator may change their own memberships",
        ));
    }
    if old.iter().any(|membership| membership.role == Role::Admin) {
        return Err(AppError::forbidden(
            "only an administrator may change an administrator",
        ));
    }
    let before: HashMap<Uuid, (&str, Role)> = old
        .iter()
        .map(|membership| {
            (
                membership.organization_id,
                (membership.path.as_str(), membership.role),
            )
        })
        .collect();
    let after: HashMap<Uuid, (&str, Role)> = new
        .iter()
        .map(|(organization_id, path, role)| (*organization_id, (*path, *role)))
        .collect();
    for (organization_id, (path, role)) in &before {
        if after.get(organization_id).map(|(_, role)| *role) != Some(*role) {
            require_can_grant(principal, path, *role)?;
        }
    }
    for (organization_id, (path, role)) in &after {
        if before.get(organization_id).map(|(_, role)| *role) != Some(*role) {
            require_can_grant(principal, path, *role)?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Views
// ---------------------------------------------------------------------------------------------

pub fn user_dto(row: UserRow, memberships: &[HeldMembership]) -> UserDto {
    UserDto {
        id: row.id,
        username: row.username,
        display_name: row.display_name,
        disabled: row.disabled,
        memberships: memberships
            .iter()
            .map(|membership| UserMembershipDto {
                organization_id: membership.organization_id,
                organization_name: membership.organization_name.clone(),
                role: membership.role,
            })
            .collect(),
        created_at: row.created_at,
        updated_at: row.updated_at,
        version: row.version,
    }
}

/// Clients have two states; their ETag follows them.
pub fn client_version(row: &ClientRow) -> i32 {
    if row.revoked_at.is_some() { 2 } else { 1 }
}

pub fn client_dto(row: ClientRow, organization_name: String) -> ClientDto {
    ClientDto {
        id: row.id,
        name: row.name,
        organization_id: row.organization_id,
        organization_name,
        scopes: row
            .scopes
            .iter()
            .flatten()
            .filter_map(|scope| Scope::parse(scope))
            .collect(),
        created_by: row.created_by,
        created_at: row.created_at,
        revoked_at: row.revoked_at,
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Option<Value> {
    serde_json::to_value(value).ok()
}

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

fn check_password(checks: &mut Checks, pointer: &str, password: &str) {
    let length = password.chars().count();
    if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&length) {
        checks.fail(
            pointer,
            format!("must be {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters long"),
        );
    }
}

fn check_membership_list(checks: &mut Checks, memberships: &[MembershipRequest]) {
    if memberships.len() > MAX_MEMBERSHIPS {
        checks.fail(
            "/memberships",
            format!("at most {MAX_MEMBERSHIPS} memberships"),
        );
        return;
    }
    let mut seen = HashSet::new();
    for (index, membership) in memberships.iter().enumerate() {
        if !seen.insert(membership.organization_id) {
            checks.fail(
                &format!("/memberships/{index}/organization_id"),
                "this organization is listed twice; a user holds one role per organization",
            );
        }
    }
}

/// The organizations a membership list names; unknown ones are a 422, and so are inactive ones
/// unless `keep` already holds that exact membership.
async fn resolve_memberships(
    conn: &mut AsyncPgConnection,
    memberships: &[MembershipRequest],
    keep: &[HeldMembership],
) -> AppResult<Vec<(OrganizationRef, Role)>> {
    let ids: Vec<Uuid> = memberships
        .iter()
        .map(|membership| membership.organization_id)
        .collect();
    let mut found = repo::organizations_by_id(conn, &ids).await?;
    let mut checks = Checks::default();
    let mut resolved = Vec::with_capacity(memberships.len());
    for (index, membership) in memberships.iter().enumerate() {
        let pointer = format!("/memberships/{index}/organization_id");
        match found.remove(&membership.organization_id) {
            None => checks.fail(&pointer, "no such organization"),
            Some(organization) => {
                let unchanged = keep.iter().any(|held| {
                    held.organization_id == organization.id && held.role == membership.role
                });
                if !organization.active && !unchanged {
                    let detail =
                        crate::organizations::repo::inactive_detail(conn, organization.id).await?;
                    checks.fail(&pointer, detail);
                } else {
                    resolved.push((organization, membership.role));
                }
            }
        }
    }
    checks.finish()?;
    Ok(resolved)
}

fn last_admin() -> AppError {
    AppError::conflict(
        ProblemCode::LastAdmin,
        "this would leave no enabled administrator; make someone else administrator first",
    )
}

/// The organization an audit event about a user belongs to: its first (highest) membership.
fn audit_organization(after: &[HeldMembership], before: &[HeldMembership]) -> Option<Uuid> {
    after
        .first()
        .or_else(|| before.first())
        .map(|membership| membership.organization_id)
}

// ---------------------------------------------------------------------------------------------
// Users
// ---------------------------------------------------------------------------------------------

/// Loads a user the caller may see, or 404.
pub async fn visible_user(
    conn: &mut AsyncPgConnection,
    principal: &Principal,
    id: Uuid,
) -> AppResult<(UserRow, Vec<HeldMembership>)> {
    require_user(principal)?;
    let row = repo::find(conn, id)
        .await?
        .ok_or_else(AppError::not_found)?;
    let memberships = repo::memberships_of_user(conn, id).await?;
    if !can_read_user(principal, id, &memberships) {
        return Err(AppError::not_found());
    }
    Ok((row, memberships))
}

pub async fn create_user(
    state: &AppState,
    principal: &Principal,
    request: CreateUser,
) -> AppResult<UserDto> {
    require_user(principal)?;
    if !principal.is_admin() && manager_roots(principal).is_empty() {
        return Err(AppError::forbidden(
            "only administrators and managers create users",
        ));
    }
    let username = request.username.trim().to_owned();
    let display_name = request.display_name.trim().to_owned();
    let mut checks = Checks::default();
    if !super::valid_username(&username) {
        checks.fail("/username", super::USERNAME_RULE);
    }
    checks.length("/display_name", &display_name, 1, DISPLAY_NAME_MAX);
    check_password(&mut checks, "/password", &request.password);
    check_membership_list(&mut checks, &request.memberships);
    checks.finish()?;

    // Authorize before hashing: refused callers must not cost an argon2 run.
    {
        let mut conn = state.db.write().await?;
        let resolved = resolve_memberships(&mut conn, &request.memberships, &[]).await?;
        let grants: Vec<(&str, Role)> = resolved
            .iter()
            .map(|(organization, role)| (organization.path.as_str(), *role))
            .collect();
        require_can_create(principal, &grants)?;
        if repo::find_by_username(&mut conn, &username)
            .await?
            .is_some()
        {
            return Err(username_taken());
        }
    }
    let password_hash = state.passwords.hash(&request.password).await?;

    let mut conn = state.db.write().await?;
    let memberships = request.memberships;
    let dto = conn
        .transaction::<_, AppError, _>(async move |conn| {
            // Paths may have moved since the check above: decide again on what is committed.
            let resolved = resolve_memberships(conn, &memberships, &[]).await?;
            let grants: Vec<(&str, Role)> = resolved
                .iter()
                .map(|(organization, role)| (organization.path.as_str(), *role))
                .collect();
            require_can_create(principal, &grants)?;
            let row = repo::insert_user(
                conn,
                NewUser {
                    id: Uuid::now_v7(),
                    username: &username,
                    display_name: &display_name,
                    password_hash: &password_hash,
                },
            )
            .await
            .map_err(|error| unique_as(error, username_taken))?;
            let wanted: Vec<(Uuid, Role)> = resolved
                .iter()
                .map(|(organization, role)| (organization.id, *role))
                .collect();
            repo::replace_memberships(conn, row.id, &wanted).await?;
            let held = repo::memberships_of_user(conn, row.id).await?;
            let dto = user_dto(row, &held);
            audit::record(
                conn,
                Some(principal),
                Change {
                    action: "user.create",
                    entity_type: "user",
                    entity_id: dto.id,
                    organization_id: audit_organization(&held, &[]),
                    before: None,
                    after: to_json(&dto),
                },
            )
            .await?;
            Ok(dto)
        })
        .await?;
    Ok(dto)
}

fn username_taken() -> AppError {
    AppError::conflict(ProblemCode::AlreadyExists, "another user has this username")
}

fn unique_as(error: diesel::result::Error, conflict: fn() -> AppError) -> AppError {
    match &error {
        diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        ) => conflict(),
        _ => error.into(),
    }
}

/// Changes an account; `address` is the caller's client address (a password change by its
/// owner is throttled like a login).
pub async fn update_user(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
    if_match: &IfMatch,
    request: UpdateUser,
    address: Option<std::net::IpAddr>,
) -> AppResult<UserDto> {
    require_user(principal)?;
    let display_name = request
        .display_name
        .as_deref()
        .map(|name| name.trim().to_owned());
    let mut checks = Checks::default();
    if let Some(name) = &display_name {
        checks.length("/display_name", name, 1, DISPLAY_NAME_MAX);
    }
    if let Some(password) = &request.password {
        check_password(&mut checks, "/password", password);
    }
    if let Some(current) = &request.current_password
        && current.chars().count() > MAX_PASSWORD_CHARS
    {
        checks.fail(
            "/current_password",
            format!("must be at most {MAX_PASSWORD_CHARS} characters"),
        );
    }
    if request.current_password.is_some() && request.password.is_none() {
        checks.fail("/current_password", "only goes with a new password");
    }
    checks.finish()?;

    let change_of = |row: &UserRow| {
        account_change(
            row,
            display_name.as_deref(),
            request.disabled,
            request.password.is_some(),
        )
    };

    // Decide before hashing, so a refused caller costs no argon2 run.
    let new_hash = {
        let mut conn = state.db.write().await?;
        let (row, memberships) = visible_user(&mut conn, principal, id).await?;
        require_can_update(principal, id, &memberships, change_of(&row))?;
        drop(conn);
        match &request.password {
            None => None,
            Some(password) => {
                if is_self(principal, id) {
                    let current = request.current_password.as_deref().ok_or_else(|| {
                        AppError::field(
                            "/current_password",
                            "give your current password to change it",
                        )
                    })?;
                    let matches = check_current_password(state, &row, current, address).await?;
                    if !matches {
                        return Err(AppError::field(
                            "/current_password",
                            "is not your current password",
                        ));
                    }
                }
                Some(state.passwords.hash(password).await?)
            }
        }
    };

    let mut conn = state.db.write().await?;
    let (dto, revoked) = conn
        .transaction::<_, AppError, _>(async move |conn| {
            let before = repo::find_for_update(conn, id)
                .await?
                .ok_or_else(AppError::not_found)?;
            let memberships = repo::memberships_of_user(conn, id).await?;
            if !can_read_user(principal, id, &memberships) {
                return Err(AppError::not_found());
            }
            let change = account_change(
                &before,
                display_name.as_deref(),
                request.disabled,
                new_hash.is_some(),
            );
            require_can_update(principal, id, &memberships, change)?;
            if_match.check(before.version)?;
            if !(change.display_name || change.disabled || change.password) {
                return Ok((user_dto(before, &memberships), None));
            }
            let disabling = change.disabled && request.disabled == Some(true);
            let changes = UserChanges {
                display_name: display_name.filter(|_| change.display_name),
                disabled: request.disabled.filter(|_| change.disabled),
                password_hash: new_hash,
            };
            let row = repo::update_account(conn, id, &changes).await?;
            // Every token issued so far ends, on every instance: a disabled account (or a
            // stolen password) must not keep writing until its access tokens expire.
            let revoked = if disabling || change.password {
                Some(revoke_all_tokens_of_user(conn, id).await?)
            } else {
                None
            };
            if disabling
                && memberships
                    .iter()
                    .any(|membership| membership.role == Role::Admin)
                && !repo::enabled_admin_exists(conn).await?
            {
                return Err(last_admin());
            }
            let before_dto = user_dto(before, &memberships);
            let dto = user_dto(row, &memberships);
            let mut after = to_json(&dto);
            if change.password
                && let Some(Value::Object(map)) = &mut after
            {
                map.insert("password_changed".to_owned(), Value::Bool(true));
            }
            audit::record(
                conn,
                Some(principal),
                Change {
                    action: "user.update",
                    entity_type: "user",
                    entity_id: id,
                    organization_id: audit_organization(&memberships, &[]),
                    before: to_json(&before_dto),
                    after,
                },
            )
            .await?;
            Ok((dto, revoked))
        })
        .await?;
    if let Some(revoked) = revoked {
        state.revocations.apply(revoked);
    }
    Ok(dto)
}

pub async fn replace_memberships(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
    if_match: &IfMatch,
    request: ReplaceMemberships,
) -> AppResult<UserDto> {
    require_user(principal)?;
    let mut checks = Checks::default();
    check_membership_list(&mut checks, &request.memberships);
    checks.finish()?;
    let mut conn = state.db.write().await?;
    let dto = conn
        .transaction::<_, AppError, _>(async move |conn| {
            let before = repo::find_for_update(conn, id)
                .await?
                .ok_or_else(AppError::not_found)?;
            let old = repo::memberships_of_user(conn, id).await?;
            if !can_read_user(principal, id, &old) {
                return Err(AppError::not_found());
            }
            let resolved = resolve_memberships(conn, &request.memberships, &old).await?;
            let new: Vec<(Uuid, &str, Role)> = resolved
                .iter()
                .map(|(organization, role)| (organization.id, organization.path.as_str(), *role))
                .collect();
            require_can_replace_memberships(principal, id, &old, &new)?;
            if_match.check(before.version)?;
            let old_set: BTreeMap<Uuid, Role> = old
                .iter()
                .map(|membership| (membership.organization_id, membership.role))
                .collect();
            let new_set: BTreeMap<Uuid, Role> = new
                .iter()
                .map(|(organization_id, _, role)| (*organization_id, *role))
                .collect();
            if old_set == new_set {
                return Ok(user_dto(before, &old));
            }
            let wanted: Vec<(Uuid, Role)> = new_set.into_iter().collect();
            repo::replace_memberships(conn, id, &wanted).await?;
            let was_admin = old.iter().any(|membership| membership.role == Role::Admin);
            let is_admin = wanted.iter().any(|(_, role)| *role == Role::Admin);
            if was_admin && !is_admin && !repo::enabled_admin_exists(conn).await? {
                return Err(last_admin());
            }
            let row = repo::touch(conn, id).await?;
            let held = repo::memberships_of_user(conn, id).await?;
            let before_dto = user_dto(before, &old);
            let dto = user_dto(row, &held);
            audit::record(
                conn,
                Some(principal),
                Change {
                    action: "user.replace_memberships",
                    entity_type: "user",
                    entity_id: id,
                    organization_id: audit_organization(&held, &old),
                    before: to_json(&before_dto),
                    after: to_json(&dto),
                },
            )
            .await?;
            Ok(dto)
        })
        .await?;
    Ok(dto)
}

// ---------------------------------------------------------------------------------------------
// Partner clients
// ---------------------------------------------------------------------------------------------

pub async fn create_client(
    state: &AppState,
    principal: &Principal,
    request: CreateClient,
) -> AppResult<CreatedClientDto> {
    require_admin(principal)?;
    let name = request.name.trim().to_owned();
    let mut checks = Checks::default();
    checks.length("/name", &name, 1, CLIENT_NAME_MAX);
    if request.scopes.is_empty() {
        checks.fail("/scopes", "give at least one scope: read, progress:write");
    }
    // The document's `maxItems`: no more items than there are scopes.
    if request.scopes.len() > Scope::ALL.len() {
        checks.fail(
            "/scopes",
            format!("at most {} scopes: read, progress:write", Scope::ALL.len()),
        );
    }
    checks.finish()?;
    let mut scopes: Vec<&str> = request.scopes.iter().map(|scope| scope.as_str()).collect();
    scopes.sort_unstable();
    scopes.dedup();
    let secret = random_secret();
    let secret_hash = hex_digest(&secret);
    let mut conn = state.db.write().await?;
    let client = conn
        .transaction::<_, AppError, _>(async move |conn| {
            let organization = repo::organizations_by_id(conn, &[request.organization_id])
                .await?
                .remove(&request.organization_id)
                .ok_or_else(|| AppError::field("/organization_id", "no such organization"))?;
            if !organization.active {
                let detail =
                    crate::organizations::repo::inactive_detail(conn, organization.id).await?;
                return Err(AppError::field("/organization_id", detail));
            }
            let row = repo::insert_client(
                conn,
                NewClient {
                    id: Uuid::now_v7(),
                    name: &name,
                    secret_hash: &secret_hash,
                    organization_id: organization.id,
                    scopes,
                    created_by: Some(principal.id),
                },
            )
            .await?;
            let dto = client_dto(row, organization.name);
            audit::record(
                conn,
                Some(principal),
                Change {
                    action: "client.create",
                    entity_type: "client",
                    entity_id: dto.id,
                    organization_id: Some(dto.organization_id),
                    before: None,
                    after: to_json(&dto),
                },
            )
            .await?;
            Ok(dto)
        })
        .await?;
    Ok(CreatedClientDto {
        client,
        client_secret: secret,
    })
}

/// Deletes (revokes) a client; deleting a deleted client changes nothing.
pub async fn revoke_client(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
    if_match: &IfMatch,
) -> AppResult<()> {
    require_admin(principal)?;
    let mut conn = state.db.write().await?;
    let revoked = conn
        .transaction::<_, AppError, _>(async move |conn| {
            let before = repo::find_client_for_update(conn, id)
                .await?
                .ok_or_else(AppError::not_found)?;
            if_match.check(client_version(&before))?;
            if before.revoked_at.is_some() {
                return Ok(None);
            }
            let organization_id = before.organization_id;
            let organization_name = repo::organizations_by_id(conn, &[organization_id])
                .await?
                .remove(&organization_id)
                .map(|organization| organization.name)
                .unwrap_or_default();
            let row = repo::revoke_client(conn, id).await?;
            // The client's access tokens end with it, on every instance.
            let revoked = revocation::revoke(conn, id, Kind::Principal).await?;
            audit::record(
                conn,
                Some(principal),
                Change {
                    action: "client.revoke",
                    entity_type: "client",
                    entity_id: id,
                    organization_id: Some(organization_id),
                    before: to_json(&client_dto(before, organization_name.clone())),
                    after: to_json(&client_dto(row, organization_name)),
                },
            )
            .await?;
            Ok(Some(revoked))
        })
        .await?;
    if let Some(revoked) = revoked {
        state.revocations.apply(revoked);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::principal::{Grant, PrincipalKind};

    const D1: &str = "1.2.";
    const C1: &str = "1.2.3.";
    const K1: &str = "1.2.3.4.";
    const C2: &str = "1.5.6.";

    fn principal(id: Uuid, grants: &[(&str, Role)]) -> Principal {
        Principal {
            id,
            kind: PrincipalKind::User,
            name: "t".into(),
            grants: grants
                .iter()
                .map(|(path, role)| Grant {
                    organization_id: Uuid::nil(),
                    path: (*path).to_owned(),
                    role: *role,
                })
                .collect(),
            scopes: vec![],
            token_expires_at: 0,
        }
    }

    fn held(organization: u128, path: &str, role: Role) -> HeldMembership {
        HeldMembership {
            organization_id: Uuid::from_u128(organization),
            organization_name: path.to_owned(),
            path: path.to_owned(),
            role,
        }
    }

    fn caller(grants: &[(&str, Role)]) -> Principal {
        principal(Uuid::from_u128(1), grants)
    }

    const TARGET: Uuid = Uuid::from_u128(2);

    #[test]
    fn managers_read_users_of_their_subtree_and_everyone_reads_themself() {
        let d1_manager = caller(&[(D1, Role::Manager)]);
        let d1_reviewer = caller(&[(D1, Role::Reviewer)]);
        let in_c1 = [held(3, C1, Role::Member)];
        let in_c2 = [held(4, C2, Role::Member)];
        assert!(can_read_user(&d1_manager, TARGET, &in_c1));
        assert!(!can_read_user(&d1_manager, TARGET, &in_c2));
        assert!(!can_read_user(&d1_reviewer, TARGET, &in_c1));
        assert!(can_read_user(&d1_reviewer, Uuid::from_u128(1), &[]));
        assert!(can_read_user(&caller(&[(D1, Role::Admin)]), TARGET, &in_c2));
    }

    #[test]
    fn a_manager_changes_an_account_only_when_covering_every_membership() {
        let d1_manager = caller(&[(D1, Role::Manager)]);
        let change = AccountChange {
            disabled: true,
            ..AccountChange::default()
        };
        assert!(
            require_can_update(&d1_manager, TARGET, &[held(3, C1, Role::Manager)], change).is_ok()
        );
        assert!(
            require_can_update(
                &d1_manager,
                TARGET,
                &[held(3, C1, Role::Member), held(4, C2, Role::Member)],
                change
            )
            .is_err()
        );
        assert!(
            require_can_update(&d1_manager, TARGET, &[held(3, C1, Role::Admin)], change).is_err()
        );
        assert!(require_can_update(&d1_manager, TARGET, &[], change).is_err());
    }

    #[test]
    fn users_change_their_own_name_and_password_but_not_their_disabled_flag() {
        let member = caller(&[(C1, Role::Member)]);
        let me = Uuid::from_u128(1);
        let mine = [held(3, C1, Role::Member)];
        let rename = AccountChange {
            display_name: true,
            password: true,
            ..AccountChange::default()
        };
        assert!(require_can_update(&member, me, &mine, rename).is_ok());
        let disable = AccountChange {
            disabled: true,
            ..AccountChange::default()
        };
        assert!(require_can_update(&member, me, &mine, disable).is_err());
        let admin = caller(&[(D1, Role::Admin)]);
        assert!(require_can_update(&admin, me, &mine, disable).is_err());
        assert!(require_can_update(&member, TARGET, &mine, rename).is_err());
    }

    #[test]
    fn creating_needs_a_membership_inside_the_callers_subtree_at_most_its_role() {
        let d1_manager = caller(&[(D1, Role::Manager)]);
        assert!(require_can_create(&d1_manager, &[(C1, Role::Manager)]).is_ok());
        assert!(require_can_create(&d1_manager, &[(C2, Role::Member)]).is_err());
        assert!(require_can_create(&d1_manager, &[(C1, Role::Admin)]).is_err());
        assert!(require_can_create(&d1_manager, &[]).is_err());
        assert!(require_can_create(&caller(&[(C1, Role::Member)]), &[(K1, Role::Member)]).is_err());
        assert!(require_can_create(&caller(&[(D1, Role::Admin)]), &[]).is_ok());
    }

    #[test]
    fn replacing_memberships_leaves_foreign_ones_alone_and_never_raises_oneself() {
        let d1_manager = caller(&[(D1, Role::Manager)]);
        let old = [held(3, C1, Role::Member), held(4, C2, Role::Reviewer)];
        let c1 = Uuid::from_u128(3);
        let c2 = Uuid::from_u128(4);
        let k1 = Uuid::from_u128(5);
        // Promote inside the subtree, keep the foreign one: allowed.
        assert!(
            require_can_replace_memberships(
                &d1_manager,
                TARGET,
                &old,
                &[(c1, C1, Role::Manager), (c2, C2, Role::Reviewer)]
            )
            .is_ok()
        );
        // Dropping or changing the foreign one: refused.
        assert!(
            require_can_replace_memberships(&d1_manager, TARGET, &old, &[(c1, C1, Role::Member)])
                .is_err()
        );
        assert!(
            require_can_replace_memberships(
                &d1_manager,
                TARGET,
                &old,
                &[(c1, C1, Role::Member), (c2, C2, Role::Member)]
            )
            .is_err()
        );
        // Adding inside, at most manager.
        assert!(
            require_can_replace_memberships(
                &d1_manager,
                TARGET,
                &old,
                &[
                    (c1, C1, Role::Member),
                    (c2, C2, Role::Reviewer),
                    (k1, K1, Role::Admin)
                ]
            )
            .is_err()
        );
        // Oneself: refused even inside one's own subtree.
        let me = Uuid::from_u128(1);
        assert!(
            require_can_replace_memberships(
                &caller(&[(C1, Role::Manager)]),
                me,
                &[held(3, C1, Role::Manager)],
                &[(c1, C1, Role::Manager), (k1, K1, Role::Manager)]
            )
            .is_err()
        );
    }
}
