//! Wire types of the auth endpoints.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

crate::text_enum! {
    /// The OAuth 2.0 grants of the token endpoint.
    pub enum GrantType {
        Password = "password",
        RefreshToken = "refresh_token",
        ClientCredentials = "client_credentials",
    }
}

/// Longest refresh token accepted, to use or to revoke: issued ones are 43 characters.
pub const REFRESH_TOKEN_MAX: usize = 256;

/// An OAuth 2.0 token request; which members are needed depends on `grant_type`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// Another value is 400 `unsupported_grant_type` (RFC 6749 §5.2).
    // Read as text so that another value is that error rather than a malformed body.
    #[schema(value_type = Option<GrantType>, example = "password")]
    pub grant_type: Option<String>,
    #[schema(example = "admin", max_length = 64)]
    pub username: Option<String>,
    #[schema(max_length = 128, format = Password)]
    pub password: Option<String>,
    #[schema(max_length = 256)]
    pub refresh_token: Option<String>,
    #[schema(max_length = 64)]
    pub client_id: Option<String>,
    #[schema(max_length = 256, format = Password)]
    pub client_secret: Option<String>,
    /// Space-separated scopes for `client_credentials` (default: all granted).
    #[schema(max_length = 256)]
    pub scope: Option<String>,
}

/// Issued tokens.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenResponse {
    /// EdDSA-signed JWT (`typ: at+jwt`), at most 15 minutes.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Opaque, single-use; absent for client credentials.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub scope: String,
}

/// A refresh token to revoke (RFC 7009).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    // No minLength: an unknown token, empty included, is not an error (RFC 7009 §2.2).
    #[schema(max_length = 256)]
    pub token: String,
    /// Accepted for RFC 7009 compatibility; only refresh tokens can be revoked.
    pub token_type_hint: Option<String>,
}

/// One role of the caller.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MembershipDto {
    pub organization_id: Uuid,
    pub organization_name: String,
    pub organization_kind: String,
    /// `admin`, `manager`, `reviewer` or `member`.
    pub role: String,
}

/// The authenticated caller.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MeDto {
    pub id: Uuid,
    /// `user` or `client`.
    pub kind: String,
    pub username: Option<String>,
    pub display_name: String,
    pub memberships: Vec<MembershipDto>,
    pub scopes: Vec<String>,
}
