//! The `twinhub` command run as a process against a real server: push (with local validation,
//! batches, reruns and every exit code), export byte-exact, import giving the same state as
//! push, validate and resolve; and the `twinhub-client` resolution client against our server
//! and against an exported static tree served over HTTP.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::{Value, json};
use twinhub_client::{DependencyResolution, RepositoryClient};

use crate::fixtures::{DEVICE_INFORMATION, TEMPERATURE_CONTROLLER, THERMOSTAT, interface};
use crate::helpers::{
    ADMIN_TOKEN, Backend, TestApp, TestDatabase, on_both_backends, spawn_app, spawn_on,
};

/// Runs the twinhub binary on a blocking thread (the server under test keeps serving).
async fn twinhub(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_twinhub"))
            .args(&args)
            .env_remove("TWINHUB_TOKEN")
            .env_remove("TWINHUB_URL")
            .env_remove("TWINHUB_DATABASE_URL")
            .output()
            .expect("run twinhub")
    })
    .await
    .expect("twinhub finished")
}

fn args(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|p| (*p).to_owned()).collect()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn sample_root() -> Option<PathBuf> {
    let root = std::env::var_os("TWINHUB_MODELS_SAMPLE")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/models-sample"));
    root.join("dtmi").is_dir().then_some(root)
}

/// Every file under `root`, by relative path.
fn tree(root: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, into: &mut Vec<(String, Vec<u8>)>) {
        for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, into);
            } else {
                let relative = path.strip_prefix(root).expect("under root");
                into.push((
                    relative.to_string_lossy().replace('\\', "/"),
                    std::fs::read(&path).expect("read file"),
                ));
            }
        }
    }
    let mut files = Vec::new();
    walk(root, root, &mut files);
    files.sort();
    files
}

/// The three device models in DMR layout, plus an array file holding two more.
fn device_folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let example = dir.path().join("dtmi/com/example");
    let azure = dir.path().join("dtmi/azure/devicemanagement");
    std::fs::create_dir_all(&example).expect("mkdir");
    std::fs::create_dir_all(&azure).expect("mkdir");
    std::fs::write(example.join("thermostat-1.json"), THERMOSTAT).expect("write");
    std::fs::write(
        example.join("temperaturecontroller-1.json"),
        TEMPERATURE_CONTROLLER,
    )
    .expect("write");
    std::fs::write(azure.join("deviceinformation-1.json"), DEVICE_INFORMATION).expect("write");
    std::fs::write(
        dir.path().join("bundle.json"),
        format!(
            "[\n  {},\n  {}\n]\n",
            interface("dtmi:com:example:Extra;1"),
            crate::fixtures::extending("dtmi:com:example:Child;1", "dtmi:com:example:Thermostat;1")
        ),
    )
    .expect("write");
    dir
}

fn push_args(app: &TestApp, more: &[&str]) -> Vec<String> {
    let mut all = args(&["push", "--repo", &app.address, "--token", ADMIN_TOKEN]);
    all.extend(args(more));
    all
}

