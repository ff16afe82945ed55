//! Password hashing with Argon2id (the `argon2` crate, RustCrypto).
//!
//! Parameters are OWASP's first recommendation for Argon2id: 19 MiB of
//! memory, two passes, one lane; the hash is stored in the PHC string
//! format, which carries its parameters and salt, so stronger parameters
//! later still verify old hashes. Hashing costs tens of milliseconds of one
//! core by design: callers run it on the blocking pool.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::OnceLock;

/// OWASP Password Storage Cheat Sheet: m=19456 KiB, t=2, p=1.
fn argon2() -> Argon2<'static> {
    let params = Params::new(19_456, 2, 1, None).expect("valid Argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// The PHC string of `password` with a fresh random salt.
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .expect("Argon2 takes any password up to 4 GiB")
        .to_string()
}

/// Whether `password` matches the stored `hash`; a malformed hash matches
/// nothing. The comparison inside is constant-time.
pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// Spends the time of one verification and fails: what a sign-in for an
/// unknown user (or one without a password) does, so that its answer
/// takes as long as a wrong password's and names nobody.
pub fn verify_nothing(password: &str) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash_password("upbeat: no such user"));
    let _ = verify_password(dummy, password);
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let hash = hash_password("correct horse battery staple");
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(verify_password(&hash, "correct horse battery staple"));
        assert!(!verify_password(&hash, "correct horse battery stapler"));
        assert!(!verify_password(&hash, ""));
        assert!(!verify_password(
            "not a hash",
            "correct horse battery staple"
        ));
        assert!(!verify_nothing("correct horse battery staple"));
    }

    #[test]
    fn each_hash_has_its_own_salt() {
        let (a, b) = (
            hash_password("same password"),
            hash_password("same password"),
        );
        assert_ne!(a, b);
        assert!(verify_password(&a, "same password") && verify_password(&b, "same password"));
    }
}
