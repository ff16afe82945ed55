//! `trace_id` and `span_id` on every log line written inside a traced
//! span, in both formats:
//!
//! - human: `… message fields trace_id=4bf9… span_id=00f0…`
//! - JSON: `{…, "trace_id": "4bf9…", "span_id": "00f0…"}`
//!
//! [`Correlate`] notes a span's ids (formatted once) the first time it is
//! entered; [`WithIds`] wraps the usual formatter and appends the ids of
//! the innermost span of the event that has them. Only installed while
//! traces are on. Lines with ids are written without ANSI colours.

use std::fmt;
use std::sync::OnceLock;

use opentelemetry::trace::TraceContextExt;
use tracing::dispatcher::WeakDispatch;
use tracing::span::Id;
use tracing::{Dispatch, Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// A span's ids as log lines print them.
#[derive(Clone)]
struct Ids {
    trace: String,
    span: String,
}

/// Records each span's OpenTelemetry ids in its extensions.
#[derive(Default)]
pub struct Correlate {
    dispatch: OnceLock<WeakDispatch>,
}

impl<S> Layer<S> for Correlate
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_register_dispatch(&self, dispatch: &Dispatch) {
        let _ = self.dispatch.set(dispatch.downgrade());
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let known = span.extensions().get::<Ids>().is_some();
        if known {
            return;
        }
        let Some(dispatch) = self.dispatch.get().and_then(WeakDispatch::upgrade) else {
            return;
        };
        // Locks the span's extensions itself: none may be held here.
        let Some(context) = tracing_opentelemetry::get_otel_context(id, &dispatch) else {
            return;
        };
        let otel = context.span();
        let ids = otel.span_context();
        if ids.is_valid() {
            span.extensions_mut().insert(Ids {
                trace: ids.trace_id().to_string(),
                span: ids.span_id().to_string(),
            });
        }
    }
}

/// The usual line, then the ids.
pub struct WithIds<F> {
    pub inner: F,
    pub json: bool,
}

impl<S, N, F> FormatEvent<S, N> for WithIds<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let ids = ctx.event_scope().and_then(|scope| {
            scope
                .into_iter()
                .find_map(|span| span.extensions().get::<Ids>().cloned())
        });
        let Some(ids) = ids else {
            return self.inner.format_event(ctx, writer, event);
        };
        let mut line = String::with_capacity(256);
        self.inner
            .format_event(ctx, Writer::new(&mut line), event)?;
        let line = line.strip_suffix('\n').unwrap_or(&line);
        match line.strip_suffix('}').filter(|_| self.json) {
            Some(open) => writeln!(
                writer,
                r#"{open},"trace_id":"{}","span_id":"{}"}}"#,
                ids.trace, ids.span
            ),
            None => writeln!(writer, "{line} trace_id={} span_id={}", ids.trace, ids.span),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::io;
    use std::sync::{Arc, Mutex};

    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use tracing_subscriber::layer::SubscriberExt;

    /// Log lines written into a shared buffer.
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Lines {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn lines(json: bool) -> Vec<String> {
        let out = Lines::default();
        let writer = out.clone();
        let provider = SdkTracerProvider::builder().build();
        let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer("test"));
        let fmt = tracing_subscriber::fmt::layer().with_writer(move || writer.clone());
        let subscriber = tracing_subscriber::registry()
            .with(otel)
            .with(Correlate::default());
        let dispatch = if json {
            Dispatch::new(subscriber.with(fmt.json().event_format(WithIds {
                inner: tracing_subscriber::fmt::format().json().flatten_event(true),
                json: true,
            })))
        } else {
            Dispatch::new(subscriber.with(fmt.event_format(WithIds {
                inner: tracing_subscriber::fmt::format().with_ansi(false),
                json: false,
            })))
        };
        tracing::dispatcher::with_default(&dispatch, || {
            tracing::info!("outside");
            let outer = tracing::info_span!("outer");
            outer.in_scope(|| {
                tracing::info!(n = 1, "in outer");
                tracing::info_span!("inner").in_scope(|| tracing::info!("in inner"));
            });
        });
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        text.lines().map(str::to_owned).collect()
    }

    fn id_of<'a>(line: &'a str, key: &str) -> Option<&'a str> {
        let at = line.find(key)? + key.len();
        Some(&line[at..at + if key.contains("trace") { 32 } else { 16 }])
    }

    #[test]
    fn lines_in_spans_carry_their_ids_in_both_formats() {
        for (json, trace_key, span_key) in [
            (false, "trace_id=", "span_id="),
            (true, r#""trace_id":""#, r#""span_id":""#),
        ] {
            let lines = lines(json);
            assert_eq!(lines.len(), 3, "{lines:#?}");
            assert!(!lines[0].contains("trace_id"), "{}", lines[0]);
            let trace = id_of(&lines[1], trace_key).expect("trace id");
            assert!(trace.bytes().all(|b| b.is_ascii_hexdigit()), "{trace}");
            assert_eq!(id_of(&lines[2], trace_key), Some(trace), "one trace");
            let (outer, inner) = (id_of(&lines[1], span_key), id_of(&lines[2], span_key));
            assert!(
                outer.is_some() && inner.is_some() && outer != inner,
                "{lines:#?}"
            );
            if json {
                for line in &lines {
                    let value: serde_json::Value = serde_json::from_str(line).expect(line);
                    assert!(
                        value["fields"].is_null() || value["message"].is_string(),
                        "{line}"
                    );
                }
                let line: serde_json::Value = serde_json::from_str(&lines[1]).unwrap();
                assert_eq!(line["n"], 1);
                assert_eq!(line["trace_id"], trace);
            } else {
                assert!(lines[1].contains("in outer n=1 trace_id="), "{}", lines[1]);
            }
        }
    }
}