on_both_backends! {
    async fn the_sample_is_pushed_rerun_without_changes_and_exported_byte_exact(backend: Backend) {
        let Some(root) = sample_root() else {
            eprintln!("NOTICE: ../shared/models-sample is absent: skipping the CLI sample test");
            return;
        };
        let app = spawn_app(backend).await;
        let sample = root.display().to_string();
        let first = twinhub(push_args(&app, &[&sample, "--batch-size", "300"])).await;
        assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
        let inputs: Vec<(String, Vec<u8>)> = tree(&root)
            .into_iter()
            .filter(|(path, _)| path.starts_with("dtmi/") && path.ends_with(".json"))
            .collect();
        let summary = text(&first.stdout);
        assert!(
            summary.contains(&format!("{} stored, 0 already stored identically", inputs.len())),
            "{summary}"
        );

        let again = twinhub(push_args(&app, &[&sample, "--format", "json"])).await;
        assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
        let report: Value = serde_json::from_slice(&again.stdout).expect("JSON summary");
        assert_eq!(report["status"], "ok");
        assert_eq!(report["created"].as_array().map(Vec::len), Some(0), "{report}");
        assert_eq!(report["unchanged"].as_array().map(Vec::len), Some(inputs.len()));

        let out = tempfile::tempdir().expect("temp dir");
        let from_server = out.path().join("from-server");
        let export = twinhub(args(&["export", &from_server.display().to_string(), "--repo", &app.address])).await;
        assert_eq!(export.status.code(), Some(0), "{}", text(&export.stderr));
        for (path, bytes) in &inputs {
            let exported = std::fs::read(from_server.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
            // A byte order mark is not part of the model (the server stores the text after it).
            let expected = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
            assert!(exported == expected, "{path} differs from the pushed file");
            let expanded = path.replace(".json", ".expanded.json");
            let closure: Vec<Value> = serde_json::from_slice(
                &std::fs::read(from_server.join(&expanded)).expect("expanded file"),
            )
            .expect("expanded JSON");
            let own: Value = serde_json::from_slice(expected).expect("model JSON");
            assert_eq!(closure.first(), Some(&own), "{expanded}: root first");
        }
        let metadata: Value = serde_json::from_slice(&std::fs::read(from_server.join("metadata.json")).expect("metadata")).expect("JSON");
        assert_eq!(metadata["totalModelCount"].as_u64(), Some(inputs.len() as u64));

        // The database export is the same tree the server serves.
        let from_database = out.path().join("from-database.zip");
        let export = twinhub(args(&["export", &from_database.display().to_string(), "--database-url", &app.database.url])).await;
        assert_eq!(export.status.code(), Some(0), "{}", text(&export.stderr));
        let unzipped = out.path().join("unzipped");
        let files = twinhub_zip_entries(&from_database);
        for (name, bytes) in &files {
            let target = unzipped.join(name);
            std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
            std::fs::write(target, bytes).expect("write");
        }
        assert_eq!(tree(&unzipped), tree(&from_server), "zip export from the database equals the HTTP export");
    }
}

fn twinhub_zip_entries(path: &Path) -> Vec<(String, Vec<u8>)> {
    use std::io::Read;
    let mut archive =
        zip::ZipArchive::new(std::fs::File::open(path).expect("open zip")).expect("zip");
    (0..archive.len())
        .map(|i| {
            let mut entry = archive.by_index(i).expect("entry");
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).expect("read entry");
            (entry.name().expect("name").into_owned(), bytes)
        })
        .collect()
}

