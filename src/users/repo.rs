//! Queries of users, memberships and partner clients.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::model::{ClientRow, NewClient, NewMembership, NewUser, UserChanges, UserRow};
use crate::audit::{self, Change};
use crate::auth::principal::Role;
use crate::auth::service::lower;
use crate::db::schema::{clients, memberships, organizations, users};
use crate::error::AppError;
use crate::organizations::dto::OrganizationKind;
use crate::organizations::repo::organization_in_subtrees;
use crate::state::AppState;

pub async fn find_by_username(
    conn: &mut AsyncPgConnection,
    username: &str,
) -> QueryResult<Option<UserRow>> {
    users::table
        .filter(lower(users::username).eq(username.to_lowercase()))
        .select(UserRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// Creates the user `username` with `role` in `organization_id`, or resets its password and
/// adds the membership when it exists. Used by the CLI and the demo loader.
pub async fn ensure_user(
    conn: &mut AsyncPgConnection,
    username: &str,
    display_name: &str,
    password_hash: &str,
    organization_id: Uuid,
    role: Role,
) -> QueryResult<Uuid> {
    let id = match find_by_username(conn, username).await? {
        Some(existing) => {
            diesel::update(users::table.find(existing.id))
                .set((
                    users::password_hash.eq(password_hash),
                    users::disabled.eq(false),
                    users::version.eq(users::version + 1),
                    users::updated_at.eq(diesel::dsl::now),
                ))
                .execute(conn)
                .await?;
            existing.id
        }
        None => {
            let id = Uuid::now_v7();
            diesel::insert_into(users::table)
                .values(NewUser {
                    id,
                    username,
                    display_name,
                    password_hash,
                })
                .execute(conn)
                .await?;
            id
        }
    };
    diesel::insert_into(memberships::table)
        .values(NewMembership {
            user_id: id,
            organization_id,
            role,
        })
        .on_conflict((memberships::user_id, memberships::organization_id))
        .do_update()
        .set(memberships::role.eq(role))
        .execute(conn)
        .await?;
    Ok(id)
}

/// What `thidua create-admin` did, in the words it prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bootstrapped {
    /// A new administrator at the first root; `created_root` when the tree was empty and
    /// this root was made for it.
    Created {
        id: Uuid,
        root: String,
        created_root: bool,
    },
    /// `--reset-password` on an existing user: its password changed and its tokens ended; its
    /// roles are as they were (`admin`: whether one of them is administrator).
    PasswordReset { id: Uuid, admin: bool },
}

impl std::fmt::Display for Bootstrapped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Created {
                id,
                root,
                created_root,
            } => {
                write!(f, "created administrator (id {id}) at {root:?}")?;
                if *created_root {
                    write!(
                        f,
                        ", the root of the tree, created now because it was empty"
                    )?;
                }
                Ok(())
            }
            Self::PasswordReset { id, admin: true } => write!(
                f,
                "password reset for administrator (id {id}); its sessions were ended, its \
                 roles are unchanged"
            ),
            Self::PasswordReset { id, admin: false } => write!(
                f,
                "password reset (id {id}); its sessions were ended; it is NOT an administrator \
                 and was not made one (an administrator grants roles with PUT \
                 /api/v1/users/{{id}}/memberships)"
            ),
        }
    }
}

