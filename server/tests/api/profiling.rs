//! On-demand profiles from the real binary (jemalloc is its allocator):
//! a CPU profile as pprof and as a flame graph while the server works, one
//! at a time, its bounds checked; the heap profile as gzipped pprof; and
//! nothing at all while `[profiling]` is off.

use std::io::Read as _;
use std::time::Duration;

use pprof::protos::{Message as _, Profile};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{one_service_config, Backend, Binary, Target, TestApp, TestDb};

const ADMIN: &str = "profiling-test-admin-token-0123456789";

fn strings(profile: &Profile) -> Vec<&str> {
    profile.string_table.iter().map(String::as_str).collect()
}

async fn error_field(answer: reqwest::Response) -> (StatusCode, Value) {
    let status = answer.status();
    let body: Value = answer.json().await.unwrap();
    (status, body["error"]["field"].clone())
}

/// Requests pages for `length`, so the profiles have work to see.
async fn busy(app: &Binary, length: Duration) {
    let started = std::time::Instant::now();
    while started.elapsed() < length {
        for path in ["/", "/public/status", "/services/target"] {
            app.client.get(app.url(path)).send().await.unwrap();
        }
    }
}

#[tokio::test]
async fn cpu_and_heap_profiles_are_taken_on_demand() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let target = Target::start(200).await;
    let toml = format!(
        "{}\n[profiling]\nenabled = true\n",
        one_service_config(&target.url(), "1s")
    );
    let app = Binary::start(&toml, &db.url, ADMIN, &[]).await;
    let get = |path: &str| app.client.get(app.url(path)).bearer_auth(ADMIN);

    // The token is needed; the bounds are checked.
    let anonymous = app
        .client
        .get(app.url("/debug/pprof/profile?seconds=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    for (query, field) in [
        ("seconds=0", "seconds"),
        ("seconds=61", "seconds"),
        ("format=png", "format"),
    ] {
        let (status, named) = error_field(
            get(&format!("/debug/pprof/profile?{query}"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            (status, named.as_str()),
            (StatusCode::BAD_REQUEST, Some(field)),
            "{query}"
        );
    }

    // A CPU profile while the server answers requests: one at a time.
    let profile = tokio::spawn(get("/debug/pprof/profile?seconds=3").send());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let second = get("/debug/pprof/profile?seconds=1").send().await.unwrap();
    assert_eq!(second.status(), StatusCode::CONFLICT);
    busy(&app, Duration::from_secs(3)).await;
    let answer = profile.await.unwrap().unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(answer.headers()["content-type"], "application/octet-stream");
    let profile =
        Profile::parse_from_bytes(&answer.bytes().await.unwrap()).expect("pprof protobuf");
    assert!(!profile.sample.is_empty(), "samples were taken");
    assert!(
        profile.duration_nanos >= 3_000_000_000,
        "{}",
        profile.duration_nanos
    );
    assert!(
        strings(&profile).iter().any(|s| s.contains("upbeat")),
        "the server's own functions are named"
    );

    // The same as a flame graph; the lock was let go.
    let svg = tokio::spawn(get("/debug/pprof/profile?seconds=2&format=flamegraph").send());
    busy(&app, Duration::from_secs(2)).await;
    let svg = svg.await.unwrap().unwrap();
    assert_eq!(svg.status(), StatusCode::OK);
    assert_eq!(svg.headers()["content-type"], "image/svg+xml");
    let svg = svg.text().await.unwrap();
    assert!(
        svg.contains("<svg") && svg.contains("</svg>"),
        "{}",
        &svg[..svg.len().min(200)]
    );
    assert!(svg.contains("upbeat::"), "frames of the server's own code");

    // The heap: gzipped pprof of sampled allocations, in bytes.
    let heap = get("/debug/pprof/heap").send().await.unwrap();
    assert_eq!(heap.status(), StatusCode::OK);
    let gzipped = heap.bytes().await.unwrap();
    assert_eq!(gzipped[..2], [0x1f, 0x8b], "gzip");
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(&gzipped[..])
        .read_to_end(&mut raw)
        .unwrap();
    let heap = Profile::parse_from_bytes(&raw).expect("pprof protobuf");
    let names = strings(&heap);
    let sample_type = &heap.sample_type[0];
    assert_eq!(
        names[usize::try_from(sample_type.ty).unwrap()],
        "inuse_space"
    );
    assert_eq!(names[usize::try_from(sample_type.unit).unwrap()], "bytes");
    assert!(!heap.sample.is_empty(), "allocations were sampled");
}

#[tokio::test]
async fn profiling_routes_do_not_exist_while_off() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let target = Target::start(200).await;
    let app = TestApp::spawn(&one_service_config(&target.url(), "60s"), &db.url).await;
    for path in ["/debug/pprof/profile?seconds=1", "/debug/pprof/heap"] {
        let answer = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::NOT_FOUND, "{path}");
        let body: Value = answer.json().await.unwrap();
        assert_eq!(body["error"]["code"], "not_found", "{path}");
    }
}
