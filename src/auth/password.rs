//! Password hashing with argon2id (OWASP parameters), off the async workers and bounded in
//! concurrency so a login storm cannot take every core or all memory.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::config::PasswordHashing;
use crate::error::AppError;
use unicode_normalization::UnicodeNormalization;

/// The form a password is hashed in: NFC only (RFC 8265's OpaqueString), so the same password
/// typed with combining accents matches. Unlike stored text, nothing is removed: every
/// character a user typed, an invisible one included, is part of the secret, and a hash made
/// before format characters were stripped from text still verifies.
fn normalized(password: &str) -> String {
    password.nfc().collect()
}

/// Longest password accepted, in characters, when setting one.
pub const MAX_PASSWORD_CHARS: usize = 128;
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Inputs longer than this (in bytes) are refused without hashing.
const MAX_PASSWORD_BYTES: usize = 1024;

/// Hashes and verifies passwords; cloning shares the concurrency bound.
#[derive(Clone)]
pub struct PasswordService {
    params: PasswordHashing,
    permits: Arc<Semaphore>,
    /// Verified against when the user does not exist, so both cases cost the same time.
    dummy_hash: Arc<String>,
}

impl PasswordService {
    pub fn new(params: PasswordHashing) -> anyhow::Result<Self> {
        let permits = std::thread::available_parallelism().map_or(2, |n| n.get());
        let dummy_hash = hash_with(&params, "dummy password for timing equalization")?;
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(permits)),
            dummy_hash: Arc::new(dummy_hash),
        })
    }

    pub fn params(&self) -> PasswordHashing {
        self.params
    }

    /// Hashes a new password after checking its length.
    pub async fn hash(&self, password: &str) -> Result<String, AppError> {
        validate_new_password(password)?;
        let params = self.params;
        let password = password.to_owned();
        self.run(move || hash_with(&params, &password).map_err(AppError::internal))
            .await?
    }

    /// Checks `password` against `stored` (or against a dummy hash when there is no user).
    /// Returns whether it matched and, when it did, a fresh hash if the parameters changed.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> Result<Verified, AppError> {
        if password.len() > MAX_PASSWORD_BYTES {
            return Ok(Verified {
                matches: false,
                rehash: None,
            });
        }
        let exists = stored.is_some();
        let stored = stored.map_or_else(|| self.dummy_hash.as_str().to_owned(), str::to_owned);
        let password = normalized(password);
        let params = self.params;
        self.run(move || {
            let matches = verify_with(&password, &stored) && exists;
            let rehash = if matches && needs_rehash(&stored, &params) {
                hash_with(&params, &password).ok()
            } else {
                None
            };
            Verified { matches, rehash }
        })
        .await
    }

    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AppError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| AppError::unavailable("password hashing is shutting down"))?;
        Ok(actix_web::web::block(job).await?)
    }
}

/// Outcome of a password check.
#[derive(Debug)]
pub struct Verified {
    pub matches: bool,
    /// A hash with the current parameters, to store when the old one used others.
    pub rehash: Option<String>,
}

pub fn validate_new_password(password: &str) -> Result<(), AppError> {
    // Counted as typed, as the document's minLength and maxLength count: composing accents
    // (NFC) must not turn a schema-valid password into a refused one.
    let length = password.chars().count();
    if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&length) {
        return Err(AppError::field(
            "/password",
            format!("must be {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters long"),
        ));
    }
    Ok(())
}

fn argon2(params: &PasswordHashing) -> anyhow::Result<Argon2<'static>> {
    let params = Params::new(
        params.memory_kib,
        params.iterations,
        params.parallelism,
        None,
    )
    .map_err(|error| anyhow::anyhow!("argon2 parameters: {error}"))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes `password` (NFC-normalized) into a PHC string. Synchronous: call off the async workers.
pub fn hash_with(params: &PasswordHashing, password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    argon2(params)?
        .hash_password(normalized(password).as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| anyhow::anyhow!("hashing a password: {error}"))
}

fn verify_with(password: &str, stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    // The parameters come from the stored hash, so old hashes still verify.
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

fn needs_rehash(stored: &str, params: &PasswordHashing) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return true;
    };
    let Ok(current) = Params::try_from(&parsed) else {
        return true;
    };
    parsed.algorithm != argon2::ARGON2ID_IDENT
        || current.m_cost() != params.memory_kib
        || current.t_cost() != params.iterations
        || current.p_cost() != params.parallelism
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHEAP: PasswordHashing = PasswordHashing {
        memory_kib: 1024,
        iterations: 1,
        parallelism: 1,
    };

    #[test]
    fn a_hash_verifies_its_password_in_any_normal_form() {
        let hash = hash_with(&CHEAP, "Mật khẩu Hòa").unwrap();
        assert!(verify_with(&normalized("Mật khẩu Ho\u{0300}a"), &hash));
        assert!(!verify_with("Mật khẩu Hoa", &hash));
    }

    #[test]
    fn an_invisible_character_is_part_of_the_password() {
        let hash = hash_with(&CHEAP, "mat\u{200B}khau2025").unwrap();
        assert!(verify_with(&normalized("mat\u{200B}khau2025"), &hash));
        assert!(!verify_with(&normalized("matkhau2025"), &hash));
        // Eight characters as typed are enough, whatever NFC makes of them.
        assert!(validate_new_password("Ho\u{0300}a1234").is_ok());
    }

    #[test]
    fn hashes_with_other_parameters_need_rehashing() {
        let hash = hash_with(&CHEAP, "password1").unwrap();
        assert!(!needs_rehash(&hash, &CHEAP));
        assert!(needs_rehash(&hash, &PasswordHashing::OWASP));
    }

    #[test]
    fn new_passwords_have_bounded_length() {
        assert!(validate_new_password("short").is_err());
        assert!(validate_new_password(&"x".repeat(129)).is_err());
        assert!(validate_new_password("long enough").is_ok());
    }
}
