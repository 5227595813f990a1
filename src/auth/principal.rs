//! The authenticated caller, extracted from `Authorization: Bearer <access token>`: a valid
//! token of ours that was not revoked since it was issued (see `super::revocation`).

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::header::{self, HeaderMap};
use actix_web::{FromRequest, HttpRequest, web};
use uuid::Uuid;

use super::revocation::Revocations;
use super::tokens::{AccessClaims, TokenKeys};
use crate::error::AppError;

crate::text_enum! {
    /// A role held in an organization; it applies to that organization's whole subtree.
    // Declared from least to most: `Ord` is "at least".
    pub enum Role {
        Member = "member",
        Reviewer = "reviewer",
        Manager = "manager",
        Admin = "admin",
    }
}

crate::text_enum! {
    /// Scopes of partner clients; users hold every scope their roles allow.
    pub enum Scope {
        Read = "read",
        ProgressWrite = "progress:write",
    }
}

/// Whether the caller is a person or a partner system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalKind {
    User,
    Client,
}

/// A role in one organization, with the organization's materialized path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub organization_id: Uuid,
    pub path: String,
    pub role: Role,
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Principal {
    pub id: Uuid,
    pub kind: PrincipalKind,
    pub name: String,
    pub grants: Vec<Grant>,
    pub scopes: Vec<Scope>,
    pub token_expires_at: i64,
}

impl Principal {
    pub fn from_claims(claims: AccessClaims) -> Option<Self> {
        let kind = match claims.kind.as_str() {
            "user" => PrincipalKind::User,
            "client" => PrincipalKind::Client,
            _ => return None,
        };
        let grants = claims
            .grants
            .into_iter()
            .map(|grant| {
                Some(Grant {
                    organization_id: grant.o,
                    path: grant.p,
                    role: Role::parse(&grant.r)?,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        let scopes = claims
            .scope
            .split_whitespace()
            .filter_map(Scope::parse)
            .collect();
        Some(Self {
            id: claims.sub,
            kind,
            name: claims.name,
            grants,
            scopes,
            token_expires_at: claims.exp,
        })
    }

    pub fn is_client(&self) -> bool {
        self.kind == PrincipalKind::Client
    }

    /// The caller's home organization: the first membership (clients have exactly one).
    pub fn home_organization(&self) -> Option<&Grant> {
        self.grants.first()
    }

    /// `actor_kind` of audit events.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            PrincipalKind::User => "user",
            PrincipalKind::Client => "client",
        }
    }
}

impl FromRequest for Principal {
    type Error = AppError;
    type Future = Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(authenticate(req))
    }
}

/// What the `Authorization` header of a request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bearer<'a> {
    /// No `Authorization` header.
    Missing,
    /// One `Authorization: Bearer <token>` header (the token trimmed, not yet verified).
    Token(&'a str),
    /// Another scheme, unreadable bytes, or more than one header.
    Malformed,
}

/// The bearer token of `headers`: the one parser of `Authorization` for every caller (the
/// `Principal` extractor, the per-principal rate limit and the metrics token).
pub fn bearer_token(headers: &HeaderMap) -> Bearer<'_> {
    // RFC 6750 §2.3 tokens in URIs leak into logs and histories; they are never accepted.
    let mut values = headers.get_all(header::AUTHORIZATION);
    let Some(value) = values.next() else {
        return Bearer::Missing;
    };
    if values.next().is_some() {
        return Bearer::Malformed;
    }
    value
        .to_str()
        .ok()
        .and_then(|value| {
            let (scheme, token) = value.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .map_or(Bearer::Malformed, Bearer::Token)
}

fn authenticate(req: &HttpRequest) -> Result<Principal, AppError> {
    let (Some(keys), Some(revocations)) = (
        req.app_data::<web::Data<TokenKeys>>(),
        req.app_data::<web::Data<Revocations>>(),
    ) else {
        return Err(AppError::internal(anyhow::anyhow!(
            "token keys or revocations are not configured"
        )));
    };
    let token = match bearer_token(req.headers()) {
        Bearer::Missing => {
            return Err(AppError::unauthorized(
                "send Authorization: Bearer <access token>",
            ));
        }
        Bearer::Malformed => return Err(AppError::invalid_token()),
        Bearer::Token(token) => token,
    };
    let claims = keys.verify(token).ok_or_else(AppError::invalid_token)?;
    if !revocations.is_loaded() {
        // Until this instance has read the revocations once it cannot tell a revoked token.
        return Err(AppError::unavailable(
            "the service is starting; retry shortly",
        ));
    }
    if revocations.is_revoked(&claims) {
        return Err(AppError::invalid_token());
    }
    Principal::from_claims(claims).ok_or_else(AppError::invalid_token)
}
