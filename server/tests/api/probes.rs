//! Probes against real local servers, hostile ones included. Every case must
//! be classified, with a short reason, within its timeout.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use app::model::SampleOutcome;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{any, get};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use upbeat::clock::SystemClock;
use upbeat::config::{Config, Overrides};
use upbeat::probe::{ProbeContext, ProbeResult};

use crate::helpers::silent_target;

const TIMEOUT: Duration = Duration::from_secs(2);

/// Builds the probe of the one service in `check_toml` and runs it once.
async fn probe(check_toml: &str) -> (ProbeResult, Duration) {
    let toml =
        format!("[[services]]\nslug = \"s\"\nname = \"S\"\n[services.check]\n{check_toml}\n");
    let config = Config::from_toml(&toml, Vec::new(), &Overrides::default()).expect("valid check");
    let probe = ProbeContext::new(Arc::new(SystemClock))
        .probe_for(&config, &config.services[0])
        .unwrap();
    let started = Instant::now();
    let outcome = probe.run(TIMEOUT).await;
    (outcome, started.elapsed())
}

async fn serve(app: axum::Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// A raw TCP server: runs `handler` on every accepted connection.
async fn raw_server<F, Fut>(handler: F) -> SocketAddr
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handler = Arc::new(handler);
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(handler(socket));
        }
    });
    addr
}

fn assert_outcome(got: &ProbeResult, outcome: SampleOutcome, error: Option<&str>) {
    assert_eq!(got.outcome, outcome, "{got:?}");
    assert_eq!(got.error.as_deref(), error, "{got:?}");
}

#[tokio::test]
async fn a_target_that_never_answers_times_out() {
    let addr = silent_target().await;
    let (outcome, took) = probe(&format!("kind = \"http\"\nurl = \"http://{addr}/\"")).await;
    assert_outcome(&outcome, SampleOutcome::Down, Some("timed out after 2s"));
    assert!(took < TIMEOUT + Duration::from_millis(500), "{took:?}");
}

#[tokio::test]
async fn a_target_answering_one_byte_per_second_times_out() {
    let addr = raw_server(|mut socket| async move {
        let mut buf = [0u8; 1024];
        let _ = socket.read(&mut buf).await;
        for byte in b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok" {
            if socket.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    })
    .await;
    let (outcome, took) = probe(&format!("kind = \"http\"\nurl = \"http://{addr}/\"")).await;
    assert_outcome(&outcome, SampleOutcome::Down, Some("timed out after 2s"));
    assert!(took < TIMEOUT + Duration::from_millis(500), "{took:?}");
}

#[tokio::test]
async fn a_one_gibibyte_body_is_read_only_up_to_the_cap() {
    let sent = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&sent);
    let addr = raw_server(move |mut socket| {
        let counter = Arc::clone(&counter);
        async move {
            let mut buf = [0u8; 1024];
            let _ = socket.read(&mut buf).await;
            let head =
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 1073741824\r\n\r\n";
            if socket.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let chunk = vec![b'x'; 64 * 1024];
            while socket.write_all(&chunk).await.is_ok() {
                if counter.fetch_add(chunk.len() as u64, Ordering::Relaxed) > (1 << 30) {
                    return;
                }
            }
        }
    })
    .await;
    let (outcome, took) = probe(&format!(
        "kind = \"http\"\nurl = \"http://{addr}/\"\nconditions = [{{ contains = \"needle\" }}]"
    ))
    .await;
    assert_outcome(
        &outcome,
        SampleOutcome::Down,
        Some("body does not contain \"needle\""),
    );
    assert!(took < TIMEOUT, "{took:?}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sent = sent.load(Ordering::Relaxed);
    // 1 MiB read by the probe plus what socket buffers absorbed: far from 1 GiB.
    assert!(sent < 64 << 20, "the server managed to send {sent} bytes");
}

#[tokio::test]
async fn a_redirect_loop_is_reported() {
    let app = axum::Router::new().route("/loop", get(|| async { Redirect::to("/loop") }));
    let addr = serve(app).await;
    let (outcome, _) = probe(&format!("kind = \"http\"\nurl = \"http://{addr}/loop\"")).await;
    assert_outcome(&outcome, SampleOutcome::Down, Some("too many redirects"));

    // With redirects off, the redirect itself is judged.
    let (outcome, _) = probe(&format!(
        "kind = \"http\"\nurl = \"http://{addr}/loop\"\nmax_redirects = 0\nexpected_status = [303]"
    ))
    .await;
    assert_outcome(&outcome, SampleOutcome::Up, None);
}

#[tokio::test]
async fn an_unknown_host_is_reported() {
    let (outcome, _) = probe("kind = \"http\"\nurl = \"http://upbeat-test-host.invalid/\"").await;
    assert_outcome(&outcome, SampleOutcome::Down, Some("unknown host"));
}

