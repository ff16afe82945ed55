//! `[tracing]`: where OpenTelemetry traces go, read the standard way. Each
//! key has the OpenTelemetry SDK's variable, which wins over the file (as
//! `UPBEAT_*` variables do), so a deployment that sets `OTEL_*` for all its
//! services needs nothing here:
//!
//! ```toml
//! [tracing]
//! endpoint = "http://collector:4318"  # OTEL_EXPORTER_OTLP_ENDPOINT; no endpoint: no traces
//! protocol = "http/protobuf"          # OTEL_EXPORTER_OTLP_PROTOCOL: http/protobuf or grpc
//! service_name = "upbeat"             # OTEL_SERVICE_NAME
//! sampler = "parentbased_always_on"   # OTEL_TRACES_SAMPLER (the spec's names)
//! sampler_arg = 1.0                   # OTEL_TRACES_SAMPLER_ARG: the ratio, 0 to 1
//! resource_attributes = "deployment.environment=prod,team=sre"  # OTEL_RESOURCE_ATTRIBUTES
//! ```
//!
//! `OTEL_SDK_DISABLED=true` turns traces off whatever else says. A bad
//! value stops start-up naming the key (and its line) or the variable.

use std::collections::HashMap;

use serde::Deserialize;

/// `[tracing]` as written.
#[derive(Clone, Debug, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TracingConfig {
    pub endpoint: Option<String>,
    pub protocol: Option<String>,
    pub service_name: Option<String>,
    pub sampler: Option<String>,
    pub sampler_arg: Option<f64>,
    pub resource_attributes: Option<String>,
}

/// How spans travel to the collector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    HttpProtobuf,
    Grpc,
}

/// Which traces are kept: the specification's samplers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Sampler {
    AlwaysOn,
    AlwaysOff,
    /// This share of traces, by trace id.
    Ratio(f64),
    /// Follow the caller's decision (`traceparent`); decide new traces by
    /// the inner sampler.
    ParentBased(Root),
}

/// The inner sampler of [`Sampler::ParentBased`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Root {
    AlwaysOn,
    AlwaysOff,
    Ratio(f64),
}

/// Traces to export, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct Tracing {
    pub endpoint: url::Url,
    pub protocol: Protocol,
    pub service_name: String,
    pub sampler: Sampler,
    /// `OTEL_RESOURCE_ATTRIBUTES`, decoded, in order.
    pub resource: Vec<(String, String)>,
}

/// The tracing settings from `[tracing]` and the `OTEL_*` variables in
/// `env`: `Ok(None)` without an endpoint (or with the SDK disabled), else
/// the checked settings; `(key, reason)` pairs for what is wrong, the key
/// being the variable's name where the value came from one.
pub fn resolve(
    file: &TracingConfig,
    env: &HashMap<String, String>,
) -> Result<Option<Tracing>, Vec<(String, String)>> {
    // (the value, the key to name in an error)
    let pick = |var: &'static str, key: &'static str, value: &Option<String>| match env
        .get(var)
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
    {
        Some(v) => Some((v.to_owned(), var.to_owned())),
        None => value.clone().map(|v| (v, format!("tracing.{key}"))),
    };
    if env
        .get("OTEL_SDK_DISABLED")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    {
        return Ok(None);
    }
    let Some((endpoint, endpoint_key)) =
        pick("OTEL_EXPORTER_OTLP_ENDPOINT", "endpoint", &file.endpoint)
    else {
        return Ok(None);
    };
    let mut issues = Vec::new();
    let endpoint = match url::Url::parse(&endpoint) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Some(url),
        _ => {
            issues.push((
                endpoint_key,
                "must be an http(s) address, like http://collector:4318".to_owned(),
            ));
            None
        }
    };
    let protocol = match pick("OTEL_EXPORTER_OTLP_PROTOCOL", "protocol", &file.protocol) {
        None => Protocol::HttpProtobuf,
        Some((p, _)) if p == "http/protobuf" => Protocol::HttpProtobuf,
        Some((p, _)) if p == "grpc" => Protocol::Grpc,
        Some((_, key)) => {
            issues.push((key, "must be http/protobuf or grpc".to_owned()));
            Protocol::HttpProtobuf
        }
    };
    let service_name = pick("OTEL_SERVICE_NAME", "service_name", &file.service_name)
        .map_or_else(|| "upbeat".to_owned(), |(name, _)| name);
    let arg = match env
        .get("OTEL_TRACES_SAMPLER_ARG")
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
    {
        Some(raw) => match raw.parse::<f64>() {
            Ok(ratio) => Some((ratio, "OTEL_TRACES_SAMPLER_ARG".to_owned())),
            Err(_) => {
                issues.push((
                    "OTEL_TRACES_SAMPLER_ARG".to_owned(),
                    "must be a number from 0 to 1".to_owned(),
                ));
                None
            }
        },
        None => file
            .sampler_arg
            .map(|r| (r, "tracing.sampler_arg".to_owned())),
    };
    let ratio = match arg {
        None => 1.0,
        Some((ratio, _)) if (0.0..=1.0).contains(&ratio) => ratio,
        Some((_, key)) => {
            issues.push((key, "must be from 0 to 1".to_owned()));
            1.0
        }
    };
    let sampler = match pick("OTEL_TRACES_SAMPLER", "sampler", &file.sampler) {
        None => Sampler::ParentBased(Root::AlwaysOn),
        Some((name, key)) => match name.as_str() {
            "always_on" => Sampler::AlwaysOn,
            "always_off" => Sampler::AlwaysOff,
            "traceidratio" => Sampler::Ratio(ratio),
            "parentbased_always_on" => Sampler::ParentBased(Root::AlwaysOn),
            "parentbased_always_off" => Sampler::ParentBased(Root::AlwaysOff),
            "parentbased_traceidratio" => Sampler::ParentBased(Root::Ratio(ratio)),
            _ => {
                issues.push((
                    key,
                    "must be always_on, always_off, traceidratio, parentbased_always_on, \
                     parentbased_always_off or parentbased_traceidratio"
                        .to_owned(),
                ));
                Sampler::AlwaysOn
            }
        },
    };
    let resource = match pick(
        "OTEL_RESOURCE_ATTRIBUTES",
        "resource_attributes",
        &file.resource_attributes,
    ) {
        None => Vec::new(),
        Some((raw, key)) => resource_attributes(&raw).unwrap_or_else(|reason| {
            issues.push((key, reason));
            Vec::new()
        }),
    };
    match endpoint {
        Some(endpoint) if issues.is_empty() => Ok(Some(Tracing {
            endpoint,
            protocol,
            service_name,
            sampler,
            resource,
        })),
        _ => Err(issues),
    }
}

