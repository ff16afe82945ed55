//! `UPBEAT_A__B__C` environment overrides, applied to the parsed TOML table
//! before it is deserialized, so an overridden value goes through exactly
//! the same checks as one written in the file. Variables without `__` (such
//! as `UPBEAT_ADMIN_TOKEN`) are not overrides and are left alone. An
//! override may add a key to a table but never an item to an array: an
//! index past the end is an error rather than a silent append.

use super::ConfigIssue;

const ENV_PREFIX: &str = "UPBEAT_";

/// The `UPBEAT_A__B__C=value` variables among `env`, sorted.
pub(super) fn env_overrides(
    env: impl IntoIterator<Item = (String, String)>,
) -> Vec<(String, String)> {
    let mut vars: Vec<(String, String)> = env
        .into_iter()
        .filter(|(k, _)| k.starts_with(ENV_PREFIX) && k.contains("__"))
        .collect();
    vars.sort();
    vars
}

/// Applies `UPBEAT_A__B__C=value` variables (from [`env_overrides`]) to the
/// parsed table.
pub(super) fn apply_env(
    table: &mut toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<(), Vec<ConfigIssue>> {
    let mut issues = Vec::new();
    for (name, raw) in env {
        let path: Vec<String> = name[ENV_PREFIX.len()..]
            .split("__")
            .map(str::to_ascii_lowercase)
            .collect();
        let value = parse_env_value(&raw);
        if let Err(message) = set_path(table, &path, value) {
            issues.push(ConfigIssue {
                key: format!("env {name}"),
                line: None,
                message,
            });
        }
    }
    if issues.is_empty() {
        Ok(())
    } else {
        Err(issues)
    }
}

fn parse_env_value(raw: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()))
}

fn set_path(table: &mut toml::Table, path: &[String], value: toml::Value) -> Result<(), String> {
    let (first, rest) = path.split_first().ok_or("empty key")?;
    if first.is_empty() {
        return Err("empty key segment".into());
    }
    if rest.is_empty() {
        table.insert(first.clone(), value);
        return Ok(());
    }
    let entry = table
        .entry(first.clone())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    set_value_path(entry, rest, value)
}

