//! Identity primitives: password hashing, session tokens and the signed-in [`Actor`].

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use domain::content::PartnerViewer;
use domain::identity::{OrganisationSummary, PartnerType, Persona, Region, Role, TierRank};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

/// Argon2id with 19 MiB of memory, two passes and one lane (OWASP's recommended minimum).
fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("static Argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`).
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("password hashing failed: {e}"))
}

/// Checks a password against a stored hash, using the parameters recorded in the hash.
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|parsed| hasher().verify_password(password.as_bytes(), &parsed).is_ok())
        .unwrap_or(false)
}

/// A hash to verify against when the e-mail is unknown, so that a wrong e-mail takes as long
/// as a wrong password and sign-in does not reveal who has an account.
pub fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| hash_password("decoy password that never matches").unwrap_or_default())
}

/// The secret in a session cookie. Only its SHA-256 is stored.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken(String);

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionToken(…)")
    }
}

impl SessionToken {
    /// A fresh random token (256 bits).
    pub fn generate() -> Self {
        Self(random_token())
    }

    /// Wraps a token read from a cookie.
    pub fn from_cookie(value: &str) -> Self {
        Self(value.to_owned())
    }

    /// The cookie value.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What the database stores.
    pub fn hash(&self) -> String {
        Sha256::digest(self.0.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// 32 random bytes, URL-safe base64 without padding.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Compares two secrets in time independent of where they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The signed-in user on whose behalf a request runs, with what authorisation needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// User identifier.
    pub user_id: i64,
    /// E-mail address.
    pub email: String,
    /// Display name.
    pub display_name: String,
    /// Role.
    pub role: Role,
    /// Persona (partner users).
    pub persona: Option<Persona>,
    /// The user's organisation.
    pub organisation: OrganisationSummary,
}

impl Actor {
    /// The targeting profile of a partner user; `None` for vendor staff, who see every
    /// published item.
    pub fn partner_viewer(&self) -> Option<PartnerViewer> {
        if !self.role.is_partner() {
            return None;
        }
        let org = &self.organisation;
        Some(PartnerViewer {
            persona: self.persona.unwrap_or(Persona::Sales),
            partner_type: org.partner_type.unwrap_or(PartnerType::Referral),
            tier: org.tier.as_ref().map_or(TierRank(0), |t| t.rank),
            region: org.region.unwrap_or(Region::NorthAmerica),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_with_the_required_cost() {
        let phc = hash_password("atrium-demo-2026").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify_password("atrium-demo-2026", &phc));
        assert!(!verify_password("atrium-demo-2025", &phc));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        let a = SessionToken::generate();
        let b = SessionToken::generate();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 43);
        assert_eq!(a.hash().len(), 64);
        assert_eq!(a.hash(), SessionToken::from_cookie(a.as_str()).hash());
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "abcd"));
    }
}
