//! The unmodified Python `azure-iot-device` 2.14.0 (from PyPI, in a venv under `target/`,
//! installed on first use) runs an IoT Plug and Play temperature controller
//! (`tests/python/pnp_device.py`) against an in-process hub, each test on its own
//! `127.42.N.k:8883` (the SDK hard-codes the port) with that IP in the server certificate.
//! Without `python3` the tests print a notice and skip, except in CI (`CI` set).
//!
//! This checks the hub crate alone; the root package's real-client test runs the same SDK
//! against the `twinhub` binary.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, ChildStdout, Command};
use tokio::sync::oneshot;
use twinhub_hub::{
    Authentication, EventSink, EventSinkError, EventSource, Hub, HubConfig, HubEvent, IdentityKey,
    IdentityStatus, KeyChoice, MemoryHubStore, NoModels, OutgoingC2d, TwinUpdate, devca, tls,
};

const MODEL_ID: &str = "dtmi:com:example:TemperatureController;2";
const SDK: &str = "azure-iot-device==2.14.0";
/// Guards against hangs only; the SAS-renewal flow alone takes about 15 s.
const HANG_GUARD: Duration = Duration::from_secs(120);

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The venv's python, creating the venv and installing the SDK on first use; `None` (after a
/// notice) when python3 is missing outside CI.
fn python() -> Option<PathBuf> {
    static SETUP: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = SETUP
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let venv = workspace().join("target/hub-sdk-venv");
    let python = venv.join("bin/python");
    let stamp = venv.join(".installed");
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s == SDK) {
        return Some(python);
    }
    let found = std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "python3 is missing: install Python 3 with venv"
        );
        eprintln!("NOTICE: skipping the Python SDK test: python3 is missing");
        return None;
    }
    let run = |command: &mut std::process::Command, what: &str| {
        let status = command.status().unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(status.success(), "{what} failed: {status}");
    };
    if !python.exists() {
        run(
            std::process::Command::new("python3")
                .args(["-m", "venv"])
                .arg(&venv),
            "python3 -m venv target/hub-sdk-venv",
        );
    }
    run(
        std::process::Command::new(&python).args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "-q",
            SDK,
        ]),
        "pip install azure-iot-device",
    );
    std::fs::write(&stamp, SDK).expect("stamp");
    Some(python)
}

/// Records events; hands out the Nth `deviceConnected` of an identity.
#[derive(Default)]
struct Events {
    all: std::sync::Mutex<Vec<HubEvent>>,
    notify: tokio::sync::Notify,
}

#[async_trait::async_trait]
impl EventSink for Events {
    async fn publish(&self, event: HubEvent) -> Result<(), EventSinkError> {
        self.all.lock().expect("lock").push(event);
        self.notify.notify_waiters();
        Ok(())
    }
}

impl Events {
    async fn wait(&self, predicate: impl Fn(&[HubEvent]) -> bool) {
        loop {
            let notified = self.notify.notified();
            if predicate(&self.all.lock().expect("lock")) {
                return;
            }
            notified.await;
        }
    }

    fn connections(events: &[HubEvent], key: &IdentityKey) -> usize {
        events
            .iter()
            .filter(|e| &e.key == key && e.op_type.as_deref() == Some("deviceConnected"))
            .count()
    }
}

struct Setup {
    hub: Hub,
    ip: String,
    dir: tempfile::TempDir,
    ca: PathBuf,
    events: Arc<Events>,
    _stop: oneshot::Sender<()>,
}