#[tokio::test]
async fn push_exit_codes_tell_invalid_models_conflicts_credentials_and_network_apart() {
    let app = spawn_app(Backend::Sqlite).await;
    let dir = device_folder();
    let folder = dir.path().display().to_string();

    // 1: an invalid model, located as file:line:col, and nothing is sent.
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\n  \"@context\": \"dtmi:dtdl:context;2\",\n  \"@id\": \"dtmi:com:example:Bad;1\",\n  \"@type\": \"Interface\",\n  \"contents\": [{\"@type\": \"Telemetry\", \"name\": \"t\", \"schema\": \"notASchema\"}]\n}\n").expect("write");
    let output = twinhub(push_args(&app, &[&folder])).await;
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("bad.json:5:"), "{stderr}");
    assert_eq!(
        app.model_count().await,
        0,
        "nothing is pushed when a file is invalid"
    );

    let github = twinhub(push_args(&app, &[&folder, "--format", "github"])).await;
    assert_eq!(github.status.code(), Some(1));
    assert!(
        text(&github.stdout).contains("::error file=bad.json,line=5,col="),
        "{}",
        text(&github.stdout)
    );
    std::fs::remove_file(&bad).expect("remove");

    // A dry run validates and sends nothing.
    let dry = twinhub(push_args(&app, &[&folder, "--dry-run"])).await;
    assert_eq!(dry.status.code(), Some(0), "{}", text(&dry.stderr));
    assert!(
        text(&dry.stdout).contains("5 valid model(s)"),
        "{}",
        text(&dry.stdout)
    );
    assert_eq!(app.model_count().await, 0);

    // 3: credentials refused.
    let mut wrong_token = args(&[
        "push",
        "--repo",
        &app.address,
        "--token",
        "not-the-admin-token-at-all",
    ]);
    wrong_token.push(folder.clone());
    let output = twinhub(wrong_token).await;
    assert_eq!(output.status.code(), Some(3), "{}", text(&output.stderr));

    // 0: stored in dependency order across batches of one model each.
    let output = twinhub(push_args(&app, &[&folder, "--batch-size", "1"])).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).contains("5 stored, 0 already stored identically"),
        "{}",
        text(&output.stdout)
    );
    assert_eq!(app.model_count().await, 5);

    // 2: a stored DTMI with other content; the issue points into the array file's element.
    std::fs::write(
        dir.path().join("bundle.json"),
        format!(
            "[\n  {},\n  {}\n]\n",
            interface("dtmi:com:example:Extra;1"),
            interface("dtmi:com:example:Child;1")
        ),
    )
    .expect("write");
    let output = twinhub(push_args(&app, &[&folder, "--atomic", "--format", "json"])).await;
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    let report: Value = serde_json::from_slice(&output.stdout).expect("JSON summary");
    assert_eq!(report["status"], "conflict");
    let issue = &report["issues"][0];
    assert_eq!(issue["code"], "twinhub:contentChanged", "{report}");
    assert_eq!(issue["file"], "bundle.json", "{report}");
    assert_eq!(issue["pointer"], "/1/@id", "{report}");
    assert_eq!(issue["line"], 3, "{report}");

    // 4: nothing listens at the address.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", listener.local_addr().expect("address"))
    };
    let output = twinhub(args(&[
        "push",
        "--repo",
        &closed,
        "--token",
        ADMIN_TOKEN,
        &dir.path().join("dtmi").display().to_string(),
    ]))
    .await;
    assert_eq!(output.status.code(), Some(4), "{}", text(&output.stderr));

    // A wrong command line is neither of the documented outcomes.
    let output = twinhub(args(&["push", "--batch-size", "many", &folder])).await;
    assert_eq!(output.status.code(), Some(64));
}

/// What a repository holds, as its API and DMR tree show it.
async fn stored_state(app: &TestApp) -> Vec<Value> {
    let page = app.get_json("/api/v1/models?per_page=500").await;
    let mut state = Vec::new();
    for item in page["items"].as_array().expect("items") {
        let dtmi = item["dtmi"].as_str().expect("dtmi");
        let dependencies = app
            .get_json(&format!(
                "/api/v1/models/{}/dependencies",
                crate::helpers::encode(dtmi)
            ))
            .await;
        let parsed = dtdl::Dtmi::parse(dtmi).expect("dtmi");
        let file = app
            .get(&format!("/{}", parsed.to_dmr_path()))
            .await
            .text()
            .await
            .expect("file");
        let expanded = app
            .get(&format!("/{}", parsed.to_dmr_expanded_path()))
            .await
            .text()
            .await
            .expect("expanded");
        state.push(serde_json::json!({
            "dtmi": dtmi,
            "sha256": item["sha256"],
            "dtdlVersion": item["dtdlVersion"],
            "displayName": item["displayName"],
            "description": item["description"],
            "state": item["state"],
            "dependencies": dependencies["items"].as_array().expect("items").iter().map(|d| d["dtmi"].clone()).collect::<Vec<_>>(),
            "file": file,
            "expanded": expanded,
        }));
    }
    state
}

