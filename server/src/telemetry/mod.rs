//! Logging and traces: `tracing` with human or JSON output (`RUST_LOG`,
//! when set, wins over `logging.level`) and, when `[tracing]` or
//! `OTEL_EXPORTER_OTLP_ENDPOINT` names a collector, OpenTelemetry spans
//! exported over OTLP (`export`), with `trace_id` and `span_id` on the
//! log lines written inside them (`ids`).
//!
//! Without a collector the subscriber is exactly the logging one: the
//! spans the code opens below `info` are disabled at their call sites and
//! cost a cached check, and `crate::trace` answers "off" at once.
//!
//! With one, `upbeat`'s own spans down to `debug` go to the OpenTelemetry
//! layer (and only they: the exporter's HTTP and gRPC clients open spans
//! of their own that must not be exported, or every export would make
//! more to export), while the log keeps its level.

mod export;
mod ids;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_sdk::trace::{Sampler as SdkSampler, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::traces::{Root, Sampler, Tracing};
use crate::config::{LogFormat, LoggingConfig};

pub use export::{traces_url, BATCH, QUEUE};

/// What must be stopped at exit: the trace exporter, when there is one.
#[must_use = "call `stop` at exit, so the last spans are sent"]
#[derive(Default)]
pub struct Telemetry {
    traces: Option<(SdkTracerProvider, export::Exporting)>,
}

impl Telemetry {
    /// Sends the spans still queued (within a few seconds) and stops.
    pub async fn stop(self) {
        if let Some((provider, exporting)) = self.traces {
            let _ = provider.shutdown();
            exporting.stop().await;
        }
    }
}

/// Whether the human log is coloured: on a terminal, unless `NO_COLOR` is
/// set (<https://no-color.org>); elsewhere (a file, a pipe, a collector)
/// plain text, unless `CLICOLOR_FORCE` is set to anything but `0`.
fn colour() -> bool {
    use std::io::IsTerminal;
    let var = |name| std::env::var(name).ok();
    colour_for(
        std::io::stderr().is_terminal(),
        var("NO_COLOR").as_deref(),
        var("CLICOLOR_FORCE").as_deref(),
    )
}

fn colour_for(terminal: bool, no_color: Option<&str>, force: Option<&str>) -> bool {
    if force.is_some_and(|f| !f.is_empty() && f != "0") {
        return true;
    }
    terminal && no_color.is_none_or(str::is_empty)
}

/// Installs the process's subscriber (once; tests may have one already)
/// and, with `traces`, the exporter. Must run inside the tokio runtime.
pub fn init(config: &LoggingConfig, traces: Option<&Tracing>) -> Telemetry {
    let filter = || {
        EnvFilter::try_from_default_env()
            .or_else(|_| EnvFilter::try_new(&config.level))
            .unwrap_or_else(|_| EnvFilter::new("info"))
    };
    let pipeline = traces.map(|tracing| (tracing, pipeline(tracing)));
    let Some((tracing, Ok((provider, exporting)))) = pipeline else {
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter())
            .with_ansi(colour())
            .with_writer(std::io::stderr);
        let _ = match config.format {
            LogFormat::Human => builder.try_init(),
            LogFormat::Json => builder.json().flatten_event(true).try_init(),
        };
        if let Some((tracing, Err(error))) = pipeline {
            tracing::error!(endpoint = %tracing.endpoint, %error, "traces are not exported");
        }
        return Telemetry::default();
    };
    let otel = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("upbeat"))
        .with_threads(false)
        .with_filter(Targets::new().with_target("upbeat", LevelFilter::DEBUG));
    let traced = tracing_subscriber::registry()
        .with(otel)
        .with(ids::Correlate::default());
    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(colour())
        .with_writer(std::io::stderr);
    let installed = match config.format {
        LogFormat::Human => traced
            .with(
                fmt.event_format(ids::WithIds {
                    inner: tracing_subscriber::fmt::format().with_ansi(colour()),
                    json: false,
                })
                .with_filter(filter()),
            )
            .try_init(),
        LogFormat::Json => traced
            .with(
                fmt.json()
                    .event_format(ids::WithIds {
                        inner: tracing_subscriber::fmt::format().json().flatten_event(true),
                        json: true,
                    })
                    .with_filter(filter()),
            )
            .try_init(),
    };
    if installed.is_ok() {
        crate::trace::enable();
        tracing::info!(
            endpoint = %tracing.endpoint,
            protocol = ?tracing.protocol,
            service = %tracing.service_name,
            "exporting traces"
        );
    }
    Telemetry {
        traces: Some((provider, exporting)),
    }
}

fn pipeline(
    tracing: &Tracing,
) -> Result<(SdkTracerProvider, export::Exporting), opentelemetry_otlp::ExporterBuildError> {
    // The resource attributes first: `OTEL_SERVICE_NAME` wins over a
    // `service.name` among them, as the specification says.
    let resource = Resource::builder_empty()
        .with_attributes(
            tracing
                .resource
                .iter()
                .map(|(key, value)| KeyValue::new(key.clone(), value.clone())),
        )
        .with_attributes([KeyValue::new("service.version", env!("CARGO_PKG_VERSION"))])
        .with_service_name(tracing.service_name.clone())
        .build();
    let (queue, exporting) = export::start(tracing, &resource)?;
    let provider = SdkTracerProvider::builder()
        .with_span_processor(queue)
        .with_sampler(sampler(tracing.sampler))
        .with_resource(resource)
        .build();
    Ok((provider, exporting))
}

fn sampler(sampler: Sampler) -> SdkSampler {
    let root = |root: Root| match root {
        Root::AlwaysOn => SdkSampler::AlwaysOn,
        Root::AlwaysOff => SdkSampler::AlwaysOff,
        Root::Ratio(ratio) => SdkSampler::TraceIdRatioBased(ratio),
    };
    match sampler {
        Sampler::AlwaysOn => SdkSampler::AlwaysOn,
        Sampler::AlwaysOff => SdkSampler::AlwaysOff,
        Sampler::Ratio(ratio) => SdkSampler::TraceIdRatioBased(ratio),
        Sampler::ParentBased(inner) => SdkSampler::ParentBased(Box::new(root(inner))),
    }
}

#[cfg(test)]
mod tests {
    use super::colour_for;

    #[test]
    fn colour_only_on_a_terminal_unless_forced_or_refused() {
        let cases = [
            (true, None, None, true),
            (false, None, None, false),
            (true, Some("1"), None, false),
            (true, Some(""), None, true),
            (false, None, Some("1"), true),
            (false, None, Some("0"), false),
            (true, Some("1"), Some("1"), true),
        ];
        for (terminal, no_color, force, want) in cases {
            assert_eq!(
                colour_for(terminal, no_color, force),
                want,
                "{terminal} {no_color:?} {force:?}"
            );
        }
    }
}
