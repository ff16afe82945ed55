//! Conditions on an HTTP response body: substring present / absent, and JSON
//! pointer equals / exists, for health endpoints shaped like
//! `{"status":"ready","checks":{"db":true}}`. A failed *soft* condition
//! degrades the service instead of taking it down. Pure functions; the
//! config's `BodyCondition` is parsed into a [`Condition`] by `config`.

use serde_json::Value;

/// A validated body condition.
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    pub rule: Rule,
    /// A failure means degraded, not down.
    pub soft: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Rule {
    Contains(String),
    NotContains(String),
    PointerEquals(String, Value),
    PointerExists(String, bool),
}

/// The first failed condition: hard ones first, then soft ones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub soft: bool,
    pub message: String,
}

/// Checks `body` (of which only a prefix may have been read: `truncated`)
/// against every condition.
pub fn evaluate(conditions: &[Condition], body: &[u8], truncated: bool) -> Option<Failure> {
    let text = String::from_utf8_lossy(body);
    let mut json: Option<Result<Value, String>> = None;
    let mut first_soft = None;
    for condition in conditions {
        let failure = match &condition.rule {
            Rule::Contains(needle) => (!text.contains(needle.as_str()))
                .then(|| format!("body does not contain {}", quote(needle))),
            Rule::NotContains(needle) => text
                .contains(needle.as_str())
                .then(|| format!("body contains {}", quote(needle))),
            Rule::PointerEquals(..) | Rule::PointerExists(..) => {
                match json.get_or_insert_with(|| parse_json(body, truncated)) {
                    Err(reason) => Some(reason.clone()),
                    Ok(doc) => check_pointer(doc, &condition.rule),
                }
            }
        };
        if let Some(message) = failure {
            if !condition.soft {
                return Some(Failure {
                    soft: false,
                    message,
                });
            }
            first_soft.get_or_insert(Failure {
                soft: true,
                message,
            });
        }
    }
    first_soft
}

/// The failure message of a JSON pointer rule, if it fails on `doc`.
fn check_pointer(doc: &Value, rule: &Rule) -> Option<String> {
    match rule {
        Rule::PointerEquals(pointer, expected) => match doc.pointer(pointer) {
            Some(value) if value == expected => None,
            Some(value) => Some(format!(
                "{pointer} is {}, expected {}",
                short(value),
                short(expected)
            )),
            None => Some(format!(
                "{pointer} is missing, expected {}",
                short(expected)
            )),
        },
        Rule::PointerExists(pointer, true) => doc
            .pointer(pointer)
            .is_none()
            .then(|| format!("{pointer} is missing")),
        Rule::PointerExists(pointer, false) => doc
            .pointer(pointer)
            .is_some()
            .then(|| format!("{pointer} is present")),
        Rule::Contains(_) | Rule::NotContains(_) => None,
    }
}

fn parse_json(body: &[u8], truncated: bool) -> Result<Value, String> {
    if truncated {
        return Err("body too large to check as JSON".to_owned());
    }
    serde_json::from_slice(body).map_err(|_| "body is not JSON".to_owned())
}

/// A value for a short error message: at most 60 characters.
fn short(value: &Value) -> String {
    let text = value.to_string();
    clip(&text)
}

fn quote(text: &str) -> String {
    clip(&format!("\"{text}\""))
}

fn clip(text: &str) -> String {
    const MAX: usize = 60;
    if text.chars().count() <= MAX {
        text.to_owned()
    } else {
        let cut: String = text.chars().take(MAX - 1).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A condition from the short notation the cases use:
    /// `contains:TEXT`, `not_contains:TEXT`, `POINTER=JSON`, `POINTER?`
    /// (exists), `POINTER!` (absent); a trailing ` (soft)` makes it soft.
    fn c(text: &str) -> Condition {
        let (text, soft) = match text.strip_suffix(" (soft)") {
            Some(rest) => (rest, true),
            None => (text, false),
        };
        let rule = if let Some(needle) = text.strip_prefix("contains:") {
            Rule::Contains(needle.to_owned())
        } else if let Some(needle) = text.strip_prefix("not_contains:") {
            Rule::NotContains(needle.to_owned())
        } else if let Some((pointer, value)) = text.split_once('=') {
            Rule::PointerEquals(pointer.to_owned(), serde_json::from_str(value).unwrap())
        } else if let Some(pointer) = text.strip_suffix('?') {
            Rule::PointerExists(pointer.to_owned(), true)
        } else if let Some(pointer) = text.strip_suffix('!') {
            Rule::PointerExists(pointer.to_owned(), false)
        } else {
            panic!("unknown condition notation {text}")
        };
        Condition { rule, soft }
    }

    const HEALTH: &str = r#"{"status":"ready","checks":{"db":true,"cache":false},"version":"1.2"}"#;

    #[test]
    fn conditions_pass_or_fail_with_a_short_reason() {
        // (condition, body, expected failure as (soft, message))
        type Case<'a> = (&'a str, &'a str, Option<(bool, &'a str)>);
        #[rustfmt::skip]
        let cases: &[Case] = &[
            ("contains:ready", HEALTH, None),
            (
                "contains:healthy",
                HEALTH,
                Some((false, "body does not contain \"healthy\"")),
            ),
            ("not_contains:error", HEALTH, None),
            (
                "not_contains:ready",
                HEALTH,
                Some((false, "body contains \"ready\"")),
            ),
            (
                r#"/status="ready""#,
                HEALTH,
                None,
            ),
            (
                r#"/status="starting""#,
                HEALTH,
                Some((false, "/status is \"ready\", expected \"starting\"")),
            ),
            ("/checks/db=true", HEALTH, None),
            (
                "/checks/cache=true (soft)",
                HEALTH,
                Some((true, "/checks/cache is false, expected true")),
            ),
            (
                "/checks/queue?",
                HEALTH,
                Some((false, "/checks/queue is missing")),
            ),
            (
                "/checks/queue!",
                HEALTH,
                None,
            ),
            (
                "/version!",
                HEALTH,
                Some((false, "/version is present")),
            ),
            (
                r#"/status="ready""#,
                "<html>ok</html>",
                Some((false, "body is not JSON")),
            ),
        ];
        for (condition, body, expected) in cases {
            let got = evaluate(&[c(condition)], body.as_bytes(), false);
            let expected = expected.map(|(soft, message)| Failure {
                soft,
                message: message.to_owned(),
            });
            assert_eq!(got, expected, "{condition} on {body}");
        }
    }

    #[test]
    fn a_hard_failure_wins_over_an_earlier_soft_one() {
        let conditions = [c("/checks/cache=true (soft)"), c("/checks/db=false")];
        let failure = evaluate(&conditions, HEALTH.as_bytes(), false).unwrap();
        assert!(!failure.soft);
        assert_eq!(failure.message, "/checks/db is true, expected false");
    }

    #[test]
    fn a_truncated_body_is_not_parsed_as_json_but_substrings_still_count() {
        let pointer = c("/status?");
        let failure = evaluate(&[pointer], HEALTH.as_bytes(), true).unwrap();
        assert_eq!(failure.message, "body too large to check as JSON");
        assert_eq!(
            evaluate(&[c("contains:ready")], HEALTH.as_bytes(), true),
            None
        );
    }

    #[test]
    fn long_values_are_clipped_in_messages() {
        let body = json!({ "status": "x".repeat(500) }).to_string();
        let failure = evaluate(&[c(r#"/status="ok""#)], body.as_bytes(), false).unwrap();
        assert!(failure.message.chars().count() < 100, "{}", failure.message);
        assert!(failure.message.contains('…'));
    }
}