on_both_backends! {
    async fn an_import_stores_the_same_state_as_a_push_of_the_same_folder(backend: Backend) {
        let dir = device_folder();
        let folder = dir.path().display().to_string();
        let pushed = spawn_app(backend).await;
        let output = twinhub(push_args(&pushed, &[&folder])).await;
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));

        let database = std::sync::Arc::new(TestDatabase::create(backend).await);
        let output = twinhub(args(&["import", &folder, "--database-url", &database.url, "--pushed-by", "admin"])).await;
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
        assert!(text(&output.stdout).contains("5 stored, 0 already stored identically"), "{}", text(&output.stdout));
        // Importing again changes nothing.
        let output = twinhub(args(&["import", &folder, "--database-url", &database.url])).await;
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
        assert!(text(&output.stdout).contains("0 stored, 5 already stored identically"), "{}", text(&output.stdout));
        let imported = spawn_on(database, |_| {}).await;

        let (pushed_state, imported_state) = (stored_state(&pushed).await, stored_state(&imported).await);
        assert_eq!(pushed_state.len(), 5);
        assert_eq!(imported_state, pushed_state);

        // An invalid folder imports nothing and says where the problem is.
        std::fs::write(dir.path().join("broken.json"), "{\n  \"@id\": \"dtmi:com:example:Broken;1\",\n  oops\n}").expect("write");
        let other = TestDatabase::create(backend).await;
        let output = twinhub(args(&["import", &folder, "--database-url", &other.url])).await;
        assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
        assert!(text(&output.stderr).contains("broken.json:3:3"), "{}", text(&output.stderr));
    }
}

#[tokio::test]
async fn validate_resolves_references_from_folders_and_applies_the_strict_rules() {
    let deps = device_folder();
    let work = tempfile::tempdir().expect("temp dir");
    let controller = work.path().join("controller.json");
    std::fs::write(&controller, TEMPERATURE_CONTROLLER).expect("write");
    let path = controller.display().to_string();

    let output = twinhub(args(&["validate", &path])).await;
    assert_eq!(
        output.status.code(),
        Some(1),
        "its components are nowhere to be found"
    );
    assert!(
        text(&output.stderr).contains("dtmi:com:example:Thermostat;1"),
        "{}",
        text(&output.stderr)
    );

    let dtmi_folder = deps.path().display().to_string();
    let output = twinhub(args(&["validate", &path, "--deps", &dtmi_folder])).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("1 model(s) in 1 file(s) are valid"));

    let output = twinhub(args(&[
        "validate",
        &path,
        "--deps",
        &dtmi_folder,
        "--strict",
    ]))
    .await;
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("must be at dtmi/com/example/temperaturecontroller-1.json"),
        "{}",
        text(&output.stderr)
    );

    let output = twinhub(args(&[
        "validate",
        &dtmi_folder,
        "--strict",
        "--format",
        "json",
    ]))
    .await;
    assert_eq!(output.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&output.stdout).expect("JSON summary");
    assert_eq!(
        report["issues"][0]["code"], "twinhub:notSingleRoot",
        "{report}"
    );
    assert_eq!(report["issues"][0]["file"], "bundle.json");

    let v3 = work.path().join("v3.json");
    std::fs::write(&v3, r#"{"@context": "dtmi:dtdl:context;3", "@id": "dtmi:com:example:V3;1", "@type": "Interface"}"#).expect("write");
    let output = twinhub(args(&[
        "validate",
        &v3.display().to_string(),
        "--max-dtdl-version",
        "2",
    ]))
    .await;
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
}

