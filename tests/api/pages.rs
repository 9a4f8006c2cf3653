//! The home page: what is stored, and a search over it.

use reqwest::StatusCode;

use crate::fixtures::device_batch;
use crate::helpers::{Backend, spawn_app};

#[tokio::test]
async fn the_home_page_lists_and_searches_models() {
    let app = spawn_app(Backend::Sqlite).await;
    let empty = app.get("/").await.text().await.expect("html");
    assert!(empty.contains("No models yet"), "{empty}");

    app.push_ok(device_batch()).await;
    let page = app.get("/").await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .expect("type")
            .starts_with("text/html")
    );
    let html = page.text().await.expect("html");
    assert!(html.contains("3 model versions stored"), "{html}");
    assert!(
        html.contains("dtmi:com:example:TemperatureController;1"),
        "{html}"
    );
    assert!(
        html.contains("href=\"/dtmi/com/example/thermostat-1.json\""),
        "{html}"
    );
    assert!(
        html.contains("Temperature Controller"),
        "language maps show their English text"
    );

    let found = app
        .get("/?q=device+information")
        .await
        .text()
        .await
        .expect("html");
    assert!(
        found.contains("dtmi:azure:DeviceManagement:DeviceInformation;1"),
        "{found}"
    );
    assert!(!found.contains("dtmi:com:example:Thermostat;1"), "{found}");
    let none = app
        .get("/?q=%3Cscript%3E")
        .await
        .text()
        .await
        .expect("html");
    assert!(
        none.contains("&lt;script&gt;") || none.contains("&#60;script&#62;"),
        "queries are escaped: {none}"
    );
    assert!(!none.contains("<script>"));

    let css = app.get("/static/site.css").await;
    assert_eq!(css.status(), StatusCode::OK);
    assert!(
        css.headers()["content-type"]
            .to_str()
            .expect("type")
            .starts_with("text/css")
    );
}
