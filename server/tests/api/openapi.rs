//! `/api/openapi.json`: a well-formed OpenAPI 3.1 document that describes
//! every route the server answers, and only those.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::admin::Admin;
use crate::helpers::Backend;

/// Every JSON, feed and probe route, as (method, path template).
const ROUTES: &[(&str, &str)] = &[
    ("get", "/health"),
    ("get", "/ready"),
    ("get", "/startup"),
    ("get", "/health/detailed"),
    ("get", "/metrics"),
    ("get", "/public/status"),
    ("get", "/public/status/incidents"),
    ("get", "/public/history"),
    ("get", "/api/v1/push/{token}"),
    ("post", "/api/v1/push/{token}"),
    ("post", "/api/v1/client-errors"),
    ("post", "/api/v1/client-errors/sentry"),
    ("get", "/debug/pprof/profile"),
    ("get", "/debug/pprof/heap"),
    ("post", "/api/v1/incidents"),
    ("get", "/api/v1/incidents"),
    ("get", "/api/v1/incidents/{id}"),
    ("patch", "/api/v1/incidents/{id}"),
    ("delete", "/api/v1/incidents/{id}"),
    ("post", "/api/v1/incidents/{id}/updates"),
    ("post", "/api/v1/maintenances"),
    ("get", "/api/v1/maintenances"),
    ("get", "/api/v1/maintenances/{id}"),
    ("patch", "/api/v1/maintenances/{id}"),
    ("delete", "/api/v1/maintenances/{id}"),
    ("post", "/api/v1/maintenances/{id}/updates"),
    ("get", "/api/v1/audit-log"),
    ("get", "/api/v1/config"),
    ("get", "/api/v1/alerts/routes"),
    ("get", "/api/v1/slo"),
    ("get", "/api/v1/slo/report"),
    ("get", "/api/v1/slo/{slug}"),
    ("get", "/api/v1/slo/{slug}/history"),
    ("post", "/api/v1/alerts/routes/{name}/test"),
    ("get", "/api/v1/alerts/history"),
    ("get", "/api/v2/summary.json"),
    ("get", "/api/v2/status.json"),
    ("get", "/api/v2/components.json"),
    ("get", "/api/v2/incidents.json"),
    ("get", "/api/v2/incidents/unresolved.json"),
    ("get", "/api/v2/scheduled-maintenances.json"),
    ("get", "/api/v2/scheduled-maintenances/upcoming.json"),
    ("get", "/api/v2/scheduled-maintenances/active.json"),
    ("get", "/feed.atom"),
    ("get", "/feed.rss"),
    ("get", "/api/openapi.json"),
    ("get", "/badge.svg"),
    ("get", "/badge/{slug}.svg"),
    ("get", "/badge/{slug}.json"),
    ("get", "/badge/{slug}/uptime/{window}.svg"),
    ("get", "/badge/{slug}/response-time/{window}.svg"),
    ("get", "/embed"),
    ("post", "/subscribe"),
    ("post", "/subscribe/unsubscribe"),
    ("get", "/api/v1/subscribers"),
    ("post", "/api/v1/subscribers"),
    ("get", "/api/v1/subscribers/counts"),
    ("delete", "/api/v1/subscribers/{id}"),
    ("get", "/api/v1/subscribers/export.csv"),
    ("post", "/api/v1/subscribers/import"),
];

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Every `$ref` in `value`.
fn refs<'a>(value: &'a Value, found: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("$ref", Value::String(r)) => found.push(r),
                    _ => refs(v, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
        _ => {}
    }
}

