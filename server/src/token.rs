//! Secret tokens: push tokens, admin API tokens and the bootstrap token.
//!
//! A token is 32 random bytes in hex (admin tokens carry an `upb_` prefix
//! so they are recognisable in a secret scanner). It is shown once; only
//! its SHA-256 is stored, and a presented token is hashed and looked up by
//! hash. A hash held in memory (the bootstrap token's) is compared in
//! constant time. Used by push checks, admin authentication and the CLI.

use sha2::{Digest, Sha256};

/// Prefix of admin API tokens.
pub const ADMIN_PREFIX: &str = "upb_";

/// A new random token: 32 bytes, hex.
pub fn new_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// A new admin API token: `upb_` and 64 hex digits.
pub fn new_admin_token() -> String {
    format!("{ADMIN_PREFIX}{}", new_token())
}

/// What the database stores of a token.
pub fn hash_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Compares two byte strings without stopping at the first difference.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Names the system records as actors itself; no user or token may take
/// them.
pub const RESERVED_NAMES: [&str; 3] = ["bootstrap", "cli", "upbeat"];

/// Token and user names are what `created_by` and the audit log record:
/// short, printable, and none of [`RESERVED_NAMES`].
pub fn check_actor_name(name: &str) -> Result<(), String> {
    if RESERVED_NAMES.contains(&name) {
        return Err(format!("the name {name:?} is reserved"));
    }
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid name {name:?}: 1 to 64 letters, digits, '-', '_', '.' or '@'"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_hex_and_admin_tokens_are_prefixed() {
        let (a, b) = (new_token(), new_token());
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        let admin = new_admin_token();
        assert!(admin.starts_with("upb_") && admin.len() == 68, "{admin}");
    }

    #[test]
    fn hashes_are_sha256_of_the_token() {
        assert_eq!(hash_token("abc").len(), 32);
        assert_eq!(hash_token("abc"), hash_token("abc"));
        assert_ne!(hash_token("abc"), hash_token("abd"));
    }

    #[test]
    fn constant_time_comparison_is_equality() {
        let cases: &[(&[u8], &[u8], bool)] = &[
            (b"abc", b"abc", true),
            (b"abc", b"abd", false),
            (b"abc", b"ab", false),
            (b"", b"", true),
        ];
        for (a, b, equal) in cases {
            assert_eq!(constant_time_eq(a, b), *equal, "{a:?} {b:?}");
        }
    }

    #[test]
    fn actor_names_are_short_printable_and_not_reserved() {
        let cases = [
            ("deploy-bot", true),
            ("alice@example.com", true),
            ("ci_1.2", true),
            ("", false),
            ("two words", false),
            ("ünïcode", false),
        ];
        for (name, ok) in cases {
            assert_eq!(check_actor_name(name).is_ok(), ok, "{name}");
        }
        assert!(check_actor_name(&"x".repeat(64)).is_ok());
        assert!(check_actor_name(&"x".repeat(65)).is_err());
        assert!(check_actor_name("cli").unwrap_err().contains("reserved"));
    }
}