async fn start(n: u8) -> Setup {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // The SDK only dials port 8883, so each test needs its own address; another run of these
    // tests (another worktree) may hold one, so take the first free 127.42.N.k.
    let mut bound = None;
    for k in 1..=250_u8 {
        let ip = format!("127.42.{n}.{k}");
        match tokio::net::TcpListener::bind(format!("{ip}:8883")).await {
            Ok(listener) => {
                bound = Some((ip, listener));
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => continue,
            Err(e) => panic!("bind {ip}:8883: {e}"),
        }
    }
    let (ip, listener) = bound.expect("a free 127.42.N.k:8883");
    let dir = tempfile::tempdir().expect("tempdir");
    let files = devca::write_dev_ca(dir.path(), &["localhost".to_owned(), ip.clone()]).expect("ca");
    let ca_pem = std::fs::read(&files.ca_cert).expect("ca");
    let config = HubConfig {
        host_names: vec!["localhost".to_owned()],
        device_ca_roots: tls::parse_certificates(&ca_pem, "ca").expect("roots"),
        ..HubConfig::default()
    };
    let events = Arc::new(Events::default());
    let hub = Hub::new(Arc::new(MemoryHubStore::new()), Arc::new(NoModels), config)
        .with_events(events.clone());
    let server = tls::server_config_from_files(&files.server_cert, &files.server_key).expect("tls");
    let (stop, stopped) = oneshot::channel::<()>();
    let serving = hub.clone();
    tokio::spawn(async move {
        serving
            .serve_mqtt(listener, server, async {
                let _ = stopped.await;
            })
            .await
    });
    Setup {
        hub,
        ip,
        ca: files.ca_cert.clone(),
        dir,
        events,
        _stop: stop,
    }
}

/// A running device script and its JSON-lines output.
struct Script {
    child: Child,
    lines: tokio::io::Lines<BufReader<ChildStdout>>,
}

impl Script {
    fn spawn(python: &Path, mode: &str, ca: &Path, credentials: &[&str]) -> Script {
        let mut child = Command::new(python)
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/pnp_device.py"))
            .arg(mode)
            .arg(ca)
            .args(credentials)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn the device script");
        let stdout = child.stdout.take().expect("stdout");
        Script {
            child,
            lines: BufReader::new(stdout).lines(),
        }
    }

    /// The next event the script prints named `name` (earlier ones are skipped).
    async fn expect(&mut self, name: &str) -> Value {
        loop {
            let line = tokio::time::timeout(HANG_GUARD, self.lines.next_line())
                .await
                .unwrap_or_else(|_| panic!("no {name:?} from the device script"))
                .expect("read")
                .unwrap_or_else(|| panic!("the device script ended before {name:?}"));
            let Ok(event) = serde_json::from_str::<Value>(&line) else {
                eprintln!("device script: {line}");
                continue;
            };
            if event["event"] == name {
                return event;
            }
            assert_ne!(event["event"], "incomplete", "{event}");
        }
    }

    async fn finish(mut self) {
        self.expect("done").await;
        let status = tokio::time::timeout(HANG_GUARD, self.child.wait())
            .await
            .expect("the device script to exit")
            .expect("wait");
        assert!(status.success(), "device script: {status}");
    }
}

async fn desired(hub: &Hub, key: &IdentityKey, target: f64) -> u64 {
    let update = TwinUpdate {
        desired: Some(json!({"thermostat1": {"__t": "c", "targetTemperature": target}})),
        ..TwinUpdate::default()
    };
    let record = hub
        .update_twin(key, update, None, true)
        .await
        .expect("desired");
    record.twin.desired_version()
}

async fn command(hub: &Hub, key: &IdentityKey) {
    let response = hub
        .invoke_command(
            key,
            Some("thermostat1"),
            "getMaxMinReport",
            json!("2024-01-01T00:00:00Z"),
            Duration::from_secs(30),
            true,
        )
        .await
        .expect("the device answers");
    assert_eq!(response.status, 200);
    assert_eq!(response.payload, json!({"maxTemp": 30.1, "minTemp": 20.0}));
}

fn connection_string(setup: &Setup, identity: &twinhub_hub::Identity) -> String {
    let base = setup
        .hub
        .connection_string(identity, KeyChoice::Primary)
        .expect("connection string");
    format!("{base};GatewayHostName={}", setup.ip)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_sdk_runs_a_pnp_device_against_the_hub() {
    let Some(python) = python() else { return };
    let setup = start(1).await;
    let key = IdentityKey::device("thermostat-py").expect("id");
    let identity = setup
        .hub
        .create_identity(key.clone(), None, IdentityStatus::Enabled)
        .await
        .expect("create");
    let mut script = Script::spawn(
        &python,
        "sas",
        &setup.ca,
        &[&connection_string(&setup, &identity)],
    );

    let twin = script.expect("twin").await;
    assert_eq!(twin["twin"]["desired"]["$version"], 1, "{twin}");
    script.expect("ready").await;
    assert_eq!(
        setup.hub.twin(&key).await.expect("twin").twin.model_id(),
        Some(MODEL_ID)
    );

    let version = desired(&setup.hub, &key, 25.0).await;
    let acknowledged = script.expect("acknowledged").await;
    assert_eq!(acknowledged["version"], version);
    command(&setup.hub, &key).await;
    let c2d = OutgoingC2d {
        body: b"hello device".to_vec(),
        properties: vec![("color".into(), Some("red".into()))],
        message_id: Some("c2d-1".into()),
        ..OutgoingC2d::default()
    };
    setup.hub.send_c2d(&key, c2d).await.expect("c2d");
    let received = script.expect("c2d").await;
    assert_eq!(received["data"], "hello device");
    assert_eq!(received["message_id"], "c2d-1");
    assert_eq!(received["properties"], json!({"color": "red"}));
    script.finish().await;

    let twin = setup.hub.twin(&key).await.expect("twin");
    let ack = &twin.twin.reported()["thermostat1"]["targetTemperature"];
    assert_eq!(ack["ac"], 200);
    assert_eq!(ack["av"], version);
    assert_eq!(
        twin.twin.reported()["thermostat1"]["maxTempSinceLastReboot"],
        30.1
    );
    let events = setup.events.all.lock().expect("lock").clone();
    let telemetry = events
        .iter()
        .find(|e| e.source == EventSource::Telemetry)
        .expect("telemetry event");
    assert_eq!(telemetry.component.as_deref(), Some("thermostat1"));
    assert_eq!(telemetry.content_type.as_deref(), Some("application/json"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn desired_updates_and_commands_still_arrive_after_the_sdk_renews_its_token() {
    let Some(python) = python() else { return };
    let setup = start(2).await;
    let key = IdentityKey::device("renewing-py").expect("id");
    let identity = setup
        .hub
        .create_identity(key.clone(), None, IdentityStatus::Enabled)
        .await
        .expect("create");
    let mut script = Script::spawn(
        &python,
        "renewal",
        &setup.ca,
        &[&connection_string(&setup, &identity)],
    );
    script.expect("ready").await;
    desired(&setup.hub, &key, 21.0).await;
    script.expect("acknowledged").await;
    command(&setup.hub, &key).await;

    // The SDK renews 120 s before expiry: with a 130 s token, after about 10 s it sends
    // DISCONNECT and connects again with a new token, without subscribing again.
    tokio::time::timeout(
        HANG_GUARD,
        setup.events.wait(|all| Events::connections(all, &key) >= 2),
    )
    .await
    .expect("the SDK reconnects with a renewed token");
    tokio::time::timeout(HANG_GUARD, async {
        while !setup.hub.is_connected(&key) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("connected again");
    let version = desired(&setup.hub, &key, 23.0).await;
    let acknowledged = script.expect("acknowledged").await;
    assert_eq!(acknowledged["version"], version);
    command(&setup.hub, &key).await;
    script.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x509_devices_and_modules_connect_with_the_python_sdk() {
    let Some(python) = python() else { return };
    let setup = start(3).await;

    let cert = devca::self_signed_device_certificate("thermostat-x509").expect("cert");
    let cert_file = setup.dir.path().join("device.pem");
    let key_file = setup.dir.path().join("device.key");
    std::fs::write(&cert_file, &cert.cert_pem).expect("write");
    std::fs::write(&key_file, &cert.key_pem).expect("write");
    let chain = tls::parse_certificates(cert.cert_pem.as_bytes(), "cert").expect("pem");
    let thumbprint = tls::ClientCertificate::from_chain(&chain)
        .expect("cert")
        .sha256;
    let x509 = IdentityKey::device("thermostat-x509").expect("id");
    let auth = Authentication::SelfSigned {
        primary_thumbprint: thumbprint,
        secondary_thumbprint: None,
    };
    setup
        .hub
        .create_identity(x509.clone(), Some(auth), IdentityStatus::Enabled)
        .await
        .expect("create");
    let args = [
        "localhost",
        setup.ip.as_str(),
        "thermostat-x509",
        cert_file.to_str().expect("utf-8"),
        key_file.to_str().expect("utf-8"),
    ];
    Script::spawn(&python, "x509", &setup.ca, &args)
        .finish()
        .await;
    let twin = setup.hub.twin(&x509).await.expect("twin");
    assert_eq!(twin.twin.reported()["serialNumber"], "SN-x509");
    assert_eq!(twin.twin.model_id(), Some(MODEL_ID));

    setup
        .hub
        .create_identity(
            IdentityKey::device("edge-py").expect("id"),
            None,
            IdentityStatus::Enabled,
        )
        .await
        .expect("device");
    let module_key = IdentityKey::module("edge-py", "filter").expect("id");
    let module = setup
        .hub
        .create_identity(module_key.clone(), None, IdentityStatus::Enabled)
        .await
        .expect("module");
    Script::spawn(
        &python,
        "module",
        &setup.ca,
        &[&connection_string(&setup, &module)],
    )
    .finish()
    .await;
    let twin = setup.hub.twin(&module_key).await.expect("module twin");
    assert_eq!(twin.twin.reported()["serialNumber"], "SN-module");
    let events = setup.events.all.lock().expect("lock").clone();
    assert!(
        events
            .iter()
            .any(|e| e.source == EventSource::Telemetry && e.key == module_key),
        "module telemetry"
    );
}