/// Serves the files under `root` over HTTP, as any static file server would.
async fn serve_folder(root: PathBuf) -> String {
    use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
    async fn file(request: HttpRequest, root: web::Data<PathBuf>) -> HttpResponse {
        let path = request.path().trim_start_matches('/');
        if path.split('/').any(|part| part == "..") {
            return HttpResponse::BadRequest().finish();
        }
        match std::fs::read(root.join(path)) {
            Ok(bytes) => HttpResponse::Ok()
                .content_type("application/json")
                .body(bytes),
            Err(_) => HttpResponse::NotFound().finish(),
        }
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = format!("http://{}", listener.local_addr().expect("address"));
    let root = web::Data::new(root);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(root.clone())
            .default_service(web::to(file))
    })
    .workers(1)
    .listen(listener)
    .expect("listen")
    .run();
    tokio::spawn(server);
    address
}

/// What the client returns for `dtmi` in `mode`: the requested DTMI first, then the others
/// sorted (their order depends on whether an expanded file or a walk supplied them).
async fn resolved(
    client: &RepositoryClient,
    dtmi: &str,
    mode: DependencyResolution,
) -> Vec<String> {
    let mut dtmis: Vec<String> = client
        .get_models(&[dtmi], mode)
        .await
        .unwrap_or_else(|e| panic!("{dtmi} in {mode:?}: {e}"))
        .into_iter()
        .map(|m| m.dtmi)
        .collect();
    assert_eq!(
        dtmis.first().map(String::as_str),
        Some(dtmi),
        "requested model first"
    );
    dtmis[1..].sort();
    dtmis
}

on_both_backends! {
    async fn the_client_resolves_from_the_server_and_from_an_exported_static_tree(backend: Backend) {
        let app = spawn_app(backend).await;
        let dir = device_folder();
        let output = twinhub(push_args(&app, &[&dir.path().display().to_string()])).await;
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
        let out = tempfile::tempdir().expect("temp dir");
        let static_root = out.path().join("static");
        let output = twinhub(args(&["export", &static_root.display().to_string(), "--repo", &app.address])).await;
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
        let static_url = serve_folder(static_root.clone()).await;

        let controller = "dtmi:com:example:TemperatureController;1";
        let closure = [controller, "dtmi:azure:DeviceManagement:DeviceInformation;1", "dtmi:com:example:Thermostat;1"];
        for location in [app.address.clone(), static_url.clone(), static_root.display().to_string()] {
            let client = RepositoryClient::new(&location).expect("client");
            for mode in [DependencyResolution::Enabled, DependencyResolution::TryFromExpanded] {
                assert_eq!(resolved(&client, controller, mode).await, closure, "{location} {mode:?}");
            }
            assert_eq!(resolved(&client, controller, DependencyResolution::Disabled).await, [controller]);
            let models = client.get_models(&["dtmi:com:example:Thermostat;1"], DependencyResolution::Disabled).await.expect("thermostat");
            assert_eq!(&*models[0].content, THERMOSTAT, "{location}: byte-exact");
            let missing = client.get_models(&["dtmi:com:example:Missing;1"], DependencyResolution::Enabled).await;
            assert!(matches!(missing, Err(twinhub_client::ClientError::NotFound { .. })), "{location}: {missing:?}");
            let casing = client.get_models(&["dtmi:com:example:thermostat;1"], DependencyResolution::Disabled).await;
            assert!(matches!(casing, Err(twinhub_client::ClientError::WrongCasing { .. })), "{location}: {casing:?}");
            let index = client.index().await.expect("index");
            assert_eq!(index.len(), 5, "{location}");
            assert!(client.metadata().await.expect("metadata").is_some_and(|m| m.expanded));
        }

        // The resolve command against the static tree writes the closure in DMR layout.
        let resolved_dir = out.path().join("resolved");
        let output = twinhub(args(&["resolve", controller, "--repo", &static_url, "--output", &resolved_dir.display().to_string()])).await;
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
        assert_eq!(
            std::fs::read_to_string(resolved_dir.join("dtmi/com/example/thermostat-1.json")).expect("written"),
            THERMOSTAT
        );
        let output = twinhub(args(&["resolve", "dtmi:com:example:Missing;1", "--repo", &static_url])).await;
        assert_eq!(output.status.code(), Some(1));
        let output = twinhub(args(&["resolve", controller, "--repo", &app.address, "--deps", "disabled"])).await;
        let printed: Vec<Value> = serde_json::from_slice(&output.stdout).expect("JSON array");
        assert_eq!(printed.len(), 1);
    }
}