/// `thidua create-admin`: a new administrator at the first root organization (created when the
/// tree is still empty). An existing user is refused unless `reset_password`, and then only its
/// password changes: running the command twice, or on someone else's name, must not silently
/// take over or promote an account.
pub async fn bootstrap_admin(
    state: &AppState,
    username: &str,
    password: &str,
    reset_password: bool,
) -> anyhow::Result<Bootstrapped> {
    let username = username.trim();
    anyhow::ensure!(super::valid_username(username), "{}", super::USERNAME_RULE);
    let mut conn = state.db.write().await?;
    let existing = find_by_username(&mut conn, username).await?;
    if existing.is_some() && !reset_password {
        anyhow::bail!(
            "user {username} already exists; nothing was changed. Pass --reset-password to set \
             its password (its roles stay as they are)"
        );
    }
    let hash = state
        .passwords
        .hash(password)
        .await
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    let username = username.to_owned();
    conn.transaction::<_, AppError, _>(async move |conn| match existing {
        Some(user) => {
            diesel::update(users::table.find(user.id))
                .set((
                    users::password_hash.eq(&hash),
                    users::version.eq(users::version + 1),
                    users::updated_at.eq(diesel::dsl::now),
                ))
                .execute(conn)
                .await?;
            // A reset password is the answer to a lost or stolen one: what was issued ends.
            let revoked = crate::auth::service::revoke_all_tokens_of_user(conn, user.id).await?;
            let admin = memberships_of_user(conn, user.id)
                .await?
                .iter()
                .any(|membership| membership.role == Role::Admin);
            audit::record(
                conn,
                None,
                Change {
                    action: "user.reset_password",
                    entity_type: "user",
                    entity_id: user.id,
                    organization_id: None,
                    before: None,
                    after: Some(serde_json::json!({ "username": user.username })),
                },
            )
            .await?;
            Ok((
                Bootstrapped::PasswordReset { id: user.id, admin },
                Some(revoked),
            ))
        }
        None => {
            let root: Option<(Uuid, String)> = organizations::table
                .filter(organizations::parent_id.is_null())
                .order(organizations::seq.asc())
                .select((organizations::id, organizations::name))
                .first(conn)
                .await
                .optional()?;
            let created_root = root.is_none();
            let (root, root_name) = match root {
                Some(root) => root,
                None => {
                    let row = crate::organizations::repo::insert(
                        conn,
                        None,
                        OrganizationKind::Other,
                        "Cả nước",
                        None,
                    )
                    .await?;
                    (row.id, row.name)
                }
            };
            let id = ensure_user(conn, &username, &username, &hash, root, Role::Admin).await?;
            audit::record(
                conn,
                None,
                Change {
                    action: "user.bootstrap_admin",
                    entity_type: "user",
                    entity_id: id,
                    organization_id: Some(root),
                    before: None,
                    after: Some(serde_json::json!({ "username": username, "role": "admin" })),
                },
            )
            .await?;
            let created = Bootstrapped::Created {
                id,
                root: root_name,
                created_root,
            };
            Ok((created, None))
        }
    })
    .await
    .map(|(done, revoked)| {
        // Other instances learn of it from the database; this one at once.
        if let Some(revoked) = revoked {
            state.revocations.apply(revoked);
        }
        done
    })
    .map_err(|error| anyhow::anyhow!("{error:?}"))
}

/// A membership of a user with what authorization and responses need of its organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldMembership {
    pub organization_id: Uuid,
    pub organization_name: String,
    /// Materialized path of the organization (for subtree checks).
    pub path: String,
    pub role: Role,
}

/// What an organization named in a request is, for granting roles or binding clients.
#[derive(Debug, Clone)]
pub struct OrganizationRef {
    pub id: Uuid,
    pub name: String,
    pub path: String,
    pub active: bool,
}

crate::db::row_by_id!(users, UserRow);

/// The memberships of each of `user_ids`, highest units first (one query for a whole page).
pub async fn memberships_of(
    conn: &mut AsyncPgConnection,
    user_ids: &[Uuid],
) -> QueryResult<HashMap<Uuid, Vec<HeldMembership>>> {
    let rows: Vec<(Uuid, Uuid, String, String, Role)> = memberships::table
        .inner_join(organizations::table)
        .filter(memberships::user_id.eq_any(user_ids))
        .select((
            memberships::user_id,
            memberships::organization_id,
            organizations::name,
            organizations::path,
            memberships::role,
        ))
        .order((
            memberships::user_id,
            organizations::depth.asc(),
            memberships::created_at.asc(),
            organizations::path.asc(),
        ))
        .load(conn)
        .await?;
    let mut by_user: HashMap<Uuid, Vec<HeldMembership>> = HashMap::new();
    for (user_id, organization_id, organization_name, path, role) in rows {
        by_user.entry(user_id).or_default().push(HeldMembership {
            organization_id,
            organization_name,
            path,
            role,
        });
    }
    Ok(by_user)
}

/// The memberships of one user.
pub async fn memberships_of_user(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
) -> QueryResult<Vec<HeldMembership>> {
    Ok(memberships_of(conn, &[user_id])
        .await?
        .remove(&user_id)
        .unwrap_or_default())
}

