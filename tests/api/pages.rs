//! The HTML pages: status, key content and escaping of hostile model text, on both backends.

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_TYPE, LOCATION};

use crate::fixtures::{THERMOSTAT, device_batch};
use crate::helpers::{ADMIN_TOKEN, Backend, TestApp, on_both_backends, spawn_app, spawn_on};

/// A model whose texts try to inject markup.
const HOSTILE: &str = r#"{
  "@context": "dtmi:dtdl:context;3",
  "@id": "dtmi:com:evil:Widget;1",
  "@type": "Interface",
  "displayName": "<img src=x onerror=alert(1)>",
  "description": "<script>alert('pwned')</script>",
  "contents": [
    { "@type": "Telemetry", "name": "level", "schema": "double", "description": "</td><script>x()</script>" }
  ]
}"#;

/// Version 2 of the thermostat: the target became read-only and a command appeared.
const THERMOSTAT_2: &str = r#"{
  "@context": "dtmi:dtdl:context;2",
  "@id": "dtmi:com:example:Thermostat;2",
  "@type": "Interface",
  "displayName": "Thermostat",
  "contents": [
    { "@type": ["Telemetry", "Temperature"], "name": "temperature", "schema": "double", "unit": "degreeCelsius" },
    { "@type": "Property", "name": "targetTemperature", "schema": "double" },
    { "@type": "Command", "name": "reboot" }
  ]
}"#;

async fn html(app: &TestApp, path: &str) -> (StatusCode, String) {
    html_as(app, path, false).await
}

/// GETs a page, as the admin when `admin` (bearer token) and anonymously otherwise.
async fn html_as(app: &TestApp, path: &str, admin: bool) -> (StatusCode, String) {
    let mut request = app.client.get(app.url(path)).header(ACCEPT, "text/html");
    if admin {
        request = request.bearer_auth(ADMIN_TOKEN);
    }
    let response = request.send().await.expect("GET page");
    let status = response.status();
    let content_type = response.headers()[CONTENT_TYPE]
        .to_str()
        .expect("type")
        .to_owned();
    assert!(
        content_type.starts_with("text/html"),
        "{path}: {content_type}"
    );
    (status, response.text().await.expect("html"))
}

