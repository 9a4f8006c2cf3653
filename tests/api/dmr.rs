//! The DMR contract: byte-exact files, expanded closures, metadata, index paging, caching
//! headers, conditional requests, compression, CORS and case-insensitive paths.

use reqwest::StatusCode;
use serde_json::Value;

use crate::fixtures::{DEVICE_INFORMATION, THERMOSTAT, device_batch, interface};
use crate::helpers::{Backend, on_both_backends, problem, spawn_app, spawn_app_with};

on_both_backends! {
    async fn model_files_are_served_byte_exact_with_caching_headers(backend: Backend) {
        let app = spawn_app(backend).await;
        app.push_ok(THERMOSTAT).await;

        let response = app.get("/dtmi/com/example/thermostat-1.json").await;
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers().clone();
        assert_eq!(headers["content-type"], "application/json");
        assert_eq!(headers["cache-control"], "public, max-age=31536000, immutable");
        let etag = headers["etag"].to_str().expect("etag").to_owned();
        assert!(etag.starts_with('"') && etag.len() == 66, "strong sha-256 etag: {etag}");
        assert_eq!(response.bytes().await.expect("body").as_ref(), THERMOSTAT.as_bytes());

        let not_modified = app
            .client
            .get(app.url("/dtmi/com/example/thermostat-1.json"))
            .header("If-None-Match", &etag)
            .send()
            .await
            .expect("request");
        assert_eq!(not_modified.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(not_modified.headers()["etag"], etag.as_str());
    }
}

on_both_backends! {
    async fn paths_are_matched_case_insensitively_and_keep_the_original_casing(backend: Backend) {
        let app = spawn_app(backend).await;
        app.push_ok(DEVICE_INFORMATION).await;
        for path in [
            "/dtmi/azure/devicemanagement/deviceinformation-1.json",
            "/dtmi/Azure/DeviceManagement/DeviceInformation-1.json",
        ] {
            let body: Value = app.get_json(path).await;
            assert_eq!(body["@id"], "dtmi:azure:DeviceManagement:DeviceInformation;1");
        }
    }
}

on_both_backends! {
    async fn expanded_files_list_the_root_first_then_each_dependency_once(backend: Backend) {
        let app = spawn_app(backend).await;
        app.push_ok(device_batch()).await;
        let response = app.get("/dtmi/com/example/temperaturecontroller-1.expanded.json").await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["cache-control"], "public, max-age=31536000, immutable");
        let expanded: Vec<Value> = response.json().await.expect("array");
        let ids: Vec<&str> = expanded.iter().filter_map(|m| m["@id"].as_str()).collect();
        assert_eq!(
            ids,
            [
                "dtmi:com:example:TemperatureController;1",
                "dtmi:azure:DeviceManagement:DeviceInformation;1",
                "dtmi:com:example:Thermostat;1",
            ]
        );
        let thermostat: Value = serde_json::from_str(THERMOSTAT).expect("fixture");
        assert_eq!(expanded[2], thermostat);

        let leaf: Vec<Value> = app.get_json("/dtmi/com/example/thermostat-1.expanded.json").await.as_array().cloned().expect("array");
        assert_eq!(leaf.len(), 1);
    }
}

on_both_backends! {
    async fn head_requests_answer_headers_without_a_body(backend: Backend) {
        let app = spawn_app(backend).await;
        app.push_ok(THERMOSTAT).await;
        let response = app.client.head(app.url("/dtmi/com/example/thermostat-1.json")).send().await.expect("HEAD");
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers().contains_key("etag"));
        assert!(response.bytes().await.expect("body").is_empty());
        let missing = app.client.head(app.url("/dtmi/com/example/nothing-1.json")).send().await.expect("HEAD");
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    }
}