#[tokio::test]
async fn a_closed_port_is_connection_refused() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let (outcome, _) = probe(&format!("kind = \"http\"\nurl = \"http://{addr}/\"")).await;
    assert_outcome(&outcome, SampleOutcome::Down, Some("connection refused"));
    let (outcome, _) = probe(&format!(
        "kind = \"tcp\"\nhost = \"127.0.0.1\"\nport = {}",
        addr.port()
    ))
    .await;
    assert_outcome(&outcome, SampleOutcome::Down, Some("connection refused"));
}

#[tokio::test]
async fn an_open_port_is_up_for_tcp() {
    let addr = silent_target().await;
    let (outcome, _) = probe(&format!(
        "kind = \"tcp\"\nhost = \"127.0.0.1\"\nport = {}",
        addr.port()
    ))
    .await;
    assert_outcome(&outcome, SampleOutcome::Up, None);
}

const HEALTH_CHECK: &str = r#"
conditions = [
  { json_pointer = "/status", equals = "ready" },
  { json_pointer = "/checks/db", equals = true },
  { json_pointer = "/checks/cache", equals = true, soft = true },
]"#;

#[tokio::test]
async fn a_json_health_endpoint_is_up_degraded_or_down_by_its_conditions() {
    let app = axum::Router::new()
        .route(
            "/all",
            get(|| async { r#"{"status":"ready","checks":{"db":true,"cache":true}}"# }),
        )
        .route(
            "/soft",
            get(|| async { r#"{"status":"ready","checks":{"db":true,"cache":false}}"# }),
        )
        .route(
            "/hard",
            get(|| async { r#"{"status":"ready","checks":{"db":false,"cache":false}}"# }),
        )
        .route("/html", get(|| async { "<h1>It works</h1>" }));
    let addr = serve(app).await;
    let cases = [
        ("all", SampleOutcome::Up, None),
        (
            "soft",
            SampleOutcome::Degraded,
            Some("/checks/cache is false, expected true"),
        ),
        (
            "hard",
            SampleOutcome::Down,
            Some("/checks/db is false, expected true"),
        ),
        ("html", SampleOutcome::Down, Some("body is not JSON")),
    ];
    for (path, expected, error) in cases {
        let (outcome, _) = probe(&format!(
            "kind = \"http\"\nurl = \"http://{addr}/{path}\"{HEALTH_CHECK}"
        ))
        .await;
        assert_outcome(&outcome, expected, error);
    }
}

#[tokio::test]
async fn a_slow_answer_is_degraded() {
    let app = axum::Router::new().route(
        "/",
        get(|| async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            "ok"
        }),
    );
    let addr = serve(app).await;
    let (outcome, _) = probe(&format!(
        "kind = \"http\"\nurl = \"http://{addr}/\"\ndegraded_over = \"100ms\""
    ))
    .await;
    assert_eq!(outcome.outcome, SampleOutcome::Degraded);
    let error = outcome.error.unwrap();
    assert!(
        error.starts_with("slow: ") && error.ends_with(" ms (over 100 ms)"),
        "{error}"
    );
    assert!(outcome.latency_ms.unwrap() >= 300);
}

#[tokio::test]
async fn method_headers_and_body_are_sent() {
    let app = axum::Router::new().route(
        "/hook",
        any(
            |method: axum::http::Method, headers: HeaderMap, body: String| async move {
                let ok = method == axum::http::Method::POST
                    && headers.get("x-token").is_some_and(|v| v == "s3cret")
                    && body == r#"{"ping":true}"#;
                if ok {
                    StatusCode::ACCEPTED
                } else {
                    StatusCode::BAD_REQUEST
                }
                .into_response()
            },
        ),
    );
    let addr = serve(app).await;
    let check = format!(
        "kind = \"http\"\nurl = \"http://{addr}/hook\"\nmethod = \"POST\"\nbody = '{{\"ping\":true}}'\nexpected_status = [202]\n[services.check.headers]\nx-token = \"s3cret\""
    );
    let (outcome, _) = probe(&check).await;
    assert_outcome(&outcome, SampleOutcome::Up, None);
    let (outcome, _) = probe(&check.replace("s3cret\"", "wrong\"")).await;
    assert_outcome(
        &outcome,
        SampleOutcome::Down,
        Some("status 400, expected 202"),
    );
}

#[test]
fn invalid_conditions_stop_the_config_with_the_key() {
    let toml = "[[services]]\nslug = \"s\"\nname = \"S\"\n[services.check]\nkind = \"http\"\nurl = \"http://x/\"\nconditions = [{ json_pointer = \"/a\" }]\n";
    let issues = Config::from_toml(toml, Vec::new(), &Overrides::default()).unwrap_err();
    assert_eq!(issues[0].key, "services[0].check.conditions[0]");
    assert_eq!(
        issues[0].message,
        "json_pointer needs exactly one of equals or exists"
    );
    assert_eq!(issues[0].line, Some(7));
}

/// A local CA and TLS servers presenting certificates it signs (or not).
mod tls {
    use std::net::SocketAddr;
    use std::sync::Arc;

    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    use time::{Duration, OffsetDateTime};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    pub struct Ca {
        issuer: Issuer<'static, KeyPair>,
        pub pem: String,
    }

    impl Ca {
        pub fn new() -> Self {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params
                .distinguished_name
                .push(DnType::CommonName, "Upbeat test CA");
            let pem = params.clone().self_signed(&key).unwrap().pem();
            Self {
                issuer: Issuer::new(params, key),
                pem,
            }
        }

        /// A leaf for `localhost` valid from `from` to `until` (days from now).
        pub fn leaf(
            &self,
            from: i64,
            until: i64,
        ) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
            let key = KeyPair::generate().unwrap();
            let params = leaf_params(from, until);
            let cert = params.signed_by(&key, &self.issuer).unwrap();
            (
                cert.der().clone(),
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
        }
    }

    fn leaf_params(from: i64, until: i64) -> CertificateParams {
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        let now = OffsetDateTime::now_utc();
        params.not_before = now + Duration::days(from);
        params.not_after = now + Duration::days(until) + Duration::hours(1);
        params
    }

    /// A self-signed leaf for `localhost`, trusted by nobody.
    pub fn self_signed() -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
        let key = KeyPair::generate().unwrap();
        let cert = leaf_params(-1, 90).self_signed(&key).unwrap();
        (
            cert.der().clone(),
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
    }

    /// Serves TLS with this certificate; answers any request with 200 "ok".
    pub async fn server(cert: (CertificateDer<'static>, PrivateKeyDer<'static>)) -> SocketAddr {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.0], cert.1)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(socket).await else {
                        return;
                    };
                    let mut buf = [0u8; 4096];
                    if tls.read(&mut buf).await.is_ok() {
                        let _ = tls.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok").await;
                        let _ = tls.shutdown().await;
                    }
                });
            }
        });
        addr
    }
}

