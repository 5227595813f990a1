//! HTTP handlers of `/auth/token`, `/auth/revoke`, `/me` and `/.well-known/jwks.json`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::dto::{
    GrantType, MeDto, MembershipDto, REFRESH_TOKEN_MAX, RevokeRequest, TOKEN_TYPE_HINT_MAX,
    TokenRequest, TokenResponse,
};
use super::principal::Principal;
use super::service::{self, IssuedTokens, oauth_error};
use crate::db::schema::{clients, memberships, organizations, users};
use crate::error::{AppError, AppResult, Problem, ProblemCode};
use crate::extract::{BodyLimit, parse_json, read_limited, unsupported_media_type};
use crate::state::AppState;

/// Token requests are small; anything bigger is refused before parsing.
const TOKEN_BODY_LIMIT: usize = 16 * 1024;

/// Obtains an access token (OAuth 2.0 token endpoint, RFC 6749).
///
/// Accepts a JSON or `application/x-www-form-urlencoded` body. `grant_type` is `password`
/// (`username`, `password`), `refresh_token` (`refresh_token`) or `client_credentials`
/// (`client_id`, `client_secret`, or HTTP Basic authentication). Refresh tokens rotate: each
/// use returns a new one, and presenting a used one again revokes the whole family. Repeated
/// failed logins for one account answer 429 with `Retry-After`.
#[utoipa::path(
    tag = "auth",
    request_body(
        content(
            (TokenRequest = "application/json"),
            (TokenRequest = "application/x-www-form-urlencoded"),
        ),
        description = "The grant and its credentials"
    ),
    responses(
        (status = 200, description = "Tokens issued", body = TokenResponse),
        (status = 400, description = "Malformed request or unsupported grant type (`error` names the RFC 6749 code)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Invalid credentials, refresh token or client (`error` is `invalid_grant` or `invalid_client`)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Neither JSON nor form", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown members in a JSON body, or a member longer than its `maxLength` (`errors` names each)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed logins for this account", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/token")]
pub async fn token(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> AppResult<HttpResponse> {
    let request: TokenRequest = read_json_or_form(&req, payload.into_inner()).await?;
    // The bounds the document states, for JSON and form bodies alike.
    let too_long = request.length_errors();
    if !too_long.is_empty() {
        return Err(AppError::validation(too_long));
    }
    let grant = match request.grant_type.as_deref() {
        Some(text) => GrantType::parse(text).ok_or_else(|| {
            oauth_error(
                ProblemCode::UnsupportedGrantType,
                "grant_type must be password, refresh_token or client_credentials",
            )
        })?,
        None => {
            return Err(oauth_error(
                ProblemCode::InvalidRequest,
                "grant_type is required",
            ));
        }
    };
    let issued = match grant {
        GrantType::Password => {
            let (Some(username), Some(password)) = (&request.username, &request.password) else {
                return Err(oauth_error(
                    ProblemCode::InvalidRequest,
                    "username and password are required",
                ));
            };
            let address = crate::ratelimit::client_address(&req);
            service::password_grant(&state, username, password, address).await?
        }
        GrantType::RefreshToken => {
            let Some(refresh_token) = &request.refresh_token else {
                return Err(oauth_error(
                    ProblemCode::InvalidRequest,
                    "refresh_token is required",
                ));
            };
            service::refresh_grant(&state, refresh_token).await?
        }
        GrantType::ClientCredentials => {
            let (client_id, client_secret) = match (&request.client_id, &request.client_secret) {
                (Some(id), Some(secret)) => (id.clone(), secret.clone()),
                _ => basic_credentials(&req).ok_or_else(|| {
                    oauth_error(
                        ProblemCode::InvalidClient,
                        "client_id and client_secret are required",
                    )
                })?,
            };
            service::client_credentials_grant(
                &state,
                &client_id,
                &client_secret,
                request.scope.as_deref(),
            )
            .await?
        }
    };
    Ok(token_response(issued))
}

fn token_response(issued: IssuedTokens) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(TokenResponse {
            access_token: issued.access_token,
            token_type: "Bearer".to_owned(),
            expires_in: issued.expires_in,
            refresh_token: issued.refresh_token,
            scope: issued.scope,
        })
}

fn basic_credentials(req: &HttpRequest) -> Option<(String, String)> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

/// Reads a JSON or form body into `T` (the token and revoke endpoints accept both).
async fn read_json_or_form<T: DeserializeOwned>(
    req: &HttpRequest,
    payload: actix_web::dev::Payload,
) -> AppResult<T> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(|value| {
            value
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    let limit = req
        .app_data::<BodyLimit>()
        .map_or(TOKEN_BODY_LIMIT, |l| l.0.min(TOKEN_BODY_LIMIT));
    let length = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok());
    let timeout = crate::extract::body_read_timeout(req);
    match content_type.as_str() {
        "application/json" => {
            let bytes = read_limited(payload, length, limit, timeout).await?;
            parse_json(&bytes)
        }
        "application/x-www-form-urlencoded" => {
            let bytes = read_limited(payload, length, limit, timeout).await?;
            serde_urlencoded::from_bytes(&bytes).map_err(|error| {
                oauth_error_owned(
                    ProblemCode::InvalidRequest,
                    format!("malformed form body: {error}"),
                )
            })
        }
        _ => Err(unsupported_media_type()),
    }
}