on_both_backends! {
    async fn the_device_commands_manage_the_registry_through_the_api(backend: Backend) {
        let app = spawn_app(backend).await;
        let repo = ["--repo", app.address.as_str(), "--token", ADMIN_TOKEN];
        let with = |parts: &[&str]| {
            let mut all = vec!["device"];
            all.extend_from_slice(&repo);
            all.extend_from_slice(parts);
            args(&all)
        };
        let created = twinhub(with(&["create", "cli-thermostat"])).await;
        assert!(created.status.success(), "{}", text(&created.stderr));
        let device: Value = serde_json::from_slice(&created.stdout).expect("JSON");
        let primary = device["authentication"]["symmetricKey"]["primaryKey"].as_str().expect("key").to_owned();
        let secondary = device["authentication"]["symmetricKey"]["secondaryKey"].as_str().expect("key").to_owned();
        let again = twinhub(with(&["create", "cli-thermostat"])).await;
        assert_eq!(again.status.code(), Some(2), "a conflict: {}", text(&again.stderr));
        let camera = twinhub(with(&["create", "cli-camera", "--auth", "self-signed", "--thumbprint", &"CD".repeat(20)])).await;
        assert!(camera.status.success(), "{}", text(&camera.stderr));

        let listed = twinhub(with(&["list"])).await;
        assert!(listed.status.success(), "{}", text(&listed.stderr));
        assert_eq!(text(&listed.stdout), "cli-camera\tenabled\tdisconnected\ncli-thermostat\tenabled\tdisconnected\n");

        let shown = twinhub(with(&["show", "cli-thermostat"])).await;
        let shown: Value = serde_json::from_slice(&shown.stdout).expect("JSON");
        assert_eq!(shown["deviceId"], "cli-thermostat");

        let string = twinhub(with(&["connection-string", "cli-thermostat"])).await;
        assert_eq!(text(&string.stdout).trim(), format!("HostName=localhost;DeviceId=cli-thermostat;SharedAccessKey={primary}"));
        let second = twinhub(with(&["connection-string", "cli-thermostat", "--secondary"])).await;
        assert_eq!(text(&second.stdout).trim(), format!("HostName=localhost;DeviceId=cli-thermostat;SharedAccessKey={secondary}"));

        let deleted = twinhub(with(&["delete", "cli-thermostat"])).await;
        assert!(deleted.status.success(), "{}", text(&deleted.stderr));
        let gone = twinhub(with(&["show", "cli-thermostat"])).await;
        assert_eq!(gone.status.code(), Some(1), "not found: {}", text(&gone.stderr));
        let anonymous = twinhub(args(&["device", "--repo", app.address.as_str(), "list"])).await;
        assert_eq!(anonymous.status.code(), Some(3), "{}", text(&anonymous.stderr));
    }
}