fn write_ca(ca: &tls::Ca) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &ca.pem).unwrap();
    file
}

fn tls_check(addr: SocketAddr, ca_file: Option<&std::path::Path>) -> String {
    let mut check = format!(
        "kind = \"tls\"\nhost = \"127.0.0.1\"\nport = {}\nserver_name = \"localhost\"",
        addr.port()
    );
    if let Some(path) = ca_file {
        check.push_str(&format!("\nca_file = \"{}\"", path.display()));
    }
    check
}

#[tokio::test]
async fn tls_certificates_are_judged_by_chain_and_expiry() {
    let ca = tls::Ca::new();
    let ca_file = write_ca(&ca);
    let fine = tls::server(ca.leaf(-1, 90)).await;
    let expiring = tls::server(ca.leaf(-80, 3)).await;
    let expired = tls::server(ca.leaf(-90, -2)).await;
    let self_signed = tls::server(tls::self_signed()).await;

    let (outcome, _) = probe(&tls_check(fine, Some(ca_file.path()))).await;
    assert_outcome(&outcome, SampleOutcome::Up, None);
    let (outcome, _) = probe(&tls_check(expiring, Some(ca_file.path()))).await;
    assert_outcome(
        &outcome,
        SampleOutcome::Degraded,
        Some("certificate expires in 3 days"),
    );
    let (outcome, _) = probe(&tls_check(expired, Some(ca_file.path()))).await;
    assert_outcome(&outcome, SampleOutcome::Down, Some("certificate expired"));
    let (outcome, _) = probe(&tls_check(self_signed, Some(ca_file.path()))).await;
    assert_outcome(
        &outcome,
        SampleOutcome::Down,
        Some("certificate not trusted (unknown issuer)"),
    );
    // Without the private CA, even the good certificate is untrusted.
    let (outcome, _) = probe(&tls_check(fine, None)).await;
    assert_outcome(
        &outcome,
        SampleOutcome::Down,
        Some("certificate not trusted (unknown issuer)"),
    );
    // The certificate is for localhost, not for another name.
    let wrong_name = tls_check(fine, Some(ca_file.path())).replace(
        "server_name = \"localhost\"",
        "server_name = \"example.org\"",
    );
    let (outcome, _) = probe(&wrong_name).await;
    assert_outcome(
        &outcome,
        SampleOutcome::Down,
        Some("certificate not valid for example.org"),
    );
}

