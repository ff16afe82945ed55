//! The line of a key path such as `services[2].check.url` in the source
//! text, so every issue can point into the file. A lookup never fails: a
//! key that is not in the file (a default, or set by the environment) gets
//! the line of its nearest ancestor that is, and text that does not parse
//! gets no line at all.

/// Extracts `x` from serde's "unknown field `x`, expected ..." message.
pub(super) fn unknown_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split('`').next()
}

/// Finds where keys are in the source text, for error messages.
/// Finds the lines of keys, for error messages. The span-keeping document
/// is only parsed when an error needs a line: for a large valid file it
/// would cost more memory than everything else loaded at start.
pub(super) struct Locator<'a> {
    source: &'a str,
    doc: std::cell::OnceCell<Option<toml_edit::ImDocument<String>>>,
}

impl<'a> Locator<'a> {
    pub(super) const fn new(source: &'a str) -> Self {
        Self {
            source,
            doc: std::cell::OnceCell::new(),
        }
    }

    pub(super) fn line_at(&self, offset: usize) -> usize {
        let bytes = self.source.as_bytes();
        1 + bytes[..offset.min(bytes.len())]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
    }

    /// The line of a key path like `services[2].check.url`. When the key is
    /// not in the file (a default, or set by the environment) this is the
    /// line of its closest ancestor that is, if any.
    pub(super) fn line_of(&self, key: &str) -> Option<usize> {
        let doc = self
            .doc
            .get_or_init(|| toml_edit::ImDocument::parse(self.source.to_owned()).ok())
            .as_ref()?;
        let mut table: &dyn toml_edit::TableLike = doc.as_table();
        let mut reached: Option<&toml_edit::Item> = None;
        let mut span = None;
        for segment in split_key(key) {
            match segment {
                KeySegment::Name(name) => {
                    if let Some(item) = reached.take() {
                        match item.as_table_like() {
                            Some(t) => table = t,
                            None => break,
                        }
                    }
                    let Some((k, item)) = table.get_key_value(name) else {
                        break;
                    };
                    span = k.span().or_else(|| item.span()).or(span);
                    reached = Some(item);
                }
                KeySegment::Index(i) => {
                    let Some(item) = reached.take() else { break };
                    if let Some(t) = item.as_array_of_tables().and_then(|a| a.get(i)) {
                        span = t.span().or(span);
                        table = t;
                    } else if let Some(v) = item.as_array().and_then(|a| a.get(i)) {
                        span = v.span().or(span);
                        match v.as_inline_table() {
                            Some(t) => table = t,
                            None => break,
                        }
                    } else {
                        break;
                    }
                }
            }
        }
        span.map(|s| self.line_at(s.start))
    }
}

enum KeySegment<'a> {
    Name(&'a str),
    Index(usize),
}

fn split_key(key: &str) -> Vec<KeySegment<'_>> {
    let mut out = Vec::new();
    for part in key.split('.').filter(|p| !p.is_empty()) {
        let (name, mut indices) = match part.find('[') {
            Some(at) => (&part[..at], &part[at..]),
            None => (part, ""),
        };
        if !name.is_empty() {
            out.push(KeySegment::Name(name));
        }
        while let Some(close) = indices.find(']') {
            if let Ok(i) = indices[1..close].parse() {
                out.push(KeySegment::Index(i));
            }
            indices = &indices[close + 1..];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Name` as itself and `Index` as `[i]`, to compare in one string.
    fn segments(key: &str) -> String {
        split_key(key)
            .iter()
            .map(|segment| match segment {
                KeySegment::Name(name) => (*name).to_owned(),
                KeySegment::Index(i) => format!("[{i}]"),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn key_paths_split_into_names_and_indexes() {
        let cases: &[(&str, &str)] = &[
            ("services[2].check.url", "services [2] check url"),
            ("server", "server"),
            ("", ""),
            ("a[1][2].b", "a [1] [2] b"),
            ("[3].x", "[3] x"),
            // Empty parts and indexes that are not numbers are skipped.
            ("a..b", "a b"),
            ("a[x].b", "a b"),
            ("check.headers.x-api-key", "check headers x-api-key"),
        ];
        for (key, expected) in cases {
            assert_eq!(segments(key), *expected, "split_key({key:?})");
        }
    }

    #[test]
    fn unknown_field_is_read_from_serdes_message() {
        let cases: &[(&str, Option<&str>)] = &[
            (
                "unknown field `lisen`, expected one of `listen`, `public_url`",
                Some("lisen"),
            ),
            ("unknown field `timeout_ms`", Some("timeout_ms")),
            ("missing field `slug`", None),
            ("unknown variant `xml`, expected `human` or `json`", None),
            ("", None),
        ];
        for (message, expected) in cases {
            assert_eq!(unknown_field(message), *expected, "{message:?}");
        }
    }

    const SOURCE: &str = r#"title = "top"
[server]
listen = "127.0.0.1:3000"

[[services]]
slug = "a"
check = { kind = "http", url = "/a" }

[[services]]
slug = "b"
[services.check]
kind = "tcp"

[page]
links = [
  { label = "x", url = "/x" },
  { label = "y", url = "/y" },
]
"#;

    #[test]
    fn keys_are_found_on_their_line_or_their_nearest_ancestors() {
        let cases: &[(&str, Option<usize>)] = &[
            ("title", Some(1)),
            ("server", Some(2)),
            ("server.listen", Some(3)),
            ("services[0].slug", Some(6)),
            ("services[1]", Some(9)),
            ("services[1].slug", Some(10)),
            ("services[1].check.kind", Some(12)),
            // A key in an inline table, and an inline table in an array.
            ("services[0].check.url", Some(7)),
            ("page.links[1].url", Some(17)),
            ("page.links[1]", Some(17)),
            // Not in the file: the nearest ancestor that is.
            ("server.public_url", Some(2)),
            ("services[1].check.port", Some(11)),
            ("page.links[5].url", Some(15)),
            ("title.nested", Some(1)),
            ("services[0].check.headers.x-a", Some(7)),
            // No ancestor at all, and the file as a whole.
            ("database.url", None),
            ("", None),
        ];
        let locator = Locator::new(SOURCE);
        for (key, line) in cases {
            assert_eq!(locator.line_of(key), *line, "line_of({key:?})");
        }
    }

    #[test]
    fn text_that_does_not_parse_has_no_key_lines() {
        let locator = Locator::new("[server]\nlisten = \n");
        assert_eq!(locator.line_of("server.listen"), None);
        assert_eq!(locator.line_of("server"), None);
    }

    #[test]
    fn byte_offsets_map_to_one_based_lines() {
        let cases: &[(usize, usize)] = &[(0, 1), (2, 1), (3, 2), (4, 3), (6, 4), (999, 4)];
        let locator = Locator::new("ab\n\nc\nd");
        for (offset, line) in cases {
            assert_eq!(locator.line_at(*offset), *line, "line_at({offset})");
        }
    }
}