async fn page_ok(app: &TestApp, path: &str) -> String {
    let (status, body) = html(app, path).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

fn assert_escaped(body: &str) {
    assert!(!body.contains("<script>alert"), "unescaped script: {body}");
    assert!(!body.contains("<img src=x"), "unescaped markup: {body}");
    assert!(!body.contains("</td><script>"), "unescaped markup: {body}");
}

/// A multipart form body: text fields and files.
fn multipart(fields: &[(&str, Option<&str>, &str)]) -> (String, String) {
    let boundary = "----twinhubtestboundary7d93";
    let mut body = String::new();
    for (name, filename, value) in fields {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\""
        ));
        if let Some(filename) = filename {
            body.push_str(&format!(
                "; filename=\"{filename}\"\r\nContent-Type: application/json"
            ));
        }
        body.push_str(&format!("\r\n\r\n{value}\r\n"));
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn post_publish(
    app: &TestApp,
    fields: &[(&str, Option<&str>, &str)],
    token: bool,
) -> reqwest::Response {
    let (content_type, body) = multipart(fields);
    let mut request = app
        .client
        .post(app.url("/publish"))
        .header(CONTENT_TYPE, content_type)
        .body(body);
    if token {
        request = request.bearer_auth(ADMIN_TOKEN);
    }
    request.send().await.expect("POST /publish")
}

on_both_backends! {
    async fn the_home_page_shows_recent_models_and_counts(backend: Backend) {
        let app = spawn_app(backend).await;
        let empty = page_ok(&app, "/").await;
        assert!(empty.contains("No models yet"), "{empty}");

        app.push_ok(device_batch()).await;
        let home = page_ok(&app, "/").await;
        assert!(home.contains("3 model versions stored"), "{home}");
        assert!(home.contains("Recently published"));
        assert!(home.contains(r#"href="/models/dtmi:com:example:TemperatureController%3B1""#), "{home}");
        assert!(home.contains("Temperature Controller"), "language maps show their English text");
        assert!(home.contains("dtmi:com:example</a> <span class=\"count\">2</span>"), "{home}");
        assert!(home.contains("DTDL v2</a> <span class=\"count\">3</span>"), "{home}");
        // The counts are cached until the next write, which must show at once.
        app.push_ok(crate::fixtures::interface("dtmi:com:example:Fourth;1")).await;
        let home = page_ok(&app, "/").await;
        assert!(home.contains("dtmi:com:example</a> <span class=\"count\">3</span>"), "{home}");
        let search = page_ok(&app, "/search").await;
        assert!(search.contains("1–4 of 4"), "{search}");

        let redirected = app.client.get(app.url("/?q=thermo")).send().await.expect("GET");
        assert_eq!(redirected.url().path(), "/search", "old home searches land on the search page");
    }
}

on_both_backends! {
    async fn search_filters_by_text_and_facets_and_escapes_queries(backend: Backend) {
        let app = spawn_app(backend).await;
        app.push_ok(device_batch()).await;
        app.push_ok(HOSTILE).await;

        let found = page_ok(&app, "/search?q=device+information").await;
        assert!(found.contains("dtmi:azure:DeviceManagement:DeviceInformation;1"), "{found}");
        assert!(!found.contains("dtmi:com:example:Thermostat;1"), "{found}");

        let commands = page_ok(&app, "/search?capability=Command").await;
        assert!(commands.contains("dtmi:com:example:TemperatureController;1"), "{commands}");
        assert!(!commands.contains("<code>dtmi:com:example:Thermostat;1</code>"), "{commands}");
        assert!(commands.contains("1–1 of 1"), "{commands}");

        let celsius = page_ok(&app, "/search?unit=degreeCelsius&semanticType=Temperature").await;
        assert!(celsius.contains("<code>dtmi:com:example:Thermostat;1</code>"), "{celsius}");
        assert!(celsius.contains("1–1 of 1"), "{celsius}");

        let component = page_ok(&app, "/search?component=dtmi%3Aazure%3ADeviceManagement%3ADeviceInformation%3B1").await;
        assert!(component.contains("dtmi:com:example:TemperatureController;1"), "{component}");

        let everything = page_ok(&app, "/search").await;
        for facet in ["Namespace", "DTDL version", "State", "Capability", "Semantic type", "Unit", "Component interface"] {
            assert!(everything.contains(&format!("<h2>{facet}</h2>")), "facet {facet}: {everything}");
        }
        assert!(everything.contains("DTDL v3"), "{everything}");
        assert_escaped(&everything);

        let hostile_query = page_ok(&app, "/search?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E").await;
        assert!(hostile_query.contains("&#60;script&#62;") || hostile_query.contains("&lt;script&gt;"), "{hostile_query}");
        assert_escaped(&hostile_query);

        let bad = page_ok(&app, "/search?state=retired&page=abc").await;
        assert!(bad.contains("unknown model state"), "{bad}");
    }
}

on_both_backends! {
    async fn the_namespace_browser_walks_the_tree(backend: Backend) {
        let app = spawn_app(backend).await;
        app.push_ok(device_batch()).await;
        let root = page_ok(&app, "/namespaces").await;
        assert!(root.contains(r#"href="/namespaces/dtmi:com""#), "{root}");
        assert!(root.contains(r#"href="/namespaces/dtmi:azure""#), "{root}");
        let com = page_ok(&app, "/namespaces/dtmi:com").await;
        assert!(com.contains(r#"href="/namespaces/dtmi:com:example""#), "{com}");
        assert!(com.contains("2 models"), "{com}");
        let example = page_ok(&app, "/namespaces/dtmi:com:example").await;
        assert!(example.contains("Models in this namespace (2)"), "{example}");
        assert!(example.contains("dtmi:com:example:Thermostat;1"), "{example}");
        let (status, missing) = html(&app, "/namespaces/dtmi:org:nobody").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(missing.contains("no model is stored under dtmi:org:nobody"), "{missing}");
    }
}

on_both_backends! {
    async fn the_model_page_shows_capabilities_graph_json_and_dependents(backend: Backend) {
        let app = spawn_app(backend).await;
        app.push_ok(device_batch()).await;
        let thermostat = page_ok(&app, "/models/dtmi:com:example:Thermostat%3B1").await;
        assert!(thermostat.contains("Reports the current temperature"), "{thermostat}");
        assert!(thermostat.contains("<h3>Telemetry"), "{thermostat}");
        assert!(thermostat.contains("unit: degreeCelsius"), "{thermostat}");
        assert!(thermostat.contains(r#"<span class="tag">Temperature</span>"#), "{thermostat}");
        assert!(thermostat.contains(r#"<span class="tag writable">writable</span>"#), "{thermostat}");
        assert!(thermostat.contains("Used by <span class=\"count\">1</span>"), "{thermostat}");
        assert!(thermostat.contains(r#"href="/dtmi/com/example/thermostat-1.json""#), "{thermostat}");
        assert!(thermostat.contains(r#"href="/dtmi/com/example/thermostat-1.expanded.json""#), "{thermostat}");
        assert!(thermostat.contains(r#"<span class="j-k">&#34;@id&#34;</span>"#) || thermostat.contains(r#"<span class="j-k">&quot;@id&quot;</span>"#), "highlighted JSON: {thermostat}");

        let controller = page_ok(&app, "/models/dtmi:com:example:TemperatureController%3B1").await;
        assert!(controller.contains("<h3>Components"), "{controller}");
        assert!(controller.contains(r#"Interface <a href="/models/dtmi:com:example:Thermostat%3B1">"#), "{controller}");
        assert!(controller.contains("<svg role=\"img\""), "{controller}");
        assert!(controller.matches("<rect ").count() == 3, "three boxes: {controller}");
        assert!(controller.contains("Expanded closure <span class=\"count\">2</span>"), "{controller}");

        app.push_ok(HOSTILE).await;
        let hostile = page_ok(&app, "/models/dtmi:com:evil:Widget%3B1").await;
        assert_escaped(&hostile);
        assert!(hostile.contains("alert("), "the text is shown, escaped: {hostile}");

        let (status, missing) = html(&app, "/models/dtmi:com:example:Nothing%3B1").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(missing.contains("no model dtmi:com:example:Nothing;1 is stored"), "{missing}");
        let (status, _) = html(&app, "/models/not-a-dtmi").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}

on_both_backends! {
    async fn inherited_contents_are_marked_with_their_interface(backend: Backend) {
        let app = spawn_app(backend).await;
        app.push_ok(THERMOSTAT).await;
        app.push_ok(r#"{"@context": "dtmi:dtdl:context;2", "@id": "dtmi:com:example:SmartThermostat;1", "@type": "Interface",
            "extends": "dtmi:com:example:Thermostat;1",
            "contents": [{"@type": "Property", "name": "schedule", "schema": "string"}]}"#).await;
        let page = page_ok(&app, "/models/dtmi:com:example:SmartThermostat%3B1").await;
        assert!(page.contains(r#"inherited from <a href="/models/dtmi:com:example:Thermostat%3B1">dtmi:com:example:Thermostat;1</a>"#), "{page}");
        assert_eq!(page.matches("inherited from").count(), 2, "temperature and targetTemperature: {page}");
    }
}

on_both_backends! {
    async fn the_diff_page_and_api_give_verdicts(backend: Backend) {
        let app = spawn_app(backend).await;
        app.push_ok(THERMOSTAT).await;
        app.push_ok(THERMOSTAT_2).await;
        let diff = app
            .get_json("/api/v1/models/dtmi:com:example:Thermostat%3B1/diff/dtmi:com:example:Thermostat%3B2")
            .await;
        assert_eq!(diff["verdict"], "breaking", "{diff}");
        assert_eq!(diff["added"][0]["path"], "reboot");
        assert_eq!(diff["added"][0]["verdict"], "breakingForDevices");
        let writable = diff["changed"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["path"] == "targetTemperature/writable"))
            .expect("writable change");
        assert_eq!(writable["verdict"], "breakingForSolutions");

        let page = page_ok(&app, "/models/dtmi:com:example:Thermostat%3B1/diff/dtmi:com:example:Thermostat%3B2").await;
        assert!(page.contains("breaks devices and solutions"), "{page}");
        assert!(page.contains("<code>targetTemperature/writable</code>"), "{page}");
        assert!(page.contains("became read-only"), "{page}");

        let picked = app
            .client
            .get(app.url("/diff?from=dtmi%3Acom%3Aexample%3AThermostat%3B1&to=dtmi%3Acom%3Aexample%3AThermostat%3B2"))
            .send()
            .await
            .expect("GET");
        assert_eq!(picked.url().path(), "/models/dtmi:com:example:Thermostat%3B1/diff/dtmi:com:example:Thermostat%3B2");

        let missing = app.get("/api/v1/models/dtmi:com:example:Thermostat%3B1/diff/dtmi:com:example:Thermostat%3B9").await;
        crate::helpers::problem(missing, StatusCode::NOT_FOUND).await;
        let (status, _) = html(&app, "/models/dtmi:com:example:Thermostat%3B1/diff/nonsense").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}

on_both_backends! {
    async fn publishing_from_the_page_previews_then_stores(backend: Backend) {
        let app = spawn_app(backend).await;
        app.push_ok(THERMOSTAT).await;

        let anonymous_preview = post_publish(&app, &[("content", None, THERMOSTAT_2), ("action", None, "preview")], false).await;
        assert_eq!(anonymous_preview.status(), StatusCode::UNAUTHORIZED, "previews need push rights");
        let (status, form) = html_as(&app, "/publish", true).await;
        assert_eq!(status, StatusCode::OK);
        assert!(form.contains(r#"enctype="multipart/form-data""#), "{form}");
        let to_login = app.client.get(app.url("/publish")).send().await.expect("GET");
        assert_eq!(to_login.url().path(), "/login", "anonymous visitors sign in first");

        let preview = post_publish(&app, &[("content", None, THERMOSTAT_2), ("action", None, "preview")], true).await;
        assert_eq!(preview.status(), StatusCode::OK);
        let body = preview.text().await.expect("html");
        assert!(body.contains("Compared with"), "{body}");
        assert!(body.contains("breaks devices and solutions"), "{body}");
        assert_eq!(app.model_count().await, 1, "a preview stores nothing");

        let invalid = "{\n  \"@context\": \"dtmi:dtdl:context;2\",\n  \"@id\": \"dtmi:com:example:Broken;1\",\n  \"@type\": \"Interface\",\n  \"contents\": [{\"@type\": \"Telemetry\", \"name\": \"bad name\", \"schema\": \"double\"}]\n}";
        let refused = post_publish(&app, &[("files", Some("broken.json"), invalid), ("action", None, "preview")], true).await;
        assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body = refused.text().await.expect("html");
        assert!(body.contains("<tr class=\"bad\"><td class=\"no\">5</td>"), "the issue sits on line 5: {body}");
        assert!(body.contains("broken.json"), "{body}");

        let not_json = post_publish(&app, &[("content", None, "{\"oops\": <script>"), ("action", None, "preview")], true).await;
        assert_eq!(not_json.status(), StatusCode::BAD_REQUEST);
        assert_escaped(&not_json.text().await.expect("html"));

        let anonymous = post_publish(&app, &[("content", None, THERMOSTAT_2), ("action", None, "publish")], false).await;
        assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
        assert!(anonymous.text().await.expect("html").contains("Sign-in required"));
        assert_eq!(app.model_count().await, 1);

        let no_redirects = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        let (content_type, body) = multipart(&[("content", None, THERMOSTAT_2), ("action", None, "publish")]);
        let published = no_redirects
            .post(app.url("/publish"))
            .bearer_auth(ADMIN_TOKEN)
            .header(CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await
            .expect("POST");
        assert_eq!(published.status(), StatusCode::SEE_OTHER);
        assert_eq!(published.headers()[LOCATION], "/models/dtmi:com:example:Thermostat%3B2?done=published");
        assert_eq!(app.model_count().await, 2);
        let landed = page_ok(&app, "/models/dtmi:com:example:Thermostat%3B2?done=published").await;
        assert!(landed.contains("class=\"flash\""), "{landed}");
        let unknown_flash = page_ok(&app, "/models/dtmi:com:example:Thermostat%3B2?done=%3Cscript%3E").await;
        assert!(!unknown_flash.contains("class=\"flash\""));
    }
}

on_both_backends! {
    async fn lifecycle_pages_confirm_with_dependents_and_apply(backend: Backend) {
        let app = spawn_app(backend).await;
        app.push_ok(device_batch()).await;
        let anonymous = app.client.get(app.url("/models/dtmi:com:example:Thermostat%3B1/lifecycle?action=delete")).send().await.expect("GET");
        assert_eq!(anonymous.url().path(), "/login", "anonymous visitors sign in first");
        let (_, confirm) = html_as(&app, "/models/dtmi:com:example:Thermostat%3B1/lifecycle?action=delete", true).await;
        assert!(confirm.contains("dtmi:com:example:TemperatureController;1"), "dependents listed: {confirm}");
        assert!(confirm.contains("cannot be deleted while 1 model(s) depend on it"), "{confirm}");
        assert!(!confirm.contains("Yes, delete it"));
        let (_, deprecate) = html_as(&app, "/models/dtmi:com:example:Thermostat%3B1/lifecycle?action=deprecate", true).await;
        assert!(deprecate.contains("Yes, deprecate it"), "{deprecate}");

        let form = |token: bool| {
            let mut request = app
                .client
                .post(app.url("/models/dtmi:com:example:Thermostat%3B1/lifecycle"))
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body("action=deprecate");
            if token {
                request = request.bearer_auth(ADMIN_TOKEN);
            }
            request.send()
        };
        assert_eq!(form(false).await.expect("POST").status(), StatusCode::UNAUTHORIZED);
        let done = form(true).await.expect("POST");
        assert_eq!(done.status(), StatusCode::OK, "followed the redirect");
        let body = done.text().await.expect("html");
        assert!(body.contains("The model is now deprecated."), "{body}");
        assert!(body.contains("state state-deprecated"), "{body}");
        let again = form(true).await.expect("POST");
        assert_eq!(again.status(), StatusCode::CONFLICT, "states only move forward");
    }
}

#[tokio::test]
async fn unknown_pages_are_friendly_for_browsers_and_problems_for_clients() {
    let app = spawn_app(Backend::Sqlite).await;
    let (status, body) = html(&app, "/no/such/page").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("<h1>Not found</h1>"), "{body}");
    assert!(body.contains("href=\"/search\""));
    crate::helpers::problem(app.get("/no/such/page").await, StatusCode::NOT_FOUND).await;
    let css = app.get("/static/site.css").await;
    assert!(
        css.headers()["content-type"]
            .to_str()
            .expect("type")
            .starts_with("text/css")
    );
    let js = app.get("/static/site.js").await;
    assert!(
        js.headers()["content-type"]
            .to_str()
            .expect("type")
            .starts_with("text/javascript")
    );
}

#[tokio::test]
async fn models_stored_before_facets_existed_get_them_at_start() {
    let app = spawn_app(Backend::Sqlite).await;
    app.push_ok(device_batch()).await;
    {
        use sqlx::Connection;
        let mut db = sqlx::SqliteConnection::connect(&app.database.url)
            .await
            .expect("open");
        sqlx::query("DELETE FROM model_facets")
            .execute(&mut db)
            .await
            .expect("clear");
        sqlx::query("UPDATE models SET facets_indexed = 0")
            .execute(&mut db)
            .await
            .expect("mark");
    }
    let empty = page_ok(&app, "/search?capability=Command").await;
    assert!(empty.contains("No model matches"), "{empty}");
    let restarted = spawn_on(app.database.clone(), |_| {}).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let page = page_ok(&restarted, "/search?capability=Command").await;
        if page.contains("dtmi:com:example:TemperatureController;1") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "facets were not backfilled: {page}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Posts a urlencoded form as the admin (bearer token, so no session and no CSRF token).
async fn post_form(app: &TestApp, path: &str, body: &str) -> reqwest::Response {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .post(app.url(path))
        .bearer_auth(ADMIN_TOKEN)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body.to_owned())
        .send()
        .await
        .expect("POST form")
}

on_both_backends! {
    async fn admin_pages_mint_tokens_set_visibility_and_grant_roles(backend: Backend) {
        let app = spawn_app(backend).await;
        app.push_ok(device_batch()).await;
        let anonymous = app.client.get(app.url("/admin")).send().await.expect("GET");
        assert_eq!(anonymous.url().path(), "/login");

        let (status, admin) = html_as(&app, "/admin", true).await;
        assert_eq!(status, StatusCode::OK, "{admin}");
        assert!(admin.contains("API tokens") && admin.contains("Users and roles"), "{admin}");

        // A token is shown once, on the answer to the form, and works.
        let created = post_form(&app, "/admin/tokens", "name=%3Cscript%3Eci%3C%2Fscript%3E&role=publisher&namespaces=dtmi%3Acom%3Aexample&expires_on=").await;
        assert_eq!(created.status(), StatusCode::CREATED);
        assert_eq!(created.headers()["cache-control"], "no-store");
        let body = created.text().await.expect("html");
        assert_escaped(&body);
        assert!(!body.contains("<script>ci"), "{body}");
        let secret = body
            .split("id=\"new-token\" class=\"token\" tabindex=\"0\">")
            .nth(1)
            .and_then(|rest| rest.split('<').next())
            .expect("the secret is on the page")
            .to_owned();
        let listed = app.client.get(app.url("/api/v1/tokens")).bearer_auth(&secret).send().await.expect("GET");
        assert_eq!(listed.status(), StatusCode::OK, "the minted token authenticates");
        let (_, again) = html_as(&app, "/admin", true).await;
        assert!(!again.contains(&secret), "the secret is shown only once");
        let bad_date = post_form(&app, "/admin/tokens", "name=x&role=reader&namespaces=dtmi%3Acom%3Aexample&expires_on=tomorrow").await;
        assert_eq!(bad_date.status(), StatusCode::BAD_REQUEST);
        assert!(bad_date.text().await.expect("html").contains("is not a date"));

        // A user, a grant, then a private namespace: anonymous visitors lose sight of it.
        let user = post_form(&app, "/admin/users", "name=bob&password=correct+horse+battery&role=reader&namespace=dtmi%3Acom%3Aexample").await;
        assert_eq!(user.status(), StatusCode::SEE_OTHER);
        assert_eq!(user.headers()[LOCATION], "/admin?done=user-created");
        let grant = post_form(&app, "/admin/grants", "user=bob&role=publisher&namespace=dtmi%3Aazure").await;
        assert_eq!(grant.headers()[LOCATION], "/admin?done=grant-added");
        let unknown = post_form(&app, "/admin/grants", "user=nobody&role=reader&namespace=dtmi%3Aazure").await;
        assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
        assert!(unknown.text().await.expect("html").contains("create the user first"));

        let private = post_form(&app, "/admin/namespaces", "prefix=dtmi%3Acom%3Aexample&visibility=private&owners=bob").await;
        assert_eq!(private.headers()[LOCATION], "/admin?done=namespace-saved");
        let (_, search) = html(&app, "/search").await;
        assert!(!search.contains("dtmi:com:example:Thermostat;1"), "private models are hidden: {search}");
        assert!(search.contains("dtmi:azure:DeviceManagement:DeviceInformation;1"), "{search}");
        let (status, _) = html(&app, "/models/dtmi:com:example:Thermostat%3B1").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "a private model's page is not found");
        let (status, _) = html(&app, "/namespaces/dtmi:com:example").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (_, as_admin) = html_as(&app, "/models/dtmi:com:example:Thermostat%3B1", true).await;
        assert!(as_admin.contains("Reports the current temperature"));

        let (_, listing) = html_as(&app, "/admin", true).await;
        assert!(listing.contains("<code>dtmi:com:example</code></td><td><span class=\"tag\">private</span></td><td>bob</td>"), "{listing}");
        let grant_id = listing
            .split("action=\"/admin/grants/")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .expect("a revoke form")
            .to_owned();
        let revoked = post_form(&app, &format!("/admin/grants/{grant_id}/revoke"), "").await;
        assert_eq!(revoked.headers()[LOCATION], "/admin?done=grant-revoked");

        let (status, audit) = html_as(&app, "/admin/audit?action=namespaces.set", true).await;
        assert_eq!(status, StatusCode::OK, "{audit}");
        assert!(audit.contains("dtmi:com:example"), "{audit}");
        let (status, _) = html_as(&app, "/admin/audit", false).await;
        assert_eq!(status, StatusCode::OK, "anonymous visitors land on the sign-in form");
    }
}
