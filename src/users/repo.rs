//! Queries of users and memberships.

use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::model::{NewMembership, NewUser, UserRow};
use crate::audit::{self, Change};
use crate::auth::principal::Role;
use crate::auth::service::lower;
use crate::db::schema::{memberships, organizations, users};
use crate::error::AppError;
use crate::organizations::dto::OrganizationKind;
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
            role: role.as_str(),
        })
        .on_conflict((memberships::user_id, memberships::organization_id))
        .do_update()
        .set(memberships::role.eq(role.as_str()))
        .execute(conn)
        .await?;
    Ok(id)
}

/// `thidua create-admin`: an administrator at the first root organization (created when the
/// tree is still empty).
pub async fn bootstrap_admin(
    state: &AppState,
    username: &str,
    password: &str,
) -> anyhow::Result<Uuid> {
    let username = username.trim();
    anyhow::ensure!(super::valid_username(username), "{}", super::USERNAME_RULE);
    let hash = state
        .passwords
        .hash(password)
        .await
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    let mut conn = state.db.write().await?;
    let id = conn
        .transaction::<_, AppError, _>(async move |conn| {
            let root: Option<Uuid> = organizations::table
                .filter(organizations::parent_id.is_null())
                .order(organizations::seq.asc())
                .select(organizations::id)
                .first(conn)
                .await
                .optional()?;
            let root = match root {
                Some(root) => root,
                None => {
                    crate::organizations::repo::insert(
                        conn,
                        None,
                        OrganizationKind::Other,
                        "Cả nước",
                        None,
                    )
                    .await?
                    .id
                }
            };
            let id = ensure_user(conn, username, username, &hash, root, Role::Admin).await?;
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
            Ok(id)
        })
        .await
        .map_err(|error| anyhow::anyhow!("{error:?}"))?;
    Ok(id)
}