on_both_backends! {
    async fn metadata_and_index_describe_the_repository_without_dangling_pages(backend: Backend) {
        let app = spawn_app_with(backend, |s| s.index_page_size = 2).await;
        let empty = app.get_json("/metadata.json").await;
        assert_eq!(empty["totalModelCount"], 0);
        assert_eq!(empty["features"]["expanded"], true);
        assert_eq!(empty["features"]["index"], true);
        assert_eq!(app.get_json("/index.json").await["links"], serde_json::json!({"self": "index.json"}));

        app.push_ok(device_batch()).await;
        app.push_ok(interface("dtmi:com:example:Fourth;1")).await;
        let metadata = app.get_json("/metadata.json").await;
        assert_eq!(metadata["totalModelCount"], 4);
        assert_eq!(metadata["sourceRepo"], "twinhub");
        assert!(metadata["commitId"].as_str().is_some_and(|c| !c.is_empty()));
        assert!(metadata["publishDateUtc"].as_str().is_some_and(|d| d.ends_with("+00:00")));

        let first = app.get_json("/index.json").await;
        assert_eq!(first["version"], "1.0");
        assert_eq!(first["links"], serde_json::json!({"next": "index.page.1.json", "self": "index.json"}));
        assert_eq!(first["models"].as_object().map(|m| m.len()), Some(2));
        let second = app.get_json("/index.page.1.json").await;
        // Four models in pages of two: page 1 is the last, so it links back but not forward.
        assert_eq!(second["links"], serde_json::json!({"prev": "index.json", "self": "index.page.1.json"}));
        let names: Vec<&String> = first["models"].as_object().into_iter().chain(second["models"].as_object()).flat_map(|m| m.keys()).collect();
        assert!(names.contains(&&"dtmi:com:example:TemperatureController;1".to_owned()), "{names:?}");
        assert_eq!(
            second["models"]["dtmi:com:example:Fourth;1"],
            serde_json::json!({"displayName": "Model dtmi:com:example:Fourth;1"})
        );
        problem(app.get("/index.page.2.json").await, StatusCode::NOT_FOUND).await;
        problem(app.get("/index.page.0.json").await, StatusCode::NOT_FOUND).await;
        let cache = app.get("/index.json").await.headers()["cache-control"].to_str().expect("header").to_owned();
        assert_eq!(cache, "public, max-age=60");
    }
}

on_both_backends! {
    async fn compressed_bodies_are_served_when_accepted(backend: Backend) {
        let app = spawn_app(backend).await;
        app.push_ok(THERMOSTAT).await;
        for (accept, encoding) in [("gzip", "gzip"), ("br, gzip", "br")] {
            let response = app
                .client
                .get(app.url("/dtmi/com/example/thermostat-1.json"))
                .header("Accept-Encoding", accept)
                .send()
                .await
                .expect("request");
            assert_eq!(response.headers()["content-encoding"], encoding);
            let vary = response.headers()["vary"].to_str().expect("vary").to_owned();
            assert!(vary.contains("Accept-Encoding"), "{vary}");
            let compressed = response.bytes().await.expect("body");
            let plain = match encoding {
                "gzip" => {
                    use std::io::Read;
                    let mut out = Vec::new();
                    flate2::read::GzDecoder::new(compressed.as_ref()).read_to_end(&mut out).expect("gunzip");
                    out
                }
                _ => {
                    let mut out = Vec::new();
                    brotli::BrotliDecompress(&mut compressed.as_ref(), &mut out).expect("unbrotli");
                    out
                }
            };
            assert_eq!(plain, THERMOSTAT.as_bytes());
        }
    }
}

#[tokio::test]
async fn browsers_may_read_the_tree_from_other_origins() {
    let app = spawn_app(Backend::Sqlite).await;
    app.push_ok(THERMOSTAT).await;
    let response = app
        .client
        .get(app.url("/dtmi/com/example/thermostat-1.json"))
        .header("Origin", "https://tools.example")
        .send()
        .await
        .expect("request");
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "https://tools.example"
    );
    let preflight = app
        .client
        .request(
            reqwest::Method::OPTIONS,
            app.url("/dtmi/com/example/thermostat-1.json"),
        )
        .header("Origin", "https://tools.example")
        .header("Access-Control-Request-Method", "GET")
        .send()
        .await
        .expect("preflight");
    assert!(preflight.status().is_success(), "{}", preflight.status());
}

#[tokio::test]
async fn unknown_and_malformed_paths_are_not_found() {
    let app = spawn_app(Backend::Sqlite).await;
    app.push_ok(THERMOSTAT).await;
    for path in [
        "/dtmi/com/example/unknown-1.json",
        "/dtmi/com/example/thermostat-1",
        "/dtmi/com/example/thermostat-01.json",
        "/dtmi/com/example/thermostat;1.json",
        "/dtmi/com/example/../thermostat-1.json",
        "/dtmi/com/example/%2e%2e/%2e%2e/etc/passwd",
        "/dtmi/..%2f..%2fetc%2fpasswd",
        "/dtmi/",
        "/dtmi/com//example/thermostat-1.json",
        "/dtmi/com/example/thermostat-1.json.json",
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let post = app
        .client
        .post(app.url("/dtmi/com/example/thermostat-1.json"))
        .body("{}")
        .send()
        .await
        .expect("POST");
    problem(post, StatusCode::METHOD_NOT_ALLOWED).await;
}