fn set_value_path(
    target: &mut toml::Value,
    path: &[String],
    value: toml::Value,
) -> Result<(), String> {
    match target {
        toml::Value::Table(t) => set_path(t, path, value),
        toml::Value::Array(items) => {
            let (first, rest) = path.split_first().ok_or("empty key")?;
            let index: usize = first
                .parse()
                .map_err(|_| format!("\"{first}\" is not an array index"))?;
            let len = items.len();
            let item = items
                .get_mut(index)
                .ok_or_else(|| format!("index {index} is past the end ({len} items)"))?;
            if rest.is_empty() {
                *item = value;
                Ok(())
            } else {
                set_value_path(item, rest, value)
            }
        }
        _ => Err("cannot set a key inside a plain value".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Environment variables as written in a table of cases.
    type Vars = &'static [(&'static str, &'static str)];

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn only_prefixed_nested_variables_are_overrides_in_sorted_order() {
        #[rustfmt::skip]
        let cases: &[(Vars, Vars)] = &[
            (&[("UPBEAT_SERVER__LISTEN", "x")], &[("UPBEAT_SERVER__LISTEN", "x")]),
            // The admin token has no `__`: it is read on its own, not merged.
            (&[("UPBEAT_ADMIN_TOKEN", "secret")], &[]),
            (&[("OTHER__KEY", "x"), ("upbeat_page__title", "x"), ("PATH", "/bin")], &[]),
            (
                &[("UPBEAT_PAGE__TITLE", "b"), ("UPBEAT_DEFAULTS__INTERVAL", "a")],
                &[("UPBEAT_DEFAULTS__INTERVAL", "a"), ("UPBEAT_PAGE__TITLE", "b")],
            ),
        ];
        for (env, expected) in cases {
            assert_eq!(env_overrides(vars(env)), vars(expected), "{env:?}");
        }
    }

    #[test]
    fn values_are_read_as_toml_when_they_parse_and_as_text_otherwise() {
        let string = |s: &str| toml::Value::String(s.to_owned());
        let cases: &[(&str, toml::Value)] = &[
            ("60", toml::Value::Integer(60)),
            ("1.5", toml::Value::Float(1.5)),
            ("true", toml::Value::Boolean(true)),
            ("[\"a\"]", toml::Value::Array(vec![string("a")])),
            ("\"5s\"", string("5s")),
            ("5s", string("5s")),
            ("127.0.0.1:4000", string("127.0.0.1:4000")),
            ("postgres://db/upbeat", string("postgres://db/upbeat")),
            ("", string("")),
            ("True", string("True")),
        ];
        for (raw, expected) in cases {
            assert_eq!(parse_env_value(raw), *expected, "parse_env_value({raw:?})");
        }
    }

    const SERVICES: &str = r#"
[page]
title = "Status"

[[services]]
slug = "api"
[services.check]
kind = "http"
url = "/a"

[[services]]
slug = "web"
"#;

    #[test]
    fn overrides_set_nested_keys_and_array_items() {
        #[rustfmt::skip]
        let cases: &[(&str, &str, &str)] = &[
            // A new table and key, and an existing key.
            ("UPBEAT_SERVER__LISTEN", "0.0.0.0:80", "server.listen = \"0.0.0.0:80\""),
            ("UPBEAT_PAGE__TITLE", "Ours", "page.title = \"Ours\""),
            // The value is read as TOML; serde decides later whether it fits.
            ("UPBEAT_PAGE__TITLE", "42", "page.title = 42"),
            // Inside an item of an array of tables, at any depth.
            ("UPBEAT_SERVICES__0__CHECK__URL", "/b", "services.0.check.url = \"/b\""),
            ("UPBEAT_SERVICES__1__NAME", "Web", "services.1.name = \"Web\""),
            ("UPBEAT_SERVICES__1__CHECK__KIND", "tcp", "services.1.check.kind = \"tcp\""),
            // A whole array item replaced.
            ("UPBEAT_SERVICES__1", "{ slug = \"x\" }", "services.1 = { slug = \"x\" }"),
        ];
        for (name, raw, expected) in cases {
            let mut table: toml::Table = toml::from_str(SERVICES).unwrap();
            apply_env(&mut table, vars(&[(name, raw)])).unwrap();
            let (path, value) = expected.split_once(" = ").unwrap();
            let value = parse_env_value(value);
            assert_eq!(lookup(&table, path), Some(&value), "{name}={raw}");
        }
    }

    /// The value at a dotted path where numbers index arrays: `services.0.slug`.
    fn lookup<'t>(table: &'t toml::Table, path: &str) -> Option<&'t toml::Value> {
        let (first, rest) = path.split_once('.').unwrap_or((path, ""));
        let mut value = table.get(first)?;
        for part in rest.split('.').filter(|p| !p.is_empty()) {
            value = match part.parse::<usize>() {
                Ok(i) => value.as_array()?.get(i)?,
                Err(_) => value.as_table()?.get(part)?,
            };
        }
        Some(value)
    }

    #[test]
    fn overrides_that_cannot_be_applied_are_reported_by_variable() {
        #[rustfmt::skip]
        let cases: &[(&str, &str)] = &[
            ("UPBEAT_SERVICES__5__NAME", "index 5 is past the end (2 items)"),
            ("UPBEAT_SERVICES__2", "index 2 is past the end (2 items)"),
            ("UPBEAT_SERVICES__FIRST__NAME", "\"first\" is not an array index"),
            ("UPBEAT_PAGE__TITLE__TEXT", "cannot set a key inside a plain value"),
            ("UPBEAT_SERVICES__0__SLUG__X", "cannot set a key inside a plain value"),
            ("UPBEAT_PAGE____TITLE", "empty key segment"),
        ];
        for (name, message) in cases {
            let mut table: toml::Table = toml::from_str(SERVICES).unwrap();
            let issues = apply_env(&mut table, vars(&[(name, "x")])).unwrap_err();
            let expected = ConfigIssue {
                key: format!("env {name}"),
                line: None,
                message: (*message).to_owned(),
            };
            assert_eq!(issues, [expected], "{name}");
        }
    }

    #[test]
    fn every_failing_override_is_reported_and_the_others_still_apply() {
        let mut table: toml::Table = toml::from_str(SERVICES).unwrap();
        let env = vars(&[
            ("UPBEAT_PAGE__TITLE", "Changed"),
            ("UPBEAT_SERVICES__9__SLUG", "x"),
            ("UPBEAT_PAGE__TITLE__X", "x"),
        ]);
        let keys: Vec<String> = apply_env(&mut table, env)
            .unwrap_err()
            .into_iter()
            .map(|issue| issue.key)
            .collect();
        assert_eq!(
            keys,
            ["env UPBEAT_SERVICES__9__SLUG", "env UPBEAT_PAGE__TITLE__X"]
        );
        let changed = toml::Value::String("Changed".to_owned());
        assert_eq!(lookup(&table, "page.title"), Some(&changed));
    }
}