#[tokio::test]
async fn https_checks_verify_certificates_unless_told_not_to() {
    let self_signed = tls::server(tls::self_signed()).await;
    let url = format!("https://localhost:{}/", self_signed.port());
    let (outcome, _) = probe(&format!("kind = \"http\"\nurl = \"{url}\"")).await;
    assert_eq!(outcome.outcome, SampleOutcome::Down);
    assert_eq!(
        outcome.error.as_deref(),
        Some("TLS certificate rejected: unknown issuer (self-signed?)")
    );
    let (outcome, _) = probe(&format!(
        "kind = \"http\"\nurl = \"{url}\"\nverify_tls = false"
    ))
    .await;
    assert_outcome(&outcome, SampleOutcome::Up, None);
}

#[test]
fn a_missing_ca_file_stops_the_config_with_the_key() {
    let toml = "[[services]]\nslug = \"s\"\nname = \"S\"\n[services.check]\nkind = \"tls\"\nhost = \"example.org\"\nca_file = \"/nonexistent/ca.pem\"\n";
    let issues = Config::from_toml(toml, Vec::new(), &Overrides::default()).unwrap_err();
    assert_eq!(issues[0].key, "services[0].check.ca_file");
    assert!(
        issues[0]
            .message
            .starts_with("cannot read /nonexistent/ca.pem"),
        "{}",
        issues[0].message
    );
}

/// A minimal authoritative DNS server on UDP: A records from `records`,
/// NXDOMAIN for other names, an empty answer for other record types.
async fn dns_server(records: Vec<(&'static str, [u8; 4])>) -> SocketAddr {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 512];
        while let Ok((len, peer)) = socket.recv_from(&mut buf).await {
            let query = &buf[..len];
            // Question: labels from byte 12 up to the zero label, then type and class.
            let mut i = 12;
            let mut labels = Vec::new();
            while i < len && query[i] != 0 {
                let n = usize::from(query[i]);
                labels.push(String::from_utf8_lossy(&query[i + 1..i + 1 + n]).to_lowercase());
                i += 1 + n;
            }
            let question_end = i + 5;
            let qtype = u16::from_be_bytes([query[i + 1], query[i + 2]]);
            let name = labels.join(".");
            let found: Vec<[u8; 4]> = records
                .iter()
                .filter(|(n, _)| *n == name)
                .map(|(_, ip)| *ip)
                .collect();
            let answers: Vec<[u8; 4]> = if qtype == 1 {
                found.clone()
            } else {
                Vec::new()
            };
            let rcode: u8 = if found.is_empty() { 3 } else { 0 };
            let mut reply = Vec::new();
            reply.extend_from_slice(&query[..2]); // id
            reply.extend_from_slice(&[0x81, 0x80 | rcode]); // response, RD, RA, rcode
            reply.extend_from_slice(&[0, 1]); // one question
            reply.extend_from_slice(&u16::try_from(answers.len()).unwrap().to_be_bytes());
            reply.extend_from_slice(&[0, 0, 0, 0]); // no authority, no additional
            reply.extend_from_slice(&query[12..question_end]);
            for ip in answers {
                reply.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
                reply.extend_from_slice(&ip);
            }
            let _ = socket.send_to(&reply, peer).await;
        }
    });
    addr
}

#[tokio::test]
async fn dns_names_resolve_against_a_given_server() {
    let server = dns_server(vec![
        ("api.upbeat.test", [10, 0, 0, 7]),
        ("api.upbeat.test", [10, 0, 0, 8]),
    ])
    .await;
    let check = |name: &str, expected: &str| {
        format!("kind = \"dns\"\nname = \"{name}\"\nserver = \"{server}\"\nexpected = [{expected}]")
    };
    let (outcome, _) = probe(&check("api.upbeat.test", "")).await;
    assert_outcome(&outcome, SampleOutcome::Up, None);
    let (outcome, _) = probe(&check("api.upbeat.test", "\"10.0.0.8\"")).await;
    assert_outcome(&outcome, SampleOutcome::Up, None);
    let (outcome, _) = probe(&check("api.upbeat.test", "\"10.9.9.9\"")).await;
    assert_outcome(
        &outcome,
        SampleOutcome::Down,
        Some("resolved to 10.0.0.7, 10.0.0.8, expected 10.9.9.9"),
    );
    let (outcome, _) = probe(&check("missing.upbeat.test", "")).await;
    assert_outcome(
        &outcome,
        SampleOutcome::Down,
        Some("no address found for missing.upbeat.test"),
    );
}

#[tokio::test]
async fn a_dns_server_that_never_answers_times_out() {
    // Bound but never read: queries go unanswered.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let (outcome, took) = probe(&format!(
        "kind = \"dns\"\nname = \"api.upbeat.test\"\nserver = \"{addr}\""
    ))
    .await;
    assert_eq!(outcome.outcome, SampleOutcome::Down);
    let error = outcome.error.unwrap();
    assert!(error.contains("timed out"), "{error}");
    assert!(took < TIMEOUT + Duration::from_millis(500), "{took:?}");
    drop(silent);
}
