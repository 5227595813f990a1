//! The OAuth 2.0 grants: password, refresh token (rotating, reuse revokes the family) and
//! client credentials; plus revocation and the grants a user's token carries.

use std::net::IpAddr;

use chrono::{Duration as ChronoDuration, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::principal::{Role, Scope};
use super::revocation::{self, Kind};
use super::throttle;
use super::tokens::{GrantClaim, random_secret, secret_digest};
use crate::db::schema::{clients, memberships, organizations, refresh_tokens, users};
use crate::error::{AppError, AppResult, ProblemCode};
use crate::state::AppState;
use crate::text::nfc;
use crate::users::model::{ClientRow, UserRow};

diesel::define_sql_function!(
    /// SQL `lower(text)`.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text);

/// What the token endpoint answers on success.
pub struct IssuedTokens {
    pub access_token: String,
    pub expires_in: u64,
    pub refresh_token: Option<String>,
    pub scope: String,
}

/// An OAuth error (RFC 6749 §5.2) carried as a problem.
pub fn oauth_error(code: ProblemCode, description: &str) -> AppError {
    let status = match code {
        ProblemCode::InvalidClient | ProblemCode::InvalidGrant => {
            actix_web::http::StatusCode::UNAUTHORIZED
        }
        _ => actix_web::http::StatusCode::BAD_REQUEST,
    };
    let error = AppError::new(status, code, description)
        .with_extra("error", code.as_str())
        .with_extra("error_description", description);
    if status == actix_web::http::StatusCode::UNAUTHORIZED {
        error.with_header(actix_web::http::header::WWW_AUTHENTICATE, "Bearer")
    } else {
        error
    }
}

fn invalid_credentials() -> AppError {
    oauth_error(
        ProblemCode::InvalidGrant,
        "the username or password is not correct",
    )
}

/// The throttling key of a username: case-folded, NFC.
pub fn account_key(username: &str) -> String {
    nfc(username.trim()).to_lowercase()
}

/// Users scopes: everything their roles allow.
const USER_SCOPE: &str = "read progress:write";

/// `grant_type=password`, from the client address `address`.
pub async fn password_grant(
    state: &AppState,
    username: &str,
    password: &str,
    address: Option<IpAddr>,
) -> AppResult<IssuedTokens> {
    let key = account_key(username);
    if key.is_empty() || key.len() > 256 {
        // Still spend a verification so the answer takes as long as for a real account.
        let _ = state.passwords.verify(password, None).await?;
        return Err(invalid_credentials());
    }
    let limits = throttle::Limits::from_settings(&state.settings);
    let user: Option<UserRow> = {
        let mut conn = state.db.write().await?;
        let attempt = throttle::begin_attempt(&mut conn, &key, address, limits).await?;
        if let throttle::Attempt::Refused { retry_after } = attempt {
            return Err(too_many_failures(retry_after));
        }
        users::table
            .filter(lower(users::username).eq(&key))
            .select(UserRow::as_select())
            .first(&mut conn)
            .await
            .optional()?
        // The connection goes back to the pool here: hashing waits for a bounded number of
        // slots, and a login storm must not hold every connection meanwhile.
    };
    let usable = user.as_ref().filter(|user| !user.disabled);
    let verified = state
        .passwords
        .verify(password, usable.map(|user| user.password_hash.as_str()))
        .await?;
    let mut conn = state.db.write().await?;
    let Some(user) = usable.filter(|_| verified.matches) else {
        if let Some(until) = throttle::record_failure(&mut conn, &key, address, limits).await? {
            let seconds = (until - Utc::now()).num_seconds().max(1);
            return Err(too_many_failures(u64::try_from(seconds).unwrap_or(1)));
        }
        return Err(invalid_credentials());
    };
    throttle::clear(&mut conn, &key, address).await?;
    if let Some(rehash) = verified.rehash {
        diesel::update(users::table.find(user.id))
            .set(users::password_hash.eq(rehash))
            .execute(&mut conn)
            .await?;
    }
    let grants = user_grants(&mut conn, user.id).await?;
    let (session, refresh_token) = start_refresh_family(&mut conn, state, user.id).await?;
    let access_token = state
        .tokens
        .issue(
            user.id,
            Some(session),
            "user",
            &user.username,
            USER_SCOPE,
            grants,
        )
        .map_err(AppError::internal)?;
    Ok(IssuedTokens {
        access_token,
        expires_in: state.tokens.ttl().as_secs(),
        refresh_token: Some(refresh_token),
        scope: USER_SCOPE.to_owned(),
    })
}

/// Verifies `password` against `user`'s hash for a password change, throttled exactly like a
/// login (the same counters: guesses through either path add up). `Ok(false)`: wrong password.
pub async fn check_current_password(
    state: &AppState,
    user: &UserRow,
    password: &str,
    address: Option<IpAddr>,
) -> AppResult<bool> {
    let key = account_key(&user.username);
    let limits = throttle::Limits::from_settings(&state.settings);
    {
        let mut conn = state.db.write().await?;
        let attempt = throttle::begin_attempt(&mut conn, &key, address, limits).await?;
        if let throttle::Attempt::Refused { retry_after } = attempt {
            return Err(too_many_failures(retry_after));
        }
    }
    let verified = state
        .passwords
        .verify(password, Some(&user.password_hash))
        .await?;
    let mut conn = state.db.write().await?;
    if verified.matches {
        throttle::clear(&mut conn, &key, address).await?;
        return Ok(true);
    }
    if let Some(until) = throttle::record_failure(&mut conn, &key, address, limits).await? {
        let seconds = (until - Utc::now()).num_seconds().max(1);
        return Err(too_many_failures(u64::try_from(seconds).unwrap_or(1)));
    }
    Ok(false)
}

fn too_many_failures(retry_after: u64) -> AppError {
    AppError::too_many_requests(
        retry_after,
        "too many failed logins for this account; wait before trying again",
    )
}

/// The memberships of a user, with each organization's current path, as token claims.
pub async fn user_grants(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
) -> QueryResult<Vec<GrantClaim>> {
    let rows: Vec<(Uuid, String, String)> = memberships::table
        .inner_join(organizations::table)
        .filter(memberships::user_id.eq(user_id))
        .select((
            memberships::organization_id,
            organizations::path,
            memberships::role,
        ))
        .order((organizations::depth.asc(), memberships::created_at.asc()))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(o, p, r)| GrantClaim { o, p, r })
        .collect())
}

