//! Public JSON: ETag and 304, compression, CORS, incident pagination.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::admin::Admin;
use crate::helpers::Backend;

#[tokio::test]
async fn public_json_has_an_etag_answered_by_304_and_is_compressed() {
    let admin = Admin::start(Backend::Sqlite).await.unwrap();
    for path in [
        "/public/status",
        "/public/status/incidents",
        "/api/v2/summary.json",
    ] {
        let first = admin
            .app
            .client
            .get(admin.app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(first.status(), StatusCode::OK, "{path}");
        assert_eq!(
            first.headers()["access-control-allow-origin"],
            "*",
            "{path}"
        );
        let tag = first.headers()["etag"].to_str().unwrap().to_owned();
        let again = admin
            .app
            .client
            .get(admin.app.url(path))
            .header("if-none-match", &tag)
            .send()
            .await
            .unwrap();
        // The snapshot may have moved on between the two requests (a probe
        // landed); then the answer is a full 200 with a new tag.
        if again.headers()["etag"] == tag.as_str() {
            assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path}");
            assert!(again.bytes().await.unwrap().is_empty());
        } else {
            assert_eq!(again.status(), StatusCode::OK);
        }
        let compressed = admin
            .app
            .client
            .get(admin.app.url(path))
            .header("accept-encoding", "gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(compressed.headers()["content-encoding"], "gzip", "{path}");
    }
    admin.app.stop().await;
}

#[tokio::test]
async fn incidents_are_paginated_with_a_limit() {
    let admin = Admin::start(Backend::Sqlite).await.unwrap();
    for title in ["First", "Second", "Third"] {
        let (status, _) = admin
            .call(
                Method::POST,
                "/api/v1/incidents",
                Some(json!({"title": title, "body": "b"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let page = admin
        .app
        .get_json("/public/status/incidents?per_page=2")
        .await;
    assert_eq!(page["active"].as_array().unwrap().len(), 3);
    let titles: Vec<&str> = page["recent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Third", "Second"]);
    assert_eq!(page["total"], 3);
    assert_eq!(page["next_page"], 2);
    let last = admin
        .app
        .get_json("/public/status/incidents?per_page=2&page=2")
        .await;
    assert_eq!(last["recent"][0]["title"], "First");
    assert_eq!(last["next_page"], Value::Null);
    for (query, field) in [
        ("page=0", "page"),
        ("per_page=51", "per_page"),
        ("page=x", "query"),
    ] {
        let response = admin
            .app
            .client
            .get(admin.app.url(&format!("/public/status/incidents?{query}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["field"], field, "{query}");
    }
    admin.app.stop().await;
}