async fn description(backend: Backend) {
    let Some(admin) = Admin::start(backend).await else {
        return;
    };
    let response = admin
        .app
        .client
        .get(admin.app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let doc: Value = response.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    // Kept gzipped: sent so to whoever accepts it, unpacked for the others.
    for accept in ["gzip", "br;q=1, gzip;q=0.5", "identity", "br"] {
        let response = admin
            .app
            .client
            .get(admin.app.url("/api/openapi.json"))
            .header("accept-encoding", accept)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "application/json");
        let coding = response
            .headers()
            .get("content-encoding")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = response.bytes().await.unwrap();
        let text = match coding.as_deref() {
            Some(coding) => crate::helpers::decompress(coding, &body),
            None => String::from_utf8(body.to_vec()).unwrap(),
        };
        let again: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(again, doc, "{accept}");
        let want = if accept.contains("gzip") {
            Some("gzip")
        } else if accept == "br" {
            Some("br")
        } else {
            None
        };
        assert_eq!(coding.as_deref(), want, "{accept}");
    }
    assert_eq!(doc["info"]["title"], "Upbeat");
    assert!(doc["info"]["version"]
        .as_str()
        .is_some_and(|v| !v.is_empty()));
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );

    // Exactly the routes above, no more, no fewer.
    let mut described = BTreeSet::new();
    let mut operations = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if METHODS.contains(&method.as_str()) {
                described.insert((method.clone(), path.clone()));
                operations.push((method.clone(), path.clone(), op.clone()));
            }
        }
    }
    let expected: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(described, expected);

    // Every reference resolves, and every schema is an object.
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(found.len() > 20, "{found:?}");
    for r in found {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected reference {r}"));
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "{r} does not resolve"
        );
    }

    for (method, path, op) in &operations {
        let responses = op["responses"].as_object().unwrap();
        assert!(!responses.is_empty(), "{method} {path}: no responses");
        assert!(
            op["tags"].as_array().is_some_and(|t| t.len() == 1),
            "{method} {path}"
        );
        // Path parameters are declared.
        for segment in path.split('/').filter(|s| s.starts_with('{')) {
            let name = &segment[1..segment.find('}').unwrap()];
            let declared = op["parameters"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["name"] == name && p["in"] == "path"));
            assert!(declared, "{method} {path}: parameter {name} not declared");
        }
        let secured = op.get("security").is_some();
        assert_eq!(
            secured,
            (path.starts_with("/api/v1/")
                && !path.starts_with("/api/v1/push/")
                && !path.starts_with("/api/v1/client-errors"))
                || path.starts_with("/debug/pprof/"),
            "{method} {path}: security"
        );
        if secured {
            // Admin routes document their error answers with the one body.
            for code in ["401", "429"] {
                assert_eq!(
                    responses[code]["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/ErrorBody",
                    "{method} {path}: {code}"
                );
            }
            if ["post", "patch"].contains(&method.as_str()) {
                // JSON, or CSV for the subscribers' import.
                let content = &op["requestBody"]["content"];
                assert!(
                    content["application/json"].is_object()
                        || (path.ends_with("/import") && content["text/csv"].is_object()),
                    "{method} {path}: request body"
                );
                assert!(responses.contains_key("422"), "{method} {path}: 422");
            }
        }

        // The route exists: never the router's 404 or 405. An unknown id
        // gets the handler's own 404 (JSON, or a "not found" badge), not
        // the page's.
        let concrete = path
            .replace("{id}", "999999")
            .replace("{token}", "no-such-token")
            .replace("{slug}", "no-such-service")
            .replace("{window}", "30d");
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let mut request = admin
            .app
            .client
            .request(method.clone(), admin.app.url(&concrete));
        if secured {
            request = request.bearer_auth(&admin.token);
        }
        let answer = request.send().await.unwrap();
        let status = answer.status();
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        if status == StatusCode::NOT_FOUND {
            let svg = answer.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("image/svg+xml");
            let text = answer.text().await.unwrap();
            if svg {
                assert!(text.contains("not found"), "{method} {path}: {text}");
            } else {
                let body: Value = serde_json::from_str(&text).unwrap();
                let ours = body["error"]["code"] == "not_found" || body["isError"] == true;
                assert!(ours, "{method} {path}: {body}");
            }
        }
        assert!(!status.is_server_error(), "{method} {path}: {status}");
    }
    admin.app.stop().await;
}

#[tokio::test]
async fn sqlite_openapi_describes_every_route() {
    description(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_openapi_describes_every_route() {
    description(Backend::Postgres).await;
}
