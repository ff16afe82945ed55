//! People: roles, what each may do, password rules and when a console
//! session ends. Pure rules; hashing lives in `crate::password`, storage
//! in the store.
//!
//! - **viewer** reads everything in the console and the admin API;
//! - **editor** also posts and changes incidents and maintenance;
//! - **admin** also manages users, tokens, alert routes and subscribers.
//!
//! API tokens carry the same roles; tokens made before roles existed are
//! admins (the migration's default), as they could do everything.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// What a user or a token may do; each role includes the ones below it.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Editor,
    Admin,
}

impl Role {
    pub const ALL: [Self; 3] = [Self::Viewer, Self::Editor, Self::Admin];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Editor => "editor",
            Self::Admin => "admin",
        }
    }

    /// Whether this role may do what `needed` may.
    pub fn allows(self, needed: Self) -> bool {
        self >= needed
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role {s:?}: expected viewer, editor or admin"))
    }
}

/// Shortest password accepted: NIST SP 800-63B asks for at least 8, and
/// 15 where the password is the only factor; 12 is the middle OWASP's
/// cheat sheet and most managers' defaults meet.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest: Argon2 takes any length, but a cap keeps a sign-in cheap to
/// refuse.
pub const MAX_PASSWORD_CHARS: usize = 256;

/// Length rules only (NIST: no composition rules).
pub fn check_password(password: &str) -> Result<(), String> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        Err(format!("must be at least {MIN_PASSWORD_CHARS} characters"))
    } else if chars > MAX_PASSWORD_CHARS {
        Err(format!("must be at most {MAX_PASSWORD_CHARS} characters"))
    } else {
        Ok(())
    }
}

/// How long a console session lasts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionPolicy {
    /// Ends after this long without a request.
    pub idle: Duration,
    /// Ends this long after sign-in, however busy.
    pub lifetime: Duration,
}

impl Default for SessionPolicy {
    /// Eight idle hours cover a working day's incident with the tab left
    /// open; a week bounds a stolen cookie.
    fn default() -> Self {
        Self {
            idle: Duration::hours(8),
            lifetime: Duration::days(7),
        }
    }
}

impl SessionPolicy {
    /// When a session started at `at` ends at the latest.
    pub fn expires_at(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        at + self.lifetime
    }

    /// Sessions last seen before this are idle too long at `now`.
    pub fn idle_cutoff(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now - self.idle
    }
}

/// Sessions are marked seen at most once a minute: a page of the console
/// makes one query, not a query and a write.
pub const SEEN_RESOLUTION: Duration = Duration::minutes(1);

/// How long a password-setting link works.
pub const PASSWORD_LINK_LIFETIME: Duration = Duration::hours(24);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_includes_the_ones_below() {
        let cases = [
            (Role::Viewer, Role::Viewer, true),
            (Role::Viewer, Role::Editor, false),
            (Role::Viewer, Role::Admin, false),
            (Role::Editor, Role::Viewer, true),
            (Role::Editor, Role::Editor, true),
            (Role::Editor, Role::Admin, false),
            (Role::Admin, Role::Viewer, true),
            (Role::Admin, Role::Editor, true),
            (Role::Admin, Role::Admin, true),
        ];
        for (role, needed, allowed) in cases {
            assert_eq!(role.allows(needed), allowed, "{role} for {needed}");
        }
    }

    #[test]
    fn roles_read_and_print_as_their_names() {
        for role in Role::ALL {
            assert_eq!(role.to_string().parse::<Role>(), Ok(role));
        }
        assert!("Admin".parse::<Role>().is_err());
        assert!("owner"
            .parse::<Role>()
            .unwrap_err()
            .contains("viewer, editor or admin"));
    }

    #[test]
    fn passwords_are_checked_by_length_in_characters() {
        let cases = [
            ("", false),
            ("elevenchars", false),
            ("twelve chars", true),
            ("ünïcödé-pässwörd", true),
            ("ééééééééééé", false), // 11 characters, 22 bytes
        ];
        for (password, ok) in cases {
            assert_eq!(check_password(password).is_ok(), ok, "{password:?}");
        }
        assert!(check_password(&"x".repeat(256)).is_ok());
        assert!(check_password(&"x".repeat(257))
            .unwrap_err()
            .contains("at most 256"));
    }

    #[test]
    fn a_session_ends_when_idle_or_old() {
        let policy = SessionPolicy::default();
        let at: DateTime<Utc> = "2026-12-03T12:00:00Z".parse().unwrap();
        assert_eq!(policy.expires_at(at), at + Duration::days(7));
        assert_eq!(policy.idle_cutoff(at), at - Duration::hours(8));
    }
}