fn oauth_error_owned(code: ProblemCode, description: String) -> AppError {
    oauth_error(code, &description)
}

/// Revokes a refresh token and every token rotated from the same login (logout).
///
/// Answers 200 whether or not the token was known (RFC 7009 §2.2).
#[utoipa::path(
    tag = "auth",
    request_body(
        content(
            (RevokeRequest = "application/json"),
            (RevokeRequest = "application/x-www-form-urlencoded"),
        ),
        description = "The refresh token to revoke"
    ),
    responses(
        (status = 200, description = "Revoked (or unknown)"),
        (status = 400, description = "Malformed body, or `token` longer than 256 characters or `token_type_hint` longer than 64 (`invalid_request`, RFC 7009 §2.2.1)", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Neither JSON nor form", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown members", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/revoke")]
pub async fn revoke(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> AppResult<HttpResponse> {
    let request: RevokeRequest = read_json_or_form(&req, payload.into_inner()).await?;
    // The bounds the document states; a longer string is no token this service issued.
    if request.token.chars().count() > REFRESH_TOKEN_MAX {
        return Err(oauth_error_owned(
            ProblemCode::InvalidRequest,
            format!("token must be at most {REFRESH_TOKEN_MAX} characters"),
        ));
    }
    if request
        .token_type_hint
        .as_ref()
        .is_some_and(|hint| hint.chars().count() > TOKEN_TYPE_HINT_MAX)
    {
        return Err(oauth_error_owned(
            ProblemCode::InvalidRequest,
            format!("token_type_hint must be at most {TOKEN_TYPE_HINT_MAX} characters"),
        ));
    }
    service::revoke_refresh_token(&state, &request.token).await?;
    Ok(HttpResponse::Ok().finish())
}

/// The caller: a user with memberships, or a partner client with scopes.
#[utoipa::path(
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The authenticated caller", body = MeDto),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/me")]
pub async fn me(state: web::Data<AppState>, principal: Principal) -> AppResult<HttpResponse> {
    let mut conn = state.db.read_own_writes().await?;
    let me = if principal.is_client() {
        let name: Option<String> = clients::table
            .find(principal.id)
            .filter(clients::revoked_at.is_null())
            .select(clients::name)
            .first(&mut conn)
            .await
            .optional()?;
        let name = name.ok_or_else(AppError::invalid_token)?;
        let memberships = membership_dtos(&mut conn, &principal, None).await?;
        MeDto {
            id: principal.id,
            kind: "client".into(),
            username: None,
            display_name: name,
            memberships,
            scopes: principal
                .scopes
                .iter()
                .map(|scope| scope.as_str().to_owned())
                .collect(),
        }
    } else {
        let (username, display_name): (String, String) = users::table
            .find(principal.id)
            .filter(users::disabled.eq(false))
            .select((users::username, users::display_name))
            .first(&mut conn)
            .await
            .optional()?
            .ok_or_else(AppError::invalid_token)?;
        let memberships = membership_dtos(&mut conn, &principal, Some(principal.id)).await?;
        MeDto {
            id: principal.id,
            kind: "user".into(),
            username: Some(username),
            display_name,
            memberships,
            scopes: vec!["read".into(), "progress:write".into()],
        }
    };
    Ok(HttpResponse::Ok().json(me))
}

async fn membership_dtos(
    conn: &mut diesel_async::AsyncPgConnection,
    principal: &Principal,
    user_id: Option<Uuid>,
) -> AppResult<Vec<MembershipDto>> {
    match user_id {
        Some(user_id) => {
            let rows: Vec<(Uuid, String, String, String)> = memberships::table
                .inner_join(organizations::table)
                .filter(memberships::user_id.eq(user_id))
                .select((
                    memberships::organization_id,
                    organizations::name,
                    organizations::kind,
                    memberships::role,
                ))
                .order(organizations::depth.asc())
                .load(conn)
                .await?;
            Ok(rows
                .into_iter()
                .map(
                    |(organization_id, organization_name, organization_kind, role)| MembershipDto {
                        organization_id,
                        organization_name,
                        organization_kind,
                        role,
                    },
                )
                .collect())
        }
        None => {
            let mut dtos = Vec::new();
            for grant in &principal.grants {
                let (name, kind): (String, String) = organizations::table
                    .find(grant.organization_id)
                    .select((organizations::name, organizations::kind))
                    .first(conn)
                    .await?;
                dtos.push(MembershipDto {
                    organization_id: grant.organization_id,
                    organization_name: name,
                    organization_kind: kind,
                    role: grant.role.as_str().to_owned(),
                });
            }
            Ok(dtos)
        }
    }
}

/// The public keys that verify access tokens (JSON Web Key Set).
#[utoipa::path(
    tag = "auth",
    responses((status = 200, description = "JSON Web Key Set (RFC 7517) with the Ed25519 public key", body = serde_json::Value))
)]
#[get("/.well-known/jwks.json")]
pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .json(state.tokens.jwks())
}
