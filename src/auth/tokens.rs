//! EdDSA access tokens (RFC 9068 profile): signing, verification and the JWKS.
//!
//! Verification is strict (RFC 8725): the header must say `alg: EdDSA`, `typ: at+jwt` and our
//! `kid`; `iss`, `aud`, `sub`, `exp`, `iat` are required; `nbf` is honoured and an `iat` in the
//! future (beyond [`LEEWAY_SECONDS`]) is refused. Verified tokens are cached by their hash until
//! they expire, so a signature check does not dominate a fast request. Whether a valid token was
//! revoked since it was issued is `super::revocation`'s answer, from its `iat_ms` and `sid`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::config::Settings;

/// Longest accepted token text; anything longer is refused before it is parsed.
pub const MAX_TOKEN_LENGTH: usize = 8 * 1024;
const TOKEN_TYPE: &str = "at+jwt";
/// Clock difference tolerated between instances for `exp`, `nbf` and `iat`.
pub const LEEWAY_SECONDS: u64 = 5;
const CACHE_CAPACITY: usize = 10_000;

/// One membership as carried inside an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantClaim {
    /// Organization id.
    pub o: Uuid,
    /// Materialized path of that organization when the token was issued.
    pub p: String,
    /// Role name.
    pub r: String,
}

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    pub sub: Uuid,
    pub exp: i64,
    pub iat: i64,
    /// Issue time in milliseconds (private claim): revocation compares it with a not-before
    /// time, and whole seconds would refuse a token issued just after a password change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat_ms: Option<i64>,
    pub nbf: i64,
    pub jti: Uuid,
    /// Session: the refresh-token family a user's token was issued in (logout ends it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<Uuid>,
    /// `user` or `client`.
    pub kind: String,
    /// Username or client name, for logs and audit.
    pub name: String,
    /// Space-separated scopes (RFC 8693 `scope`).
    pub scope: String,
    /// Memberships (users) or the bound organization (clients).
    pub grants: Vec<GrantClaim>,
}

impl AccessClaims {
    /// When the token was issued, in milliseconds since the epoch.
    pub fn issued_at_ms(&self) -> i64 {
        self.iat_ms
            .filter(|ms| ms.div_euclid(1000) == self.iat)
            .unwrap_or_else(|| self.iat.saturating_mul(1000))
    }
}

/// The service's signing key and everything derived from it.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: Arc<EncodingKey>,
    decoding: Arc<DecodingKey>,
    public_key: [u8; 32],
    kid: String,
    issuer: String,
    ttl: Duration,
    cache: Arc<Mutex<HashMap<[u8; 32], AccessClaims>>>,
}