/// `key1=value1,key2=value2`, values percent-decoded (the W3C Baggage
/// form the specification uses).
fn resource_attributes(raw: &str) -> Result<Vec<(String, String)>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| format!("\"{pair}\" is not key=value"))?;
            let key = key.trim();
            if key.is_empty() {
                return Err(format!("\"{pair}\" has no key"));
            }
            let value = percent_decode(value.trim())
                .ok_or_else(|| format!("\"{pair}\" has a bad percent-encoding"))?;
            Ok((key.to_owned(), value))
        })
        .collect()
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn no_endpoint_no_traces() {
        assert_eq!(resolve(&TracingConfig::default(), &env(&[])), Ok(None));
        let file = TracingConfig {
            endpoint: Some("http://collector:4318".into()),
            ..TracingConfig::default()
        };
        assert_eq!(
            resolve(&file, &env(&[("OTEL_SDK_DISABLED", "true")])),
            Ok(None)
        );
    }

    #[test]
    fn the_file_gives_defaults_and_variables_win() {
        let file = TracingConfig {
            endpoint: Some("http://collector:4318".into()),
            service_name: Some("status".into()),
            sampler: Some("traceidratio".into()),
            sampler_arg: Some(0.5),
            ..TracingConfig::default()
        };
        let from_file = resolve(&file, &env(&[])).unwrap().unwrap();
        assert_eq!(from_file.endpoint.as_str(), "http://collector:4318/");
        assert_eq!(from_file.protocol, Protocol::HttpProtobuf);
        assert_eq!(from_file.service_name, "status");
        assert_eq!(from_file.sampler, Sampler::Ratio(0.5));
        let overridden = resolve(
            &file,
            &env(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://otel.example:4317"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
                ("OTEL_SERVICE_NAME", "upbeat-eu"),
                ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
                ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
                (
                    "OTEL_RESOURCE_ATTRIBUTES",
                    "deployment.environment=prod,team=site%20reliability",
                ),
            ]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(overridden.endpoint.host_str(), Some("otel.example"));
        assert_eq!(overridden.protocol, Protocol::Grpc);
        assert_eq!(overridden.service_name, "upbeat-eu");
        assert_eq!(overridden.sampler, Sampler::ParentBased(Root::Ratio(0.25)));
        assert_eq!(
            overridden.resource,
            [
                ("deployment.environment".to_owned(), "prod".to_owned()),
                ("team".to_owned(), "site reliability".to_owned()),
            ]
        );
        // The specification's default sampler.
        let plain = TracingConfig {
            endpoint: Some("http://collector:4318".into()),
            ..TracingConfig::default()
        };
        let plain = resolve(&plain, &env(&[])).unwrap().unwrap();
        assert_eq!(plain.sampler, Sampler::ParentBased(Root::AlwaysOn));
        assert_eq!(plain.service_name, "upbeat");
    }

    #[test]
    fn bad_values_name_their_key_or_variable() {
        let file = TracingConfig {
            endpoint: Some("collector:4318".into()),
            protocol: Some("http/json".into()),
            sampler: Some("sometimes".into()),
            sampler_arg: Some(1.5),
            resource_attributes: Some("team".into()),
            ..TracingConfig::default()
        };
        let issues = resolve(&file, &env(&[])).unwrap_err();
        let keys: Vec<&str> = issues.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "tracing.endpoint",
                "tracing.protocol",
                "tracing.sampler_arg",
                "tracing.sampler",
                "tracing.resource_attributes",
            ],
            "{issues:?}"
        );
        let issues = resolve(
            &TracingConfig::default(),
            &env(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
                ("OTEL_TRACES_SAMPLER_ARG", "half"),
                ("OTEL_RESOURCE_ATTRIBUTES", "a=%zz"),
            ]),
        )
        .unwrap_err();
        let keys: Vec<&str> = issues.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            ["OTEL_TRACES_SAMPLER_ARG", "OTEL_RESOURCE_ATTRIBUTES"]
        );
    }
}