/// A new refresh-token family (session): its id, the `sid` of its access tokens, and its
/// first refresh token.
async fn start_refresh_family(
    conn: &mut AsyncPgConnection,
    state: &AppState,
    user_id: Uuid,
) -> QueryResult<(Uuid, String)> {
    let family = Uuid::new_v4();
    let secret = insert_refresh_token(conn, state, user_id, family).await?;
    Ok((family, secret))
}

async fn insert_refresh_token(
    conn: &mut AsyncPgConnection,
    state: &AppState,
    user_id: Uuid,
    family_id: Uuid,
) -> QueryResult<String> {
    let secret = random_secret();
    let ttl = ChronoDuration::from_std(state.settings.refresh_token_ttl)
        .unwrap_or(ChronoDuration::days(30));
    diesel::insert_into(refresh_tokens::table)
        .values((
            refresh_tokens::id.eq(Uuid::now_v7()),
            refresh_tokens::token_hash.eq(secret_digest(&secret)),
            refresh_tokens::family_id.eq(family_id),
            refresh_tokens::user_id.eq(user_id),
            refresh_tokens::expires_at.eq(Utc::now() + ttl),
        ))
        .execute(conn)
        .await?;
    Ok(secret)
}

/// `grant_type=refresh_token`: rotates the token; a token presented twice revokes its family.
pub async fn refresh_grant(state: &AppState, presented: &str) -> AppResult<IssuedTokens> {
    let digest = secret_digest(presented);
    let mut conn = state.db.write().await?;
    let outcome = conn
        .transaction::<_, AppError, _>(async move |conn| {
            let claimed: Option<(Uuid, Uuid)> = diesel::update(
                refresh_tokens::table
                    .filter(refresh_tokens::token_hash.eq(&digest))
                    .filter(refresh_tokens::used_at.is_null())
                    .filter(refresh_tokens::revoked_at.is_null())
                    .filter(refresh_tokens::expires_at.gt(Utc::now())),
            )
            .set(refresh_tokens::used_at.eq(Utc::now()))
            .returning((refresh_tokens::family_id, refresh_tokens::user_id))
            .get_result(conn)
            .await
            .optional()?;
            let Some((family_id, user_id)) = claimed else {
                return Ok(None);
            };
            let user: UserRow = users::table
                .find(user_id)
                .select(UserRow::as_select())
                .first(conn)
                .await?;
            if user.disabled {
                return Ok(None);
            }
            let grants = user_grants(conn, user_id).await?;
            let next = insert_refresh_token(conn, state, user_id, family_id).await?;
            Ok(Some((user, grants, next, family_id)))
        })
        .await?;
    let digest_of_presented = secret_digest(presented);
    let Some((user, grants, next, family_id)) = outcome else {
        // Unknown, expired, revoked or already used: if it was ours, end the whole family
        // and the access tokens issued in it (the legitimate holder and a thief cannot be
        // told apart).
        revoke_family_of(state, &mut conn, &digest_of_presented).await?;
        return Err(oauth_error(
            ProblemCode::InvalidGrant,
            "the refresh token is not valid",
        ));
    };
    let access_token = state
        .tokens
        .issue(
            user.id,
            Some(family_id),
            "user",
            &user.username,
            USER_SCOPE,
            grants,
        )
        .map_err(AppError::internal)?;
    Ok(IssuedTokens {
        access_token,
        expires_in: state.tokens.ttl().as_secs(),
        refresh_token: Some(next),
        scope: USER_SCOPE.to_owned(),
    })
}

