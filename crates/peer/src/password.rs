//! Account password hashing: argon2id in PHC string format.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::error::{Error, Result};

/// The hasher: argon2id, version 0x13, with the argon2 crate's default
/// cost (19 MiB of memory, 2 passes, 1 lane), the OWASP recommendation;
/// tens of milliseconds per hash in an optimised build.
fn hasher() -> Argon2<'static> {
    Argon2::default()
}

/// Hashes `password` with argon2id and a fresh random salt; returns the PHC
/// string (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`) to store.
pub fn hash_password(password: &str) -> Result<String> {
    if password.is_empty() {
        return Err(Error::EmptyPassword);
    }
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| Error::PasswordHash(e.to_string()))
}

/// Whether `password` matches the stored PHC string `phc`. A malformed or
/// non-argon2 `phc` matches nothing. The parameters stored in `phc` are the
/// ones used, so hashes made with other costs still verify.
pub fn verify_password(password: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        tracing::warn!("stored password hash is malformed; no password can match it");
        return false;
    };
    hasher()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_then_verify() {
        let phc = hash_password("correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$"), "{phc}");
        assert!(verify_password("correct horse", &phc));
        assert!(!verify_password("correct horse ", &phc));
        assert!(!verify_password("", &phc));
    }

    #[test]
    fn salts_differ() {
        let a = hash_password("pw").unwrap();
        let b = hash_password("pw").unwrap();
        assert_ne!(a, b);
        assert!(verify_password("pw", &a) && verify_password("pw", &b));
    }

    #[test]
    fn empty_and_malformed_inputs() {
        assert!(matches!(hash_password(""), Err(Error::EmptyPassword)));
        assert!(!verify_password("pw", "not a hash"));
        assert!(!verify_password("pw", ""));
        assert!(!verify_password(
            "pw",
            "$argon2id$v=19$m=19456,t=2,p=1$AAAA$BBBB"
        ));
    }
}
