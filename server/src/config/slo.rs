//! `[defaults.slo]` and a service's `slo`: availability and latency
//! objectives and the window they are measured over, resolved per service
//! into [`Objectives`].
//!
//! ```toml
//! [defaults.slo]            # these are the built-in defaults
//! availability = 99.9       # percent of samples up or degraded
//! latency = [               # percent of samples at most `under`
//!   { percent = 95, under = "300ms" },
//!   { percent = 99, under = "800ms" },
//! ]
//! window = "30d"            # or "calendar_month"
//!
//! [[services]]
//! slo = false               # no objectives; `true` takes the defaults
//! [services.slo]            # or override some keys (`latency = []`: none)
//! availability = 99.95
//! ```
//!
//! `[defaults] slo = false` turns objectives off for every service that
//! does not set its own.

use std::time::Duration;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::duration::{de_duration, ser_duration};
use crate::domain::rollup::{fine_bounds_around, is_fine_bound, FINE_MAX_MS};
use crate::domain::slo::{Objective, Objectives, Window};

/// `slo = true | false`, or a table of objectives.
#[derive(Clone, Debug, PartialEq)]
pub enum SloSetting {
    Switch(bool),
    Table(SloTable),
}

impl serde::Serialize for SloSetting {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Switch(on) => s.serialize_bool(*on),
            Self::Table(table) => table.serialize(s),
        }
    }
}

impl Default for SloSetting {
    fn default() -> Self {
        Self::Switch(true)
    }
}

/// The keys of an `slo` table; a key left out takes the default.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct SloTable {
    /// Percent, above 0 and below 100.
    pub availability: Option<f64>,
    pub latency: Option<Vec<LatencyObjective>>,
    pub window: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct LatencyObjective {
    /// Percent of samples, above 0 and below 100.
    pub percent: f64,
    /// The threshold: a bound of the fine latency histogram.
    #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
    pub under: Duration,
}

/// Built-in defaults.
const AVAILABILITY: f64 = 99.9;
const LATENCY: [(f64, u64); 2] = [(95.0, 300), (99.0, 800)];

// A bool or a table, with the table's own errors (unknown keys, bad
// values) kept: an untagged enum would replace them with "did not match".
impl<'de> Deserialize<'de> for SloSetting {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Setting;
        impl<'de> Visitor<'de> for Setting {
            type Value = SloSetting;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("true, false or a table of objectives")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<SloSetting, E> {
                Ok(SloSetting::Switch(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<SloSetting, A::Error> {
                SloTable::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(SloSetting::Table)
            }
        }
        d.deserialize_any(Setting)
    }
}

impl SloSetting {
    /// A service's objectives: its own setting over `defaults` over the
    /// built-in defaults; `None` when turned off. Call after [`Self::check`].
    pub fn resolve(service: Option<&Self>, defaults: &Self) -> Option<Objectives> {
        let table = |setting: &Self| match setting {
            Self::Table(table) => Some(table.clone()),
            Self::Switch(true) => Some(SloTable::default()),
            Self::Switch(false) => None,
        };
        let fallback = table(defaults);
        let own = match service {
            None => fallback.clone()?,
            Some(setting) => table(setting)?,
        };
        let fallback = fallback.unwrap_or_default();
        let availability = own
            .availability
            .or(fallback.availability)
            .unwrap_or(AVAILABILITY);
        let latency: Vec<(f64, Duration)> = own
            .latency
            .or(fallback.latency)
            .map(|list| list.iter().map(|l| (l.percent, l.under)).collect())
            .unwrap_or_else(|| {
                LATENCY
                    .iter()
                    .map(|(p, ms)| (*p, Duration::from_millis(*ms)))
                    .collect()
            });
        let window = own
            .window
            .or(fallback.window)
            .and_then(|w| Window::parse(&w))
            .unwrap_or(Window::Rolling30d);
        let mut list = vec![Objective::availability(availability / 100.0)];
        list.extend(latency.into_iter().map(|(percent, under)| {
            Objective::latency(
                percent / 100.0,
                u32::try_from(under.as_millis()).unwrap_or(u32::MAX),
            )
        }));
        Some(Objectives { window, list })
    }