on_both_backends! {
    async fn the_route_commands_store_list_test_and_delete_routes_through_the_api(backend: Backend) {
        let app = spawn_app(backend).await;
        let repo = ["--repo", app.address.as_str(), "--token", ADMIN_TOKEN];
        let with = |parts: &[&str]| {
            let mut all = vec!["hub"];
            all.extend_from_slice(&repo);
            all.push("route");
            all.extend_from_slice(parts);
            args(&all)
        };
        let put = twinhub(with(&[
            "put", "hot", "--source", "telemetry", "--condition", "$body.temperature > 30",
            "--endpoint", "builtin", "--enrich", "site=$twin.tags.site", "--enrich", "tier=gold",
        ])).await;
        assert!(put.status.success(), "{}", text(&put.stderr));
        let stored: Value = serde_json::from_slice(&put.stdout).expect("JSON");
        assert_eq!(stored["condition"], "$body.temperature > 30");
        assert_eq!(stored["stored"], true);
        let quiet = twinhub(with(&["put", "quiet", "--source", "device-lifecycle-events", "--endpoint", "builtin", "--disabled"])).await;
        assert!(quiet.status.success(), "{}", text(&quiet.stderr));

        let listed = twinhub(with(&["list"])).await;
        assert!(listed.status.success(), "{}", text(&listed.stderr));
        assert_eq!(
            text(&listed.stdout),
            "hot\tTelemetry\tenabled\tstored\tbuiltin\t$body.temperature > 30\n\
             quiet\tdeviceLifecycleEvents\tdisabled\tstored\tbuiltin\ttrue\n\
             (fallback)\t\t\t\tbuiltin\n"
        );
        let as_json = twinhub(with(&["list", "--json"])).await;
        let as_json: Value = serde_json::from_slice(&as_json.stdout).expect("JSON");
        assert_eq!(as_json["items"][1]["name"], "quiet");
        let shown = twinhub(with(&["show", "hot"])).await;
        let shown: Value = serde_json::from_slice(&shown.stdout).expect("JSON");
        assert_eq!(shown["enrichments"]["tier"], "gold", "{shown}");
        let missing = twinhub(with(&["show", "absent"])).await;
        assert_eq!(missing.status.code(), Some(1), "{}", text(&missing.stderr));

        let folder = tempfile::tempdir().expect("temp dir");
        let message = folder.path().join("hot.json");
        std::fs::write(&message, r#"{"body": {"temperature": 31}, "twin": {"tags": {"site": "berlin"}}}"#).expect("write");
        let message = message.to_str().expect("UTF-8 path");
        let tested = twinhub(with(&["test", "hot", "--message", message])).await;
        assert!(tested.status.success(), "{}", text(&tested.stderr));
        assert_eq!(text(&tested.stdout), "matched\ncondition value: true\nenrichment site=berlin\nenrichment tier=gold\n");
        let by_condition = twinhub(with(&["test", "--condition", "$body.temperature > 40", "--message", message, "--json"])).await;
        assert!(by_condition.status.success(), "{}", text(&by_condition.stderr));
        let answer: Value = serde_json::from_slice(&by_condition.stdout).expect("JSON");
        assert_eq!((answer["matched"].clone(), answer["value"].clone()), (json!(false), json!(false)), "{answer}");
        let other_source = twinhub(with(&["test", "--condition", "true", "--source", "twin-change-events", "--message", message])).await;
        assert_eq!(text(&other_source.stdout), "matched\ncondition value: true\n", "an event of the condition's source");
        let bad = twinhub(with(&["test", "--condition", "$body.temperature >", "--message", message])).await;
        assert_eq!(bad.status.code(), Some(1));
        assert!(text(&bad.stderr).contains("line 1, column"), "{}", text(&bad.stderr));
        let unreadable = twinhub(with(&["test", "hot", "--message", "/nonexistent/message.json"])).await;
        assert_eq!(unreadable.status.code(), Some(1), "{}", text(&unreadable.stderr));
        let both = twinhub(with(&["test", "hot", "--condition", "true", "--message", message])).await;
        assert_eq!(both.status.code(), Some(64), "a route or a condition, not both");

        let deleted = twinhub(with(&["delete", "hot"])).await;
        assert_eq!(text(&deleted.stdout), "deleted hot\n");
        let again = twinhub(with(&["delete", "hot"])).await;
        assert_eq!(again.status.code(), Some(1), "{}", text(&again.stderr));
        let anonymous = twinhub(args(&["hub", "--repo", app.address.as_str(), "route", "put", "x", "--endpoint", "builtin"])).await;
        assert_eq!(anonymous.status.code(), Some(3), "{}", text(&anonymous.stderr));
    }
}