/// The organizations among `ids` that exist.
pub async fn organizations_by_id(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
) -> QueryResult<HashMap<Uuid, OrganizationRef>> {
    let rows: Vec<(Uuid, String, String, bool)> = organizations::table
        .filter(organizations::id.eq_any(ids))
        .select((
            organizations::id,
            organizations::name,
            organizations::path,
            organizations::active,
        ))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, name, path, active)| {
            (
                id,
                OrganizationRef {
                    id,
                    name,
                    path,
                    active,
                },
            )
        })
        .collect())
}

/// Which users a list may return, already authorized.
pub enum UserScope {
    Everyone,
    /// Users with at least one membership inside one of these subtrees (materialized paths).
    MembersOf(Vec<String>),
}

/// Filters of a user listing, already validated.
pub struct UserListQuery<'a> {
    pub scope: UserScope,
    /// Users with a membership in exactly this organization.
    pub organization_id: Option<Uuid>,
    /// Users with a membership inside this subtree.
    pub organization_subtree: Option<String>,
    pub q: Option<&'a str>,
    pub disabled: Option<bool>,
    /// Keyset: (lower(username), id) of the last row of the previous page.
    pub after: Option<(String, Uuid)>,
    pub limit: i64,
}

/// Lists users by (lower(username), id), fetching `limit + 1` rows.
pub async fn list(
    conn: &mut AsyncPgConnection,
    query: UserListQuery<'_>,
) -> QueryResult<Vec<UserRow>> {
    let mut statement = users::table
        .select(UserRow::as_select())
        // Usernames are ASCII: byte order is the natural one and the same on every server.
        .order((
            sql::<Text>("lower(users.username) COLLATE \"C\""),
            users::id,
        ))
        .limit(query.limit + 1)
        .into_boxed();
    if let UserScope::MembersOf(roots) = &query.scope {
        statement = statement.filter(
            users::id.eq_any(
                memberships::table
                    .filter(organization_in_subtrees(
                        "memberships.organization_id",
                        roots,
                    ))
                    .select(memberships::user_id),
            ),
        );
    }
    if let Some(organization_id) = query.organization_id {
        statement = statement.filter(
            users::id.eq_any(
                memberships::table
                    .filter(memberships::organization_id.eq(organization_id))
                    .select(memberships::user_id),
            ),
        );
    }
    if let Some(path) = &query.organization_subtree {
        statement = statement.filter(
            users::id.eq_any(
                memberships::table
                    .filter(organization_in_subtrees(
                        "memberships.organization_id",
                        std::slice::from_ref(path),
                    ))
                    .select(memberships::user_id),
            ),
        );
    }
    if let Some(disabled) = query.disabled {
        statement = statement.filter(users::disabled.eq(disabled));
    }
    for word in crate::text::search_words(query.q.unwrap_or_default()) {
        statement = statement.filter(
            sql::<Bool>(
                "search_fold(users.display_name || ' ' || users.username) LIKE '%' || search_fold(",
            )
            .bind::<Text, _>(word)
            .sql(") || '%'"),
        );
    }
    if let Some((username, id)) = query.after {
        statement = statement.filter(
            sql::<Bool>("(lower(users.username) COLLATE \"C\", users.id) > (")
                .bind::<Text, _>(username)
                .sql(" COLLATE \"C\", ")
                .bind::<diesel::sql_types::Uuid, _>(id)
                .sql(")"),
        );
    }
    statement.load(conn).await
}

/// Makes `wanted` the memberships of `user_id`: drops the others, adds the new ones, changes
/// roles in place (a kept membership keeps its `created_at`).
pub async fn replace_memberships(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    wanted: &[(Uuid, Role)],
) -> QueryResult<()> {
    let keep: Vec<Uuid> = wanted.iter().map(|(id, _)| *id).collect();
    diesel::delete(
        memberships::table
            .filter(memberships::user_id.eq(user_id))
            .filter(memberships::organization_id.ne_all(&keep)),
    )
    .execute(conn)
    .await?;
    for (organization_id, role) in wanted {
        diesel::insert_into(memberships::table)
            .values(NewMembership {
                user_id,
                organization_id: *organization_id,
                role: *role,
            })
            .on_conflict((memberships::user_id, memberships::organization_id))
            .do_update()
            .set(memberships::role.eq(role))
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// Whether an enabled user still holds the admin role (nobody may remove the last one).
pub async fn enabled_admin_exists(conn: &mut AsyncPgConnection) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        memberships::table
            .inner_join(users::table)
            .filter(memberships::role.eq(Role::Admin))
            .filter(users::disabled.eq(false)),
    ))
    .get_result(conn)
    .await
}