    /// Problems with this setting, as `(key under prefix, reason)`.
    pub fn check(&self, prefix: &str) -> Vec<(String, String)> {
        let Self::Table(table) = self else {
            return Vec::new();
        };
        let mut issues = Vec::new();
        let percent = |value: f64| {
            (!(value > 0.0 && value < 100.0)).then(|| {
                format!("must be a percentage above 0 and below 100, not {value} (100 leaves no error budget)")
            })
        };
        if let Some(reason) = table.availability.and_then(percent) {
            issues.push((format!("{prefix}.availability"), reason));
        }
        if let Some(window) = &table.window {
            if Window::parse(window).is_none() {
                issues.push((
                    format!("{prefix}.window"),
                    format!("unknown window \"{window}\": use \"30d\" or \"calendar_month\""),
                ));
            }
        }
        let mut names: Vec<String> = Vec::new();
        for (i, objective) in table.latency.iter().flatten().enumerate() {
            let key = format!("{prefix}.latency[{i}]");
            if let Some(reason) = percent(objective.percent) {
                issues.push((format!("{key}.percent"), reason));
            }
            if let Some(reason) = threshold_problem(objective.under) {
                issues.push((format!("{key}.under"), reason));
                continue;
            }
            let ms = u32::try_from(objective.under.as_millis()).unwrap_or(u32::MAX);
            let name = Objective::latency(objective.percent / 100.0, ms).name;
            if let Some(first) = names.iter().position(|n| *n == name) {
                issues.push((key, format!("the same objective as latency[{first}]")));
            }
            names.push(name);
        }
        issues
    }
}

/// Why `under` cannot be a latency threshold, if it cannot.
fn threshold_problem(under: Duration) -> Option<String> {
    let ms = under.as_millis();
    if under.is_zero() {
        return Some("must be above 0".to_owned());
    }
    if !under.subsec_nanos().is_multiple_of(1_000_000) {
        return Some("must be a whole number of milliseconds".to_owned());
    }
    if ms > u128::from(FINE_MAX_MS) {
        return Some(format!("must be at most {FINE_MAX_MS}ms"));
    }
    let ms = u32::try_from(ms).unwrap_or(u32::MAX);
    if !is_fine_bound(ms) {
        let (below, above) = fine_bounds_around(ms);
        return Some(format!(
            "{ms}ms is not a bound of the latency histogram, so samples under it \
             could not be counted exactly; use {below}ms or {above}ms (every ms up \
             to 100, steps of 10 up to 1000, of 100 up to 10000, of 1000 up to 100000)"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setting(toml: &str) -> SloSetting {
        #[derive(Deserialize)]
        struct Doc {
            slo: SloSetting,
        }
        toml::from_str::<Doc>(toml).unwrap().slo
    }

    #[test]
    fn services_take_their_own_keys_over_the_defaults_over_the_built_in_ones() {
        let on = SloSetting::default();
        let built_in = SloSetting::resolve(None, &on).unwrap();
        assert_eq!(built_in.window, Window::Rolling30d);
        let names: Vec<_> = built_in.list.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(
            names,
            ["availability", "latency_p95_300ms", "latency_p99_800ms"]
        );
        assert!((built_in.list[0].target - 0.999).abs() < 1e-12);

        let defaults = setting("slo = { availability = 99.5, window = \"calendar_month\" }");
        let own = setting("slo = { latency = [{ percent = 99.9, under = \"1s\" }] }");
        let resolved = SloSetting::resolve(Some(&own), &defaults).unwrap();
        assert_eq!(resolved.window, Window::CalendarMonth);
        assert!((resolved.list[0].target - 0.995).abs() < 1e-12);
        assert_eq!(resolved.list[1].name, "latency_p99.9_1000ms");
        assert_eq!(resolved.list.len(), 2);

        let none = setting("slo = { latency = [] }");
        assert_eq!(SloSetting::resolve(Some(&none), &on).unwrap().list.len(), 1);
        assert_eq!(
            SloSetting::resolve(Some(&SloSetting::Switch(false)), &on),
            None
        );
        let off = SloSetting::Switch(false);
        assert_eq!(SloSetting::resolve(None, &off), None);
        // A service may still turn them on when the defaults are off.
        assert_eq!(
            SloSetting::resolve(Some(&SloSetting::Switch(true)), &off),
            Some(built_in)
        );
    }

    #[test]
    fn bad_objectives_are_named_with_the_reason() {
        // (setting, key, part of the reason)
        #[rustfmt::skip]
        let cases: &[(&str, &str, &str)] = &[
            ("slo = { availability = 100 }", "s.availability", "below 100"),
            ("slo = { availability = 100.5 }", "s.availability", "below 100"),
            ("slo = { availability = 0 }", "s.availability", "above 0"),
            ("slo = { window = \"7d\" }", "s.window", "unknown window \"7d\""),
            ("slo = { latency = [{ percent = 95, under = \"0ms\" }] }", "s.latency[0].under", "above 0"),
            ("slo = { latency = [{ percent = 95, under = \"333ms\" }] }", "s.latency[0].under", "use 330ms or 340ms"),
            ("slo = { latency = [{ percent = 95, under = \"2m\" }] }", "s.latency[0].under", "at most 100000ms"),
            ("slo = { latency = [{ percent = 95, under = \"1.5ms\" }] }", "s.latency[0].under", "whole number"),
            ("slo = { latency = [{ percent = 0, under = \"300ms\" }] }", "s.latency[0].percent", "above 0"),
            ("slo = { latency = [{ percent = 95, under = \"300ms\" }, { percent = 95, under = \"0.3s\" }] }",
             "s.latency[1]", "the same objective as latency[0]"),
        ];
        for (toml, key, reason) in cases {
            let issues = setting(toml).check("s");
            assert_eq!(issues.len(), 1, "{toml}: {issues:?}");
            assert_eq!(issues[0].0, *key, "{toml}");
            assert!(issues[0].1.contains(reason), "{toml}: {}", issues[0].1);
        }
        assert!(setting("slo = { availability = 99.99 }")
            .check("s")
            .is_empty());
        assert!(setting("slo = false").check("s").is_empty());
    }

    #[test]
    fn a_table_keeps_its_own_errors() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Doc {
            slo: SloSetting,
        }
        let err = toml::from_str::<Doc>("slo = { availabilty = 99 }").unwrap_err();
        assert!(
            err.message().contains("unknown field `availabilty`"),
            "{err}"
        );
        let err = toml::from_str::<Doc>("slo = \"yes\"").unwrap_err();
        assert!(err.message().contains("true, false or a table"), "{err}");
    }
}