impl TokenKeys {
    /// Loads the configured key; in development generates an ephemeral one when none is set.
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        let signing_key = match &settings.jwt_private_key_file {
            Some(path) => {
                let pem = std::fs::read_to_string(path).with_context(|| {
                    format!("cannot read THIDUA_JWT_PRIVATE_KEY_FILE {}", path.display())
                })?;
                SigningKey::from_pkcs8_pem(&pem).map_err(|error| {
                    anyhow::anyhow!(
                        "THIDUA_JWT_PRIVATE_KEY_FILE {} is not an Ed25519 PKCS#8 PEM key: {error}",
                        path.display()
                    )
                })?
            }
            None if settings.is_production() => anyhow::bail!(
                "THIDUA_JWT_PRIVATE_KEY_FILE is required in production (an Ed25519 PKCS#8 PEM key, \
                 e.g. `openssl genpkey -algorithm ed25519 -out jwt.pem`)"
            ),
            // `serve` warns of it; create-admin and seed-demo sign nothing.
            None => SigningKey::generate(&mut rand::rngs::OsRng),
        };
        Self::from_signing_key(
            &signing_key,
            settings.token_issuer(),
            settings.access_token_ttl,
        )
    }

    pub fn from_signing_key(
        signing_key: &SigningKey,
        issuer: &str,
        ttl: Duration,
    ) -> anyhow::Result<Self> {
        let der = signing_key
            .to_pkcs8_der()
            .map_err(|error| anyhow::anyhow!("encoding the signing key: {error}"))?;
        let public_key = signing_key.verifying_key().to_bytes();
        // RFC 7638-style thumbprint of the public key: stable across restarts with the same key.
        let kid = URL_SAFE_NO_PAD.encode(&Sha256::digest(public_key)[..16]);
        Ok(Self {
            encoding: Arc::new(EncodingKey::from_ed_der(der.as_bytes())),
            decoding: Arc::new(DecodingKey::from_ed_der(&public_key)),
            public_key,
            kid,
            issuer: issuer.to_owned(),
            ttl,
            cache: Arc::new(Mutex::new(HashMap::new())),
        })
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Signs an access token for `subject` carrying `grants` and `scope`, issued in `session`.
    pub fn issue(
        &self,
        subject: Uuid,
        session: Option<Uuid>,
        kind: &str,
        name: &str,
        scope: &str,
        grants: Vec<GrantClaim>,
    ) -> anyhow::Result<String> {
        let now_ms = chrono::Utc::now().timestamp_millis();
        let now = now_ms.div_euclid(1000);
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            aud: self.issuer.clone(),
            sub: subject,
            exp: now + i64::try_from(self.ttl.as_secs()).unwrap_or(900),
            iat: now,
            iat_ms: Some(now_ms),
            nbf: now,
            jti: Uuid::new_v4(),
            sid: session,
            kind: kind.to_owned(),
            name: name.to_owned(),
            scope: scope.to_owned(),
            grants,
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some(TOKEN_TYPE.to_owned());
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.encoding).context("signing an access token")
    }

    /// Signs arbitrary claims under `header` with the service's own key, so tests can prove that
    /// a bad claim is refused for the claim itself and not for a foreign signature. Empty when
    /// the header's algorithm is not EdDSA.
    #[doc(hidden)]
    pub fn sign_claims_for_tests(&self, header: Header, claims: &serde_json::Value) -> String {
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap_or_default()
    }

    /// The key id of the signing key (the `kid` of issued tokens).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Verifies an access token; `None` for anything that is not a valid, current token of ours.
    pub fn verify(&self, token: &str) -> Option<AccessClaims> {
        if token.is_empty() || token.len() > MAX_TOKEN_LENGTH {
            return None;
        }
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let now = chrono::Utc::now().timestamp();
        if let Ok(cache) = self.cache.lock()
            && let Some(claims) = cache.get(&digest)
        {
            return (claims.exp > now).then(|| claims.clone());
        }
        let claims = self.verify_uncached(token)?;
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CACHE_CAPACITY {
                cache.retain(|_, cached| cached.exp > now);
                if cache.len() >= CACHE_CAPACITY {
                    cache.clear();
                }
            }
            cache.insert(digest, claims.clone());
        }
        Some(claims)
    }

    fn verify_uncached(&self, token: &str) -> Option<AccessClaims> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        if header.alg != Algorithm::EdDSA
            || header
                .typ
                .as_deref()
                .map(str::to_ascii_lowercase)
                .as_deref()
                != Some(TOKEN_TYPE)
            || header.kid.as_deref() != Some(self.kid.as_str())
            || header.jku.is_some()
            || header.jwk.is_some()
            || header.x5u.is_some()
        {
            return None;
        }
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.issuer]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECONDS;
        let claims = jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &validation)
            .ok()?
            .claims;
        // jsonwebtoken does not look at `iat`: a token "issued" in the future would outlive
        // every revocation made before that time (RFC 7519 §4.1.6, RFC 8725 §3.10).
        let latest = chrono::Utc::now().timestamp() + i64::try_from(LEEWAY_SECONDS).unwrap_or(5);
        (claims.iat <= latest).then_some(claims)
    }

    /// The public key as a JSON Web Key Set (RFC 7517, OKP key of RFC 8037).
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({
            "keys": [{
                "kty": "OKP",
                "crv": "Ed25519",
                "x": URL_SAFE_NO_PAD.encode(self.public_key),
                "kid": self.kid,
                "alg": "EdDSA",
                "use": "sig",
            }]
        })
    }
}

/// SHA-256 of an opaque secret (refresh tokens), as stored in the database.
pub fn secret_digest(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// A fresh 256-bit random secret, URL-safe.
pub fn random_secret() -> String {
    use rand::RngCore;
    let mut bytes = [0_u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> TokenKeys {
        TokenKeys::from_signing_key(
            &SigningKey::generate(&mut rand::rngs::OsRng),
            "http://issuer.test",
            Duration::from_secs(60),
        )
        .unwrap()
    }

    #[test]
    fn an_issued_token_verifies_and_another_keys_token_does_not() {
        let keys = keys();
        let token = keys
            .issue(Uuid::new_v4(), None, "user", "a", "", vec![])
            .unwrap();
        assert!(keys.verify(&token).is_some());
        assert!(self::keys().verify(&token).is_none());
    }

    #[test]
    fn a_token_with_a_tampered_payload_is_refused() {
        let keys = keys();
        let token = keys
            .issue(Uuid::new_v4(), None, "user", "a", "", vec![])
            .unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let mut claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        claims["kind"] = "client".into();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(claims.to_string()),
            parts[2]
        );
        assert!(keys.verify(&forged).is_none());
    }
}
