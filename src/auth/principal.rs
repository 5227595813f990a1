//! The authenticated caller, extracted from `Authorization: Bearer <access token>`.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::tokens::{AccessClaims, TokenKeys};
use crate::error::AppError;

/// A role held in an organization; it applies to that organization's whole subtree.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Member,
    Reviewer,
    Manager,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::Reviewer => "reviewer",
            Role::Manager => "manager",
            Role::Admin => "admin",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "member" => Some(Role::Member),
            "reviewer" => Some(Role::Reviewer),
            "manager" => Some(Role::Manager),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// Scopes of partner clients; users hold every scope their roles allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum Scope {
    #[serde(rename = "read")]
    Read,
    #[serde(rename = "progress:write")]
    ProgressWrite,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::ProgressWrite => "progress:write",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "read" => Some(Scope::Read),
            "progress:write" => Some(Scope::ProgressWrite),
            _ => None,
        }
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

fn authenticate(req: &HttpRequest) -> Result<Principal, AppError> {
    let Some(keys) = req.app_data::<web::Data<TokenKeys>>() else {
        return Err(AppError::internal(anyhow::anyhow!(
            "token keys are not configured"
        )));
    };
    // RFC 6750 §2.3 tokens in URIs leak into logs and histories; they are never accepted.
    let mut headers = req.headers().get_all(header::AUTHORIZATION);
    let Some(value) = headers.next() else {
        return Err(AppError::unauthorized(
            "send Authorization: Bearer <access token>",
        ));
    };
    if headers.next().is_some() {
        return Err(AppError::invalid_token());
    }
    let token = value
        .to_str()
        .ok()
        .and_then(|value| {
            let (scheme, token) = value.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .ok_or_else(AppError::invalid_token)?;
    keys.verify(token)
        .and_then(Principal::from_claims)
        .ok_or_else(AppError::invalid_token)
}
