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

impl TokenRequest {
    /// The documented `maxLength` of each string member (kept equal to the `#[schema]`
    /// attributes above by `the_token_request_bounds_are_the_documented_ones`).
    pub const MAX_LENGTHS: [(&'static str, usize); 6] = [
        ("username", 64),
        ("password", 128),
        ("refresh_token", REFRESH_TOKEN_MAX),
        ("client_id", 64),
        ("client_secret", 256),
        ("scope", 256),
    ];

    /// Every member longer than documented, at its pointer (characters, as JSON Schema counts).
    pub fn length_errors(&self) -> Vec<crate::error::FieldError> {
        let values = [
            &self.username,
            &self.password,
            &self.refresh_token,
            &self.client_id,
            &self.client_secret,
            &self.scope,
        ];
        Self::MAX_LENGTHS
            .iter()
            .zip(values)
            .filter_map(|((name, max), value)| {
                let value = value.as_deref()?;
                (value.chars().count() > *max).then(|| {
                    crate::error::FieldError::new(
                        format!("/{name}"),
                        format!("must be at most {max} characters"),
                    )
                })
            })
            .collect()
    }
}

/// Longest `token_type_hint` accepted (RFC 7009's hints are `refresh_token` and `access_token`).
pub const TOKEN_TYPE_HINT_MAX: usize = 64;

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
    #[schema(max_length = 64)]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_request_bounds_are_the_documented_ones() {
        let document = serde_json::to_value(crate::openapi::document()).unwrap();
        let schemas = &document["components"]["schemas"];
        for (name, max) in TokenRequest::MAX_LENGTHS {
            assert_eq!(
                schemas["TokenRequest"]["properties"][name]["maxLength"], max,
                "{name}"
            );
        }
        assert_eq!(
            schemas["RevokeRequest"]["properties"]["token_type_hint"]["maxLength"],
            TOKEN_TYPE_HINT_MAX
        );
    }
}
