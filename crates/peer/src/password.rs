//! Account password hashing: argon2id in PHC string format.

use std::cell::RefCell;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{
    Output, ParamsString, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::{Algorithm, Argon2, Block, Params, Version};

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

thread_local! {
    /// argon2's working memory, kept by each thread that hashes (the hashing
    /// pool's), instead of 19 MiB allocated and freed per hash: the
    /// allocator kept such freed buffers, over 100 MiB for two threads.
    static BLOCKS: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with at least `count` argon2 blocks of this thread's memory.
fn with_blocks<T>(count: usize, f: impl FnOnce(&mut [Block]) -> T) -> T {
    BLOCKS.with(|b| {
        let mut b = b.borrow_mut();
        if b.len() < count {
            b.resize(count, Block::default());
        }
        f(&mut b[..count])
    })
}

/// [`hash_password`] in this thread's reused memory.
pub(crate) fn hash_password_reusing(password: &str) -> Result<String> {
    if password.is_empty() {
        return Err(Error::EmptyPassword);
    }
    let failed = |e: &dyn std::fmt::Display| Error::PasswordHash(e.to_string());
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_bytes = [0u8; 64];
    let raw_salt = salt.decode_b64(&mut salt_bytes).map_err(|e| failed(&e))?;
    let params = Params::default();
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    with_blocks(params.block_count(), |blocks| {
        argon.hash_password_into_with_memory(password.as_bytes(), raw_salt, &mut out, blocks)
    })
    .map_err(|e| failed(&e))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| failed(&e))?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| failed(&e))?),
    };
    Ok(phc.to_string())
}

/// [`verify_password`] in this thread's reused memory.
pub(crate) fn verify_password_reusing(password: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        tracing::warn!("stored password hash is malformed; no password can match it");
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (
        Algorithm::try_from(parsed.algorithm),
        Params::try_from(&parsed),
    ) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(raw_salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    let count = params.block_count();
    let argon = Argon2::new(algorithm, version, params);
    let hashed = with_blocks(count, |blocks| {
        argon.hash_password_into_with_memory(password.as_bytes(), raw_salt, &mut out, blocks)
    });
    // Output's equality is constant-time.
    hashed.is_ok() && Output::new(&out).is_ok_and(|o| o == expected)
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
    fn reusing_memory_gives_the_same_answers() {
        let phc = hash_password_reusing("correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify_password("correct horse", &phc));
        let other = hash_password("pw").unwrap();
        assert!(verify_password_reusing("pw", &other));
        assert!(verify_password_reusing("correct horse", &phc));
        assert!(!verify_password_reusing("correct horse ", &phc));
        assert!(!verify_password_reusing("", &phc));
        assert!(!verify_password_reusing("pw", "not a hash"));
        assert!(!verify_password_reusing(
            "pw",
            "$argon2id$v=19$m=19456,t=2,p=1$AAAA$BBBB"
        ));
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
