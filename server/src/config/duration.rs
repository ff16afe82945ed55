//! Durations as people write them in the file: `"250ms"`, `"90s"`, `"5m"`,
//! `"1h"`, `"2d"`, a bare number of seconds in a string, or a TOML integer
//! of seconds. A negative value, an unknown unit or text that is not a
//! number is an error that quotes what was written, so the issue can be
//! fixed without opening the docs.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Durations are written as `"90s"`, `"5m"`, `"1h"`, `"250ms"`, or a plain
/// number of seconds.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let split = raw
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(raw.len());
    let (number, unit) = raw.split_at(split);
    let value: f64 = number.parse().map_err(|_| {
        format!("invalid duration \"{raw}\" (examples: \"60s\", \"5m\", \"250ms\")")
    })?;
    let seconds = match unit.trim() {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        "d" => value * 86400.0,
        other => {
            return Err(format!(
                "unknown duration unit \"{other}\" (use ms, s, m, h or d)"
            ))
        }
    };
    if !seconds.is_finite() || seconds < 0.0 {
        return Err(format!("invalid duration \"{raw}\""));
    }
    // Too long for a Duration is a bad value, not a crash at start-up.
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("duration \"{raw}\" is too long"))
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawDuration {
    Seconds(u64),
    Text(String),
}

pub(super) fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    match RawDuration::deserialize(d)? {
        RawDuration::Seconds(s) => Ok(Duration::from_secs(s)),
        RawDuration::Text(t) => parse_duration(&t).map_err(serde::de::Error::custom),
    }
}

/// A duration as the file writes it, in its largest exact unit (`"90s"`,
/// `"5m"`, `"250ms"`), for the effective configuration.
pub(super) fn ser_duration<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    let ms = d.as_millis();
    let text = if !ms.is_multiple_of(1000) {
        format!("{ms}ms")
    } else {
        let secs = ms / 1000;
        match secs {
            0 => "0s".to_owned(),
            _ if secs.is_multiple_of(86_400) => format!("{}d", secs / 86_400),
            _ if secs.is_multiple_of(3600) => format!("{}h", secs / 3600),
            _ if secs.is_multiple_of(60) => format!("{}m", secs / 60),
            _ => format!("{secs}s"),
        }
    };
    s.serialize_str(&text)
}

#[expect(clippy::ref_option, reason = "serde's serialize_with signature")]
pub(super) fn ser_opt_duration<S: serde::Serializer>(
    d: &Option<Duration>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => ser_duration(d, s),
        None => s.serialize_none(),
    }
}

pub(super) fn de_opt_duration<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Duration>, D::Error> {
    de_duration(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_and_reject_bad_ones() {
        let ms = Duration::from_millis;
        let s = Duration::from_secs;
        #[rustfmt::skip]
        let cases: &[(&str, Result<Duration, &str>)] = &[
            ("250ms", Ok(ms(250))),
            ("90s", Ok(s(90))),
            ("5m", Ok(s(300))),
            ("1h", Ok(s(3600))),
            ("2d", Ok(s(2 * 86_400))),
            ("60", Ok(s(60))),
            ("1.5s", Ok(ms(1500))),
            ("0", Ok(Duration::ZERO)),
            // Spaces around the number and before the unit are forgiven.
            (" 10s ", Ok(s(10))),
            ("5 m", Ok(s(300))),
            ("10x", Err("unknown duration unit \"x\" (use ms, s, m, h or d)")),
            ("5min", Err("unknown duration unit \"min\" (use ms, s, m, h or d)")),
            ("1e3s", Err("unknown duration unit \"e3s\" (use ms, s, m, h or d)")),
            ("-5s", Err("invalid duration \"-5s\" (examples: \"60s\", \"5m\", \"250ms\")")),
            ("soon", Err("invalid duration \"soon\" (examples: \"60s\", \"5m\", \"250ms\")")),
            ("", Err("invalid duration \"\" (examples: \"60s\", \"5m\", \"250ms\")")),
            ("1.2.3s", Err("invalid duration \"1.2.3s\" (examples: \"60s\", \"5m\", \"250ms\")")),
            ("s", Err("invalid duration \"s\" (examples: \"60s\", \"5m\", \"250ms\")")),
        ];
        for (raw, expected) in cases {
            let expected = expected.map_err(str::to_owned);
            assert_eq!(parse_duration(raw), expected, "parse_duration({raw:?})");
        }
    }

    #[test]
    fn numbers_too_large_for_a_float_are_rejected() {
        let raw = "9".repeat(400);
        assert_eq!(
            parse_duration(&raw),
            Err(format!("invalid duration \"{raw}\"")),
        );
    }

    #[test]
    fn durations_too_long_to_hold_are_rejected_not_a_crash() {
        for raw in ["99999999999999999999999", "99999999999999999999d"] {
            assert_eq!(
                parse_duration(raw),
                Err(format!("duration \"{raw}\" is too long")),
                "{raw}"
            );
        }
    }

    #[derive(Debug, Deserialize)]
    struct Durations {
        #[serde(deserialize_with = "de_duration")]
        required: Duration,
        #[serde(default, deserialize_with = "de_opt_duration")]
        optional: Option<Duration>,
    }

    #[test]
    fn durations_deserialize_from_integers_and_strings_but_not_floats() {
        /// `required` and `optional`.
        type Both = (Duration, Option<Duration>);
        let s = Duration::from_secs;
        #[rustfmt::skip]
        let cases: &[(&str, Result<Both, &str>)] = &[
            ("required = 90", Ok((s(90), None))),
            ("required = \"90s\"", Ok((s(90), None))),
            ("required = \"1.5\"", Ok((Duration::from_millis(1500), None))),
            ("required = 1\noptional = \"2m\"", Ok((s(1), Some(s(120))))),
            ("required = 1\noptional = 0", Ok((s(1), Some(Duration::ZERO)))),
            ("required = \"soon\"", Err("invalid duration \"soon\"")),
            ("required = 1\noptional = \"3 weeks\"", Err("unknown duration unit \"weeks\"")),
            // Only whole seconds are integers; a TOML float or a negative
            // integer matches neither form.
            ("required = 1.5", Err("did not match any variant")),
            ("required = -1", Err("did not match any variant")),
            ("optional = \"1s\"", Err("missing field `required`")),
        ];
        for (text, expected) in cases {
            let parsed = toml::from_str::<Durations>(text).map(|d| (d.required, d.optional));
            match (parsed, expected) {
                (Ok(got), Ok(want)) => assert_eq!(got, *want, "{text}"),
                (Err(e), Err(part)) => assert!(e.message().contains(part), "{text}: {e}"),
                (got, want) => panic!("{text}: got {got:?}, expected {want:?}"),
            }
        }
    }
}