/// Applies `changes` to an account and bumps its version.
pub async fn update_account(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    changes: &UserChanges,
) -> QueryResult<UserRow> {
    diesel::update(users::table.find(id))
        .set((
            changes,
            users::version.eq(users::version + 1),
            users::updated_at.eq(diesel::dsl::now),
        ))
        .returning(UserRow::as_returning())
        .get_result(conn)
        .await
}

/// Bumps the version of a user whose memberships changed.
pub async fn touch(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<UserRow> {
    diesel::update(users::table.find(id))
        .set((
            users::version.eq(users::version + 1),
            users::updated_at.eq(diesel::dsl::now),
        ))
        .returning(UserRow::as_returning())
        .get_result(conn)
        .await
}

pub async fn find_client(
    conn: &mut AsyncPgConnection,
    id: Uuid,
) -> QueryResult<Option<(ClientRow, String)>> {
    clients::table
        .inner_join(organizations::table)
        .filter(clients::id.eq(id))
        .select((ClientRow::as_select(), organizations::name))
        .first(conn)
        .await
        .optional()
}

/// Locks a client row for the rest of the transaction.
pub async fn find_client_for_update(
    conn: &mut AsyncPgConnection,
    id: Uuid,
) -> QueryResult<Option<ClientRow>> {
    clients::table
        .find(id)
        .select(ClientRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()
}

/// Filters of a client listing, already validated.
pub struct ClientListQuery {
    pub organization_id: Option<Uuid>,
    pub revoked: Option<bool>,
    /// Keyset: (created_at, id) of the last row of the previous page.
    pub after: Option<(DateTime<Utc>, Uuid)>,
    pub limit: i64,
}

/// Lists clients oldest first, with their organization's name, fetching `limit + 1` rows.
pub async fn list_clients(
    conn: &mut AsyncPgConnection,
    query: ClientListQuery,
) -> QueryResult<Vec<(ClientRow, String)>> {
    let mut statement = clients::table
        .inner_join(organizations::table)
        .select((ClientRow::as_select(), organizations::name))
        .order((clients::created_at.asc(), clients::id.asc()))
        .limit(query.limit + 1)
        .into_boxed();
    if let Some(organization_id) = query.organization_id {
        statement = statement.filter(clients::organization_id.eq(organization_id));
    }
    match query.revoked {
        Some(true) => statement = statement.filter(clients::revoked_at.is_not_null()),
        Some(false) => statement = statement.filter(clients::revoked_at.is_null()),
        None => {}
    }
    if let Some((created_at, id)) = query.after {
        statement = statement.filter(
            clients::created_at
                .gt(created_at)
                .or(clients::created_at.eq(created_at).and(clients::id.gt(id))),
        );
    }
    statement.load(conn).await
}

pub async fn insert_user(conn: &mut AsyncPgConnection, user: NewUser<'_>) -> QueryResult<UserRow> {
    diesel::insert_into(users::table)
        .values(user)
        .returning(UserRow::as_returning())
        .get_result(conn)
        .await
}

pub async fn insert_client(
    conn: &mut AsyncPgConnection,
    client: NewClient<'_>,
) -> QueryResult<ClientRow> {
    diesel::insert_into(clients::table)
        .values(client)
        .returning(ClientRow::as_returning())
        .get_result(conn)
        .await
}

/// Marks a client deleted: the token endpoint refuses it from now on.
pub async fn revoke_client(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<ClientRow> {
    diesel::update(clients::table.find(id))
        .set(clients::revoked_at.eq(diesel::dsl::now))
        .returning(ClientRow::as_returning())
        .get_result(conn)
        .await
}