/// `grant_type=client_credentials` for partner systems bound to one organization.
pub async fn client_credentials_grant(
    state: &AppState,
    client_id: &str,
    client_secret: &str,
    requested_scope: Option<&str>,
) -> AppResult<IssuedTokens> {
    let invalid_client = || {
        oauth_error(
            ProblemCode::InvalidClient,
            "the client id or secret is not correct",
        )
    };
    let Ok(client_id) = Uuid::parse_str(client_id.trim()) else {
        return Err(invalid_client());
    };
    let mut conn = state.db.write().await?;
    let client: Option<(ClientRow, String)> = clients::table
        .inner_join(organizations::table)
        .filter(clients::id.eq(client_id))
        .filter(clients::revoked_at.is_null())
        .select((ClientRow::as_select(), organizations::path))
        .first(&mut conn)
        .await
        .optional()?;
    let Some((client, path)) = client else {
        return Err(invalid_client());
    };
    // Client secrets are 256-bit random values: a plain SHA-256 is enough (no dictionary to
    // slow down), and constant-time comparison of digests avoids a timing oracle.
    let presented = hex_digest(client_secret);
    if !constant_time_eq(presented.as_bytes(), client.secret_hash.as_bytes()) {
        return Err(invalid_client());
    }
    let granted: Vec<String> = client.scopes.iter().flatten().cloned().collect();
    let scope = match requested_scope
        .map(str::trim)
        .filter(|scope| !scope.is_empty())
    {
        None => granted.join(" "),
        Some(requested) => {
            let requested: Vec<&str> = requested.split_whitespace().collect();
            if requested
                .iter()
                .any(|scope| !granted.iter().any(|granted| granted == scope))
            {
                return Err(oauth_error(
                    ProblemCode::InvalidScope,
                    "the client was not granted that scope",
                ));
            }
            requested.join(" ")
        }
    };
    let grants = vec![GrantClaim {
        o: client.organization_id,
        p: path,
        // A partner acts as a member of its organization, limited further by its scopes.
        r: Role::Member.as_str().to_owned(),
    }];
    let access_token = state
        .tokens
        .issue(client.id, None, "client", &client.name, &scope, grants)
        .map_err(AppError::internal)?;
    Ok(IssuedTokens {
        access_token,
        expires_in: state.tokens.ttl().as_secs(),
        refresh_token: None,
        scope,
    })
}

/// Revokes the family of a refresh token and the access tokens issued in it (logout; RFC
/// 7009: unknown tokens are not an error).
pub async fn revoke_refresh_token(state: &AppState, token: &str) -> AppResult<()> {
    let mut conn = state.db.write().await?;
    revoke_family_of(state, &mut conn, &secret_digest(token)).await?;
    Ok(())
}

/// Revokes every refresh token of the family the token with `digest` belongs to, and the
/// family's access tokens on every instance.
async fn revoke_family_of(
    state: &AppState,
    conn: &mut AsyncPgConnection,
    digest: &[u8],
) -> QueryResult<()> {
    let family: Option<Uuid> = refresh_tokens::table
        .filter(refresh_tokens::token_hash.eq(digest))
        .select(refresh_tokens::family_id)
        .first(conn)
        .await
        .optional()?;
    if let Some(family) = family {
        let revoked = conn
            .transaction::<_, diesel::result::Error, _>(async move |conn| {
                diesel::update(
                    refresh_tokens::table
                        .filter(refresh_tokens::family_id.eq(family))
                        .filter(refresh_tokens::revoked_at.is_null()),
                )
                .set(refresh_tokens::revoked_at.eq(Utc::now()))
                .execute(conn)
                .await?;
                revocation::revoke(conn, family, Kind::Session).await
            })
            .await?;
        state.revocations.apply(revoked);
    }
    Ok(())
}

/// Revokes every refresh token of a user and every access token issued to them until now
/// (password change, disabling). Call inside the change's transaction; apply the returned
/// revocation to this instance once it commits.
pub async fn revoke_all_tokens_of_user(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
) -> QueryResult<revocation::Revoked> {
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::user_id.eq(user_id))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(Utc::now()))
    .execute(conn)
    .await?;
    revocation::revoke(conn, user_id, Kind::Principal).await
}

/// Hex SHA-256, the stored form of client secrets.
pub fn hex_digest(secret: &str) -> String {
    secret_digest(secret)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn constant_time_eq(left: &[u8], right: &[u8]) -> bool {
    left.len() == right.len()
        && left
            .iter()
            .zip(right)
            .fold(0_u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// Parses a space-separated scope list given to a client.
pub fn parse_scopes(scopes: &[String]) -> Result<Vec<Scope>, AppError> {
    scopes
        .iter()
        .map(|scope| {
            Scope::parse(scope).ok_or_else(|| {
                AppError::field(
                    "/scopes",
                    format!("unknown scope {scope:?}; use read or progress:write"),
                )
            })
        })
        .collect()
}
