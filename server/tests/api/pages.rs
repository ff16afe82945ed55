//! The server-rendered pages: home sections, service and incident pages,
//! Markdown rendered safely, and real 404s.

use reqwest::Method;
use serde_json::json;
use upbeat::clock::{Clock, SystemClock};

use crate::admin::Admin;
use crate::helpers::{eventually, Backend};

#[tokio::test]
async fn pages_render_incidents_services_and_404s() {
    let admin = Admin::start(Backend::Sqlite).await.unwrap();
    let body = "**Payments** fail in the EU.\n\n<script>alert('pwned')</script>\n\n\
                [details](javascript:alert(1)) <img src=x onerror=alert(2)>";
    let (status, created) = admin
        .call(
            Method::POST,
            "/api/v1/incidents",
            Some(json!({
                "title": "Checkout <b>errors</b>",
                "services": [{"slug": "target", "status": "partial_outage"}],
                "body": body,
            })),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().unwrap();
    let app = &admin.app;

    // Home: the active incident with its latest update, sanitised.
    let (status, _, home) = app.get_full("/").await;
    assert_eq!(status, 200);
    assert!(
        home.contains(&format!(r#"href="/incidents/{id}""#)),
        "{home}"
    );
    assert!(
        home.contains("Checkout &lt;b&gt;errors&lt;/b&gt;"),
        "title escaped"
    );
    assert!(
        home.contains("<strong>Payments</strong> fail in the EU."),
        "{home}"
    );
    // Nothing of the body runs: the markup outside scripts has no script,
    // handler or javascript: link, and the data serialised for hydration
    // escapes `<`, so it cannot close its script.
    assert!(!home.contains("<script>alert('pwned')"), "{home}");
    let markup = without_scripts(&home);
    for bad in ["alert('pwned')", "javascript:", "onerror"] {
        assert!(!markup.contains(bad), "{bad} in {markup}");
    }
    // 90 focusable days for the one service, their details carried once
    // (the list's tokens, read by the tooltip script), today's bar holding
    // the incident's link; the hydration data leaves the days out.
    assert_eq!(home.matches(r#"class="bar bar-"#).count(), 90, "{home}");
    assert_eq!(home.matches(r#"tabindex="0""#).count(), 90);
    let today = SystemClock.now().date_naive();
    let first = today - chrono::Days::new(89);
    assert!(home.contains(&format!(r#"data-first="{first}""#)), "{home}");
    let tokens = home
        .split(r#"data-days=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the days' tokens");
    assert_eq!(tokens.split(' ').count(), 90, "{tokens}");
    for token in tokens.split(' ') {
        let (level, rest) = token.split_at(1);
        assert!("oiacmn".contains(level), "{token}");
        let uptime = rest.trim_end_matches(['u', 'g', 'd']);
        assert!(
            uptime.is_empty() || uptime.parse::<f64>().is_ok(),
            "{token}"
        );
    }
    let last_bar = home
        .rsplit(r#"<li class="bar bar-"#)
        .next()
        .and_then(|rest| rest.split("</li>").next())
        .expect("today's bar");
    assert!(
        last_bar.contains(&format!(r#"class="bar-incident" href="/incidents/{id}""#)),
        "{last_bar}"
    );
    assert_eq!(
        home.matches(&first.to_string()).count(),
        1,
        "the days travel once, not again in the hydration data: {home}"
    );

    // The incident's page: the whole timeline.
    let (status, _, page) = app.get_full(&format!("/incidents/{id}")).await;
    assert_eq!(status, 200);
    assert!(page.contains("<strong>Payments</strong>"), "{page}");
    assert!(!page.contains("<script>alert('pwned')"), "{page}");
    assert!(!without_scripts(&page).contains("javascript:"), "{page}");
    assert!(page.contains(r#"href="/services/target""#), "{page}");
    let (_, resolved) = admin
        .call(
            Method::PATCH,
            &format!("/api/v1/incidents/{id}"),
            Some(json!({"status": "resolved", "body": "Fixed: a _bad_ deploy."})),
        )
        .await;
    assert_eq!(resolved["status"], "resolved");
    let (_, _, page) = app.get_full(&format!("/incidents/{id}")).await;
    assert!(page.contains("Fixed: a <em>bad</em> deploy."), "{page}");
    assert!(page.contains("Resolved"), "{page}");
    let (_, _, home) = app.get_full("/").await;
    assert!(
        home.contains("Past incidents") && home.contains(&format!(r#"href="/incidents/{id}""#))
    );

    // The service's page: four uptimes, a response-time chart, its incidents.
    let (status, _, service) = app.get_full("/services/target").await;
    assert_eq!(status, 200);
    for window in ["24 hours", "7 days", "30 days", "90 days"] {
        assert!(service.contains(window), "{window}");
    }
    assert!(
        service.contains(r#"<svg viewBox="0 0 600 120" role="img""#),
        "{service}"
    );
    assert!(service.contains(&format!(r#"href="/incidents/{id}""#)));
    // Once the percentiles are read: p50, p95, p99 and the mean per day,
    // in words as the text alternative.
    let service = eventually(
        std::time::Duration::from_secs(20),
        "percentile lines",
        || async {
            let (_, _, page) = app.get_full("/services/target").await;
            if page.contains(r#"class="chart-line p95""#) {
                Ok(page)
            } else {
                Err("no p95 line yet".to_owned())
            }
        },
    )
    .await;
    for class in ["p50", "p99", "mean"] {
        assert!(
            service.contains(&format!(r#"class="chart-line {class}""#)),
            "{class}"
        );
    }
    assert!(
        service.contains("daily response time over 90 days, highest ")
            && service.contains(", today p50 ")
            && service.contains("Last 24 hours: p50 "),
        "{service}"
    );

    // History, a month at a time: the page and its JSON.
    let month = SystemClock.now().format("%Y-%m").to_string();
    let (status, _, page) = app.get_full("/history").await;
    assert_eq!(status, 200);
    assert!(
        page.contains(&format!(r#"href="/incidents/{id}""#)),
        "{page}"
    );
    assert!(
        page.contains(&format!("<h2 class=\"month\">{month}</h2>")),
        "{page}"
    );
    let json = app
        .get_json(&format!("/public/history?month={month}"))
        .await;
    assert_eq!(json["month"], month);
    assert_eq!(json["incidents"][0]["id"], id);
    assert_eq!(
        json["next"],
        serde_json::Value::Null,
        "no month after the current one"
    );
    let old = app.get_json("/public/history?month=2001-01").await;
    assert_eq!(old["incidents"].as_array().unwrap().len(), 0);
    assert_eq!(
        (old["previous"].as_str(), old["next"].as_str()),
        (Some("2000-12"), Some("2001-02"))
    );
    let (_, _, page) = app.get_full("/history?month=2001-01").await;
    assert!(page.contains("No incidents in 2001-01."), "{page}");
    assert!(page.contains(r#"href="/history?month=2001-02""#), "{page}");
    let (status, _, error) = app.get_full("/public/history?month=2001-13").await;
    assert_eq!(status, 400, "{error}");

    // Unknown pages, slugs and ids are real 404s.
    for path in [
        "/services/nope",
        "/incidents/999999",
        "/incidents/abc",
        "/no/such/page",
    ] {
        let (status, _, html) = app.get_full(path).await;
        assert_eq!(status, 404, "{path}");
        assert!(html.contains("Page not found"), "{path}");
    }
    admin.app.stop().await;
}

/// The page without its `<script>` elements.
fn without_scripts(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(start) = rest.find("<script") {
        out.push_str(&rest[..start]);
        match rest[start..].find("</script>") {
            Some(end) => rest = &rest[start + end + "</script>".len()..],
            None => return out,
        }
    }
    out.push_str(rest);
    out
}

/// A page is rendered once per snapshot, and compressed once per coding:
/// every copy is the same bytes, its inline scripts allowed by hash.
#[tokio::test]
async fn pages_are_cached_per_snapshot_and_compressed_once() {
    let db = crate::helpers::TestDb::new(Backend::Sqlite).await.unwrap();
    let target = crate::helpers::Target::start(200).await;
    // One probe a minute: the snapshot stays put between the requests.
    let app = crate::helpers::TestApp::spawn(
        &crate::helpers::one_service_config(&target.url(), "60s"),
        &db.url,
    )
    .await;
    app.wait_for_service("target", std::time::Duration::from_secs(20), |s| {
        s["status"] == "operational"
    })
    .await;
    let hits = || async {
        let (_, _, text) = app.get_full("/metrics").await;
        text.lines()
            .find(|l| l.starts_with("upbeat_page_cache_total{result=\"hit\"}"))
            .and_then(|l| l.rsplit_once(' '))
            .map_or(0.0, |(_, v)| v.parse::<f64>().unwrap())
    };
    let before = hits().await;
    let mut pages = Vec::new();
    for _ in 0..3 {
        let (status, headers, html) = app.get_full("/").await;
        assert_eq!(status, 200);
        assert!(crate::helpers::assert_inline_allowed(&headers, &html) >= 2);
        assert!(!html.contains("nonce="), "{html}");
        pages.push((headers["content-security-policy"].clone(), html));
    }
    assert!(
        hits().await - before >= 2.0,
        "later requests come from the cache"
    );
    assert_eq!(pages[0], pages[1], "the same page and policy");
    assert_eq!(pages[1], pages[2]);
    // An answer that is not a cacheable page is rendered every time: no hit.
    let before_404 = hits().await;
    for _ in 0..2 {
        let (status, _, _) = app.get_full("/services/no-such-service").await;
        assert_eq!(status, 404);
    }
    assert_eq!(hits().await, before_404, "a 404 page is never a hit");
    // Compressed for browsers that accept it, to the same page.
    for (accept, coding) in [("gzip, deflate, br, zstd", "br"), ("gzip", "gzip")] {
        let response = app
            .client
            .get(app.url("/"))
            .header("accept-encoding", accept)
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["content-encoding"], coding);
        assert_eq!(response.headers()["vary"], "accept-encoding");
        let packed = response.bytes().await.unwrap();
        assert!(
            packed.len() * 5 < pages[0].1.len(),
            "{coding}: {} bytes",
            packed.len()
        );
        assert_eq!(crate::helpers::decompress(coding, &packed), pages[0].1);
    }
    // For an unknown page, nothing is cached.
    let (status, _, _) = app.get_full("/services/nope").await;
    assert_eq!(status, 404);
    app.stop().await;
}

/// Logo, links and accent colour from `[page]`; the colour in a style
/// element the page's policy allows by its hash.
#[tokio::test]
async fn branding_comes_from_the_config() {
    let db = crate::helpers::TestDb::new(Backend::Sqlite).await.unwrap();
    let target = crate::helpers::Target::start(200).await;
    let config = crate::helpers::one_service_config(&target.url(), "60s").replace(
        "title = \"Test status\"",
        "title = \"Acme\"\nlogo = \"/logo.svg\"\naccent = \"#ff0066\"\n\
         [[page.links]]\nlabel = \"Support\"\nurl = \"https://acme.example/support\"",
    );
    let app = crate::helpers::TestApp::spawn(&config, &db.url).await;
    for _ in 0..2 {
        // The second answer comes from the page cache.
        let (status, headers, html) = app.get_full("/").await;
        assert_eq!(status, 200);
        assert!(
            html.contains("<style>:root{--accent:#ff0066}</style>"),
            "{html}"
        );
        crate::helpers::assert_inline_allowed(&headers, &html);
        assert!(
            html.contains(r#"<img src="/logo.svg" alt="" height="32" class="logo">"#),
            "{html}"
        );
        assert!(
            html.contains(r#"<a href="https://acme.example/support" rel="noopener">Support</a>"#),
            "{html}"
        );
    }
    let status = app.get_json("/public/status").await;
    assert_eq!(status["page"]["accent"], "#ff0066");
    assert_eq!(status["page"]["links"][0]["label"], "Support");
    app.stop().await;
}

/// An incident too old to be among the snapshot's recent ones (linked from
/// the history) still has its page, from the database.
#[tokio::test]
async fn old_incidents_keep_their_page() {
    let admin = Admin::start(Backend::Sqlite).await.unwrap();
    let create = |title: String| {
        let admin = &admin;
        async move {
            let (status, created) = admin
                .call(
                    Method::POST,
                    "/api/v1/incidents",
                    Some(json!({"title": title, "status": "resolved", "body": "It was _bad_."})),
                )
                .await;
            assert_eq!(status, 201, "{created}");
            created["id"].as_i64().unwrap()
        }
    };
    let old = create("The first outage".to_owned()).await;
    for n in 0..50 {
        create(format!("Outage {n}")).await;
    }
    let snapshot = admin.app.get_json("/public/status").await;
    let recent = snapshot["recent_incidents"].as_array().unwrap();
    assert!(
        recent.iter().all(|i| i["id"] != old),
        "no longer in the snapshot"
    );

    let (status, _, page) = admin.app.get_full(&format!("/incidents/{old}")).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<title>The first outage</title>"), "{page}");
    assert!(page.contains("It was <em>bad</em>."), "{page}");
    let (status, _, page) = admin.app.get_full("/incidents/999999").await;
    assert_eq!(status, 404);
    assert!(page.contains("<title>Not found</title>"), "{page}");
    admin.app.stop().await;
}

/// Above `[page] max_listed` services the home page and `/public/status`
/// list only what is not operational and count every group; groups have
/// pages of 100; a service's page carries only that service.
#[tokio::test]
async fn large_pages_list_what_is_wrong_and_page_groups() {
    let db = crate::helpers::TestDb::new(Backend::Sqlite).await.unwrap();
    let ok = crate::helpers::Target::start(200).await;
    let failing = crate::helpers::Target::start(500).await;
    let service = |slug: &str, group: Option<&str>, url: &str, interval: &str| {
        let group = group
            .map(|g| format!("group = \"{g}\"\n"))
            .unwrap_or_default();
        format!(
            "[[services]]\nslug = \"{slug}\"\nname = \"{slug}\"\n{group}interval = \"{interval}\"\n\
             [services.check]\nkind = \"http\"\nurl = \"{url}\"\n"
        )
    };
    let mut config =
        "[page]\ntitle = \"Big\"\nmax_listed = 2\n[defaults]\ntimeout = \"2s\"\n".to_owned();
    config += &service("solo", None, &ok.url(), "1s");
    for slug in ["ok1", "ok2", "ok3"] {
        config += &service(slug, Some("Edge"), &ok.url(), "1s");
    }
    config += &service("bad", Some("Edge"), &failing.url(), "1s");
    for i in 0..101 {
        config += &service(&format!("bulk{i}"), Some("Bulk stores"), &ok.url(), "60s");
    }
    let app = crate::helpers::TestApp::spawn(&config, &db.url).await;
    let wait = std::time::Duration::from_secs(30);
    app.wait_for_service("bad", wait, |s| s["status"] == "major_outage")
        .await;
    for slug in ["solo", "ok1", "ok2", "ok3"] {
        app.wait_for_service(slug, wait, |s| s["status"] == "operational")
            .await;
    }

    // The home document: only `bad` listed, every group counted.
    let home = app.get_json("/public/status").await;
    let listed: Vec<&str> = home["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["slug"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["bad"], "{home}");
    assert_eq!(home["listing"]["total"], 106);
    assert_eq!(home["listing"]["part"], "not_operational");
    let groups = home["listing"]["groups"].as_array().unwrap();
    let counted: Vec<(&str, u64, u64, u64)> = groups
        .iter()
        .map(|g| {
            let n = |k: &str| g[k].as_u64().unwrap();
            // The bulk services may not all be probed yet.
            let known = n("operational") + n("no_data");
            (
                g["slug"].as_str().unwrap(),
                n("total"),
                known,
                n("major_outage"),
            )
        })
        .collect();
    assert_eq!(
        counted,
        [
            ("ungrouped", 1, 1, 0),
            ("edge", 4, 3, 1),
            ("bulk-stores", 101, 101, 0)
        ],
        "{home}"
    );
    assert_eq!(home["overall"]["indicator"], "major");

    // The home page: groups linked with their counts, `bad` with its bars,
    // the operational services not listed.
    let (status, _, html) = app.get_full("/").await;
    assert_eq!(status, 200);
    assert!(
        html.contains(r#"<a href="/groups/edge">Edge</a>"#),
        "{html}"
    );
    assert!(
        html.contains("4 services: 3 operational, 1 major outage"),
        "{html}"
    );
    assert!(html.contains("101 services: "), "{html}");
    assert!(html.contains(r#"data-slug="bad""#), "{html}");
    assert!(!html.contains(r#"data-slug="ok1""#), "{html}");
    assert!(
        html.contains("106 services. Listed below: 1 not operational"),
        "{html}"
    );

    // A group's pages: 100 services a page, with links between them.
    let (status, _, edge) = app.get_full("/groups/edge").await;
    assert_eq!(status, 200);
    assert!(
        edge.contains("<title>Edge — Major outage</title>"),
        "{edge}"
    );
    for slug in ["ok1", "ok2", "ok3", "bad"] {
        assert!(edge.contains(&format!(r#"data-slug="{slug}""#)), "{slug}");
    }
    assert!(!edge.contains(r#"class="pager""#), "one page only");
    let (status, _, first) = app.get_full("/groups/bulk-stores").await;
    assert_eq!(status, 200);
    assert_eq!(first.matches(r#"data-slug="bulk"#).count(), 100, "{first}");
    assert!(first.contains("Page 1 of 2"), "{first}");
    assert!(
        first.contains(r#"href="/groups/bulk-stores?page=2""#),
        "{first}"
    );
    let (status, _, second) = app.get_full("/groups/bulk-stores?page=2").await;
    assert_eq!(status, 200);
    assert_eq!(second.matches(r#"data-slug="bulk"#).count(), 1);
    assert!(second.contains(r#"data-slug="bulk100""#), "{second}");
    assert!(
        second.contains(r#"href="/groups/bulk-stores?page=1""#),
        "{second}"
    );
    for path in ["/groups/bulk-stores?page=3", "/groups/nope"] {
        let (status, _, html) = app.get_full(path).await;
        assert_eq!(status, 404, "{path}");
        assert!(html.contains("Page not found"), "{path}");
    }
    let page = app
        .get_json("/public/status?group=bulk-stores&page=2")
        .await;
    assert_eq!(page["services"][0]["slug"], "bulk100");
    assert_eq!(
        page["listing"]["part"],
        json!({"group_page": {"page": 2, "pages": 2}})
    );

    // A service's page and document carry that service only.
    let one = app.get_json("/public/status?service=ok2").await;
    assert_eq!(one["services"].as_array().unwrap().len(), 1);
    assert_eq!(one["listing"]["part"], "service");
    let (status, _, html) = app.get_full("/services/ok2").await;
    assert_eq!(status, 200);
    assert!(html.contains("<title>ok2 — Operational</title>"), "{html}");
    assert!(
        !html.contains("bulk100"),
        "only its own service is serialised"
    );

    // Bad queries name the parameter.
    let cases = [
        ("service=nope", 404, "service"),
        ("group=nope", 404, "group"),
        ("group=edge&page=2", 404, "page"),
        ("group=edge&page=0", 400, "page"),
        ("page=2", 400, "page"),
        ("service=ok1&group=edge", 400, "service"),
        ("colour=red", 400, "query"),
    ];
    for (query, want, field) in cases {
        let (status, _, body) = app.get_full(&format!("/public/status?{query}")).await;
        assert_eq!(status.as_u16(), want, "{query}: {body}");
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error"]["field"], field, "{query}: {body}");
    }
    app.stop().await;
}
