//! Badges and the embed widget against a running server probing a real
//! local target: what they say, how they are cached, and that nothing a
//! client sends produces a server error.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{
    eventually, hash_source, inline_elements, one_service_config, Backend, Target, TestApp, TestDb,
};

const WAIT: Duration = Duration::from_secs(15);

async fn get(app: &TestApp, path: &str) -> (StatusCode, reqwest::header::HeaderMap, String) {
    app.get_full(path).await
}

#[tokio::test]
async fn badges_follow_the_snapshot_and_are_cached() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let target = Target::start(200).await;
    let app = TestApp::spawn(&one_service_config(&target.url(), "1s"), &db.url).await;
    app.wait_for_service("target", WAIT, |s| s["status"] == "operational")
        .await;

    // Status badge: the service's name, its status, accessible text.
    let (status, headers, svg) = get(&app, "/badge/target.svg").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "image/svg+xml; charset=utf-8");
    assert_eq!(headers["cache-control"], "public, max-age=60");
    assert!(svg.contains(r#"aria-label="Target: operational""#), "{svg}");
    assert!(svg.contains("<title>Target: operational</title>"), "{svg}");
    let etag = headers["etag"].clone();

    // Revalidation is a 304 with no body.
    let response = app
        .client
        .get(app.url("/badge/target.svg"))
        .header("if-none-match", etag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
    assert!(response.text().await.unwrap().is_empty());

    // A real outage changes the badge and its ETag.
    target.set_status(503);
    app.wait_for_service("target", WAIT, |s| s["status"] == "major_outage")
        .await;
    let (_, headers, svg) = get(&app, "/badge/target.svg").await;
    assert!(svg.contains("Target: major outage"), "{svg}");
    assert_ne!(headers["etag"], etag);
    let indicator: app::model::Indicator = serde_json::from_value(
        app.get_json("/public/status").await["overall"]["indicator"].clone(),
    )
    .unwrap();
    let (words, _) = upbeat::domain::badge::overall(indicator);
    assert_ne!(words, "operational");
    let (_, _, svg) = get(&app, "/badge.svg").await;
    assert!(
        svg.contains(&format!(r#"aria-label="status: {words}""#)),
        "{svg}"
    );

    // Uptime and response time come from the rollups.
    let service = app.get_json("/public/status").await["services"][0].clone();
    let (status, _, svg) = get(&app, "/badge/target/uptime/24h.svg").await;
    assert_eq!(status, StatusCode::OK);
    let share = service["uptime"]["h24"].as_f64().unwrap();
    assert!(share < 1.0, "{service}");
    let (expected, _) = upbeat::domain::badge::uptime(Some(share));
    assert!(svg.contains(&format!("uptime 24h: {expected}")), "{svg}");
    let (status, _, svg) = get(&app, "/badge/target/response-time/24h.svg").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        svg.contains("response time 24h: ") && svg.contains(" ms"),
        "{svg}"
    );

    // Percentiles, read from the stored histograms apart from the writer:
    // in every service of the document, the days only in the service's own.
    let percentiles = eventually(WAIT, "percentiles read", || async {
        let service = app.get_json("/public/status").await["services"][0].clone();
        if service["percentiles"]["h24"]["p95"].is_u64() {
            Ok(service)
        } else {
            Err(service["percentiles"].to_string())
        }
    })
    .await["percentiles"]["h24"]
        .clone();
    let p = |name: &str| percentiles[name].as_u64().unwrap();
    assert!(
        p("p50") <= p("p95") && p("p95") <= p("p99"),
        "{percentiles}"
    );
    let (status, _, svg) = get(&app, "/badge/target/response-time/24h.svg?stat=p95").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        svg.contains(&format!("response time p95 24h: {} ms", p("p95"))),
        "{svg}"
    );
    let (_, _, svg) = get(&app, "/badge/target/response-time/24h.svg?stat=mean").await;
    assert!(svg.contains("response time 24h: "), "{svg}");
    let whole = app.get_json("/public/status").await;
    assert!(whole["services"][0].get("daily_percentiles").is_none());
    let own = app.get_json("/public/status?service=target").await["services"][0].clone();
    let days = own["daily_percentiles"]["days"].as_array().unwrap();
    assert_eq!(days.len(), 90);
    let today = days[89].as_array().expect("today has times");
    assert!(today[0].as_u64() <= today[2].as_u64(), "{today:?}");

    // The shields.io endpoint schema.
    let (status, headers, json) = get(&app, "/badge/target.json?label=api").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/json");
    let json: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"schemaVersion": 1, "label": "api", "message": "major outage",
                           "color": "red", "cacheSeconds": 300})
    );

    // Options.
    let (_, _, svg) = get(&app, "/badge/target.svg?style=for-the-badge").await;
    assert!(svg.contains("MAJOR OUTAGE"), "{svg}");
    let (_, _, svg) = get(
        &app,
        "/badge/target.svg?label=%3Cscript%3Ex&color=00f&labelColor=333",
    )
    .await;
    assert!(
        !svg.contains("<script>") && svg.contains("&lt;script&gt;x"),
        "{svg}"
    );
    assert!(svg.contains("#00f") && svg.contains("#333"), "{svg}");

    // Bad requests are readable badges with 400; unknown services are grey
    // "not found" badges with 404.
    for (path, code, text) in [
        ("/badge/target/uptime/1y.svg", 400, "badge: unknown window"),
        (
            "/badge/target/response-time/90d.svg",
            400,
            "badge: unknown window",
        ),
        (
            "/badge/target/response-time/24h.svg?stat=p90",
            400,
            "badge: unknown stat",
        ),
        (
            "/badge/target.svg?style=plastic",
            400,
            "badge: unknown style",
        ),
        (
            "/badge/target.svg?color=javascript:alert(1)",
            400,
            "badge: invalid color",
        ),
        ("/badge/nope.svg", 404, "badge: not found"),
        ("/badge/nope/uptime/30d.svg", 404, "badge: not found"),
        ("/badge/target.png", 404, "badge: not found"),
    ] {
        let (status, headers, svg) = get(&app, path).await;
        assert_eq!(status.as_u16(), code, "{path}");
        assert_eq!(
            headers["content-type"], "image/svg+xml; charset=utf-8",
            "{path}"
        );
        assert!(
            svg.contains(&format!("aria-label=\"{text}\"")),
            "{path}: {svg}"
        );
    }
    let (status, _, json) = get(&app, "/badge/nope.json").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let json: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["isError"], true);
    assert_eq!(json["message"], "not found");

    // Nothing a client sends is a server error.
    for path in [
        "/badge/%00.svg",
        "/badge/..svg",
        "/badge/.svg",
        "/badge/target/uptime/.svg",
        "/badge/target/uptime/30d.svg?style=&label=&color=",
        "/badge/target.svg?label=%E2%80%AE%F0%9F%98%80",
        "/badge/target.svg?labelColor=%23",
        "/badge/target.json?style=nope",
        "/embed?theme=%00",
    ] {
        let (status, _, _) = get(&app, path).await;
        assert!(
            status.is_client_error() || status.is_success(),
            "{path}: {status}"
        );
    }
    let long = format!("/badge/target.svg?label={}", "x".repeat(5000));
    let (status, _, svg) = get(&app, &long).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        svg.contains(&format!("{}…", "x".repeat(39))),
        "label capped"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_embed_widget_is_framable_and_runs_only_its_own_script() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let target = Target::start(200).await;
    let config = one_service_config(&target.url(), "1s")
        .replace("title = \"Test status\"", "title = \"Acme <b>Cloud</b>\"");
    let app = TestApp::spawn(&config, &db.url).await;
    app.wait_for_service("target", WAIT, |s| s["status"] == "operational")
        .await;

    let (status, headers, html) = get(&app, "/embed").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors *"), "{csp}");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(csp.contains("connect-src 'self'"), "{csp}");
    assert!(headers.get("x-frame-options").is_none());
    // No reload (WCAG 2.2.1): one inline script, allowed by its hash.
    assert!(!html.contains("http-equiv"), "{html}");
    let [(_, script)] = inline_elements(&html, "script")[..] else {
        panic!("one inline script in {html}");
    };
    assert!(
        csp.contains(&format!("script-src {}", hash_source(script))),
        "{csp}"
    );
    assert!(html.contains("All Systems Operational"), "{html}");
    assert!(html.contains("Acme &lt;b&gt;Cloud&lt;/b&gt;"), "{html}");
    assert!(html.contains(r#"<body class="auto">"#), "{html}");

    let (_, _, dark) = get(&app, "/embed?theme=dark").await;
    assert!(dark.contains(r#"<body class="dark">"#));
    let (status, _, _) = get(&app, "/embed?theme=neon").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // An active incident shows its title and links to it.
    target.set_status(503);
    app.wait_for_service("target", WAIT, |s| s["status"] == "major_outage")
        .await;
    let deadline = tokio::time::Instant::now() + WAIT;
    let html = loop {
        let (_, _, html) = get(&app, "/embed").await;
        if html.contains("/incidents/") || tokio::time::Instant::now() > deadline {
            break html;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(html.contains("Outage: Target"), "{html}");
    let indicator = app.get_json("/public/status").await["overall"]["indicator"].clone();
    let class = format!(r#"class="w {}""#, indicator.as_str().unwrap());
    assert!(html.contains(&class), "{html}");
    app.stop().await;
}
