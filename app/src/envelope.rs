//! A browser error as a Sentry envelope: what the page sends to the
//! server's tunnel (`POST /api/v1/client-errors/sentry`) when the server
//! names a Sentry DSN. The format is Sentry's envelope: a header line
//! naming the event and the DSN (the tunnel forwards only to that DSN's
//! project), then one `event` item, its header with the payload's length
//! in bytes, then the payload:
//!
//! ```text
//! {"event_id":"…","dsn":"https://key@o0.ingest.sentry.io/42"}
//! {"type":"event","length":312}
//! {"event_id":"…","timestamp":1733212800,"platform":"javascript",…}
//! ```
//!
//! Pure (the id and the time are arguments), so the server's tests build
//! envelopes with the very code the page runs.

/// What one error report says.
pub struct Report<'a> {
    /// `panic` or `refresh`.
    pub kind: &'a str,
    pub message: &'a str,
    /// The page's path, never its query string.
    pub route: &'a str,
    /// The front end's version.
    pub build: &'a str,
}

/// The envelope of `report` for `dsn`; `event_id` is 32 hex digits,
/// `timestamp` seconds since the epoch. Written with `format!` around
/// quoted strings rather than `serde_json::json!`: building a `Value`
/// tree cost the page's WebAssembly 15 KB.
pub fn sentry_envelope(dsn: &str, event_id: &str, timestamp: u64, report: &Report) -> String {
    let quoted = |text: &str| serde_json::to_string(text).unwrap_or_default();
    let (id, kind) = (quoted(event_id), quoted(report.kind));
    let event = format!(
        r#"{{"event_id":{id},"timestamp":{timestamp},"platform":"javascript","level":"error","logger":"upbeat.page","release":{release},"transaction":{route},"tags":{{"kind":{kind}}},"exception":{{"values":[{{"type":{kind},"value":{message}}}]}}}}"#,
        release = quoted(&format!("upbeat@{}", report.build)),
        route = quoted(report.route),
        message = quoted(report.message),
    );
    format!(
        "{{\"event_id\":{id},\"dsn\":{dsn}}}\n{{\"type\":\"event\",\"length\":{length}}}\n{event}\n",
        dsn = quoted(dsn),
        length = event.len(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_envelope_is_three_json_lines_with_the_payloads_length() {
        let report = Report {
            kind: "panic",
            message: "index out of bounds: \"é\"\nsecond line",
            route: "/services/api",
            build: "0.1.0",
        };
        let id = "0123456789abcdef0123456789abcdef";
        let envelope = sentry_envelope(
            "https://k@o0.ingest.sentry.io/42",
            id,
            1_733_212_800,
            &report,
        );
        let lines: Vec<&str> = envelope.trim_end().split('\n').collect();
        assert_eq!(lines.len(), 3, "{envelope}");
        let header: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(header["dsn"], "https://k@o0.ingest.sentry.io/42");
        assert_eq!(header["event_id"], id);
        let item: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(item["type"], "event");
        assert_eq!(item["length"], lines[2].len());
        let event: serde_json::Value = serde_json::from_str(lines[2]).unwrap();
        assert_eq!(event["exception"]["values"][0]["value"], report.message);
        assert_eq!(event["tags"]["kind"], "panic");
        assert_eq!(event["release"], "upbeat@0.1.0");
        assert_eq!(event["timestamp"], 1_733_212_800);
        assert_eq!(event["transaction"], "/services/api");
        assert_eq!(event["exception"]["values"][0]["type"], "panic");
    }
}
