//! End-to-end routing benchmark through the real binary (issue 12, "Measure"): devices over
//! MQTT/TLS → `twinhub serve` → routing (database outbox) → JetStream or a webhook. The
//! library-level numbers (`crates/routing/examples/throughput.rs`) leave out the MQTT/TLS
//! link, the SAS check and the outbox commit before each PUBACK; this measures all of it.
//!
//! ```text
//! cargo build --release --bin twinhub
//! cargo run --release --example routing_bench -- jetstream|webhook|builtin|stall \
//!     [--devices 100] [--messages-per-device 200] [--stall-secs 60] [--inflight 1] \
//!     [--binary target/release/twinhub] [--postgres postgres://user@host/db]
//! ```
//!
//! It builds nothing: it spawns `twinhub serve` from `--binary` with a fresh SQLite file in a
//! temp dir (or, with `--postgres URL`, a uniquely named database it creates there and drops
//! at the end), the hub on 127.0.0.90:8883, the HTTP API on a free port and a `[routing]`
//! configuration for the mode. It registers the devices over the API and connects each with
//! rumqttc over TLS 1.2 (SAS token, trusting the development CA). Every device publishes QoS 1
//! telemetry whose body carries its send time (`sent_us`, µs since the epoch; the bench and
//! the server share the clock), with at most `--inflight` messages awaiting PUBACK.
//!
//! - `jetstream`: one route to a NATS endpoint (127.0.0.1:4222) on a uniquely named stream,
//!   deleted at the end; an ordered consumer in the bench reads every message.
//! - `webhook`: one route to a webhook served by the bench (actix-web, answers 200).
//! - `builtin`: no routes, so telemetry takes the default fallback to the built-in endpoint
//!   (the database); the bench polls the endpoint's delivered count and at the end reads each
//!   device's newest stored message back over the API.
//! - `stall`: even devices are routed to a webhook that holds every request for
//!   `--stall-secs`, odd devices to the built-in endpoint; meanwhile twinhub's RSS is sampled
//!   every second and a twin is read over the API. Then the devices stop, the webhook lets go,
//!   and every message acknowledged to an even device must arrive.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actix_web::{App, HttpResponse, HttpServer, web};
use futures_util::StreamExt;
use rumqttc::{
    AsyncClient, Event, EventLoop, MqttOptions, Outgoing, Packet, QoS, TlsConfiguration, Transport,
};
use serde_json::{Value, json};
use sqlx::Connection;
use tokio::sync::{Semaphore, oneshot};
use twinhub_hub::{IdentityKey, sas, tls};

const TOKEN: &str = "routing-bench-admin-token-0123456789";
const NATS_URL: &str = "nats://127.0.0.1:4222";
/// A loopback address of the bench's own, so the fixed MQTT port never meets another server.
const HUB_IP: [u8; 4] = [127, 0, 0, 90];
const HUB_PORT: u16 = 8883;
/// How long anything may take before the bench gives up on it and reports what it has.
const PATIENCE: Duration = Duration::from_secs(300);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Jetstream,
    Webhook,
    Builtin,
    Stall,
}

struct Args {
    mode: Mode,
    devices: usize,
    messages_per_device: u64,
    stall_secs: u64,
    inflight: usize,
    binary: PathBuf,
    postgres: Option<String>,
}

const USAGE: &str = "usage: routing_bench jetstream|webhook|builtin|stall [--devices 100] \
    [--messages-per-device 200] [--stall-secs 60] [--inflight 1] [--binary PATH] \
    [--postgres URL]";

fn args() -> Result<Args, String> {
    let mut argv = std::env::args().skip(1);
    let mode = match argv.next().as_deref() {
        Some("jetstream") => Mode::Jetstream,
        Some("webhook") => Mode::Webhook,
        Some("builtin") => Mode::Builtin,
        Some("stall") => Mode::Stall,
        other => return Err(format!("unknown mode {other:?}")),
    };
    let mut a = Args {
        mode,
        devices: 100,
        messages_per_device: 200,
        stall_secs: 60,
        inflight: 1,
        // The workspace's release build, wherever the bench is started from.
        binary: Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/twinhub"),
        postgres: None,
    };
    while let Some(flag) = argv.next() {
        let value = argv.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = || {
            value
                .parse::<u64>()
                .map_err(|_| format!("{flag} needs a number, not {value:?}"))
        };
        match flag.as_str() {
            "--devices" => a.devices = usize::try_from(number()?).map_err(|e| e.to_string())?,
            "--messages-per-device" => a.messages_per_device = number()?,
            "--stall-secs" => a.stall_secs = number()?,
            "--inflight" => a.inflight = usize::try_from(number()?).map_err(|e| e.to_string())?,
            "--binary" => a.binary = PathBuf::from(value),
            "--postgres" => a.postgres = Some(value),
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    if a.devices == 0 || a.inflight == 0 || a.inflight > usize::from(u16::MAX) {
        return Err(
            "--devices and --inflight must be at least 1 (--inflight at most 65535)".into(),
        );
    }
    Ok(a)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// One message: its device's index in the high half, its sequence number in the low half.
fn message_key(device: u64, n: u64) -> u64 {
    (device << 32) | n
}

/// In `stall` mode, even devices are routed to the webhook, odd ones to the built-in endpoint.
fn to_hook(index: usize) -> bool {
    index.is_multiple_of(2)
}

fn device_id(index: usize) -> String {
    format!("bench-{index:03}")
}

/// Runs a future to completion on a runtime of its own on another thread: cleanup in `Drop`,
/// which runs outside async code (and also when the bench panics).
fn block_on_aside<F, T>(future: F) -> Option<T>
where
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()
            .map(|rt| rt.block_on(future))
    })
    .join()
    .ok()
    .flatten()
}

// ---------------------------------------------------------------------------------------
// What the receivers saw, what the devices got acknowledged, and the numbers from both.

/// Every copy a receiver (JetStream consumer or webhook) got.
#[derive(Default)]
struct Arrivals {
    latencies_us: Mutex<Vec<u64>>,
    keys: Mutex<HashSet<u64>>,
    copies: AtomicU64,
}

impl Arrivals {
    /// Records a message body as the devices wrote it: `{"d", "n", "sent_us", …}`.
    fn record(&self, body: &Value) {
        let (Some(d), Some(n), Some(sent)) = (
            body["d"].as_u64(),
            body["n"].as_u64(),
            body["sent_us"].as_u64(),
        ) else {
            eprintln!("a message without the bench's fields: {body}");
            return;
        };
        lock(&self.latencies_us).push(now_us().saturating_sub(sent));
        lock(&self.keys).insert(message_key(d, n));
        self.copies.fetch_add(1, Ordering::Relaxed);
    }

    fn distinct(&self) -> usize {
        lock(&self.keys).len()
    }
}

/// The PUBACKs the devices received.
#[derive(Default)]
struct Acks {
    keys: Mutex<HashSet<u64>>,
    latencies_us: Mutex<Vec<u64>>,
    last: Mutex<Option<Instant>>,
    /// Connections lost while the bench was running.
    errors: AtomicU64,
}

impl Acks {
    fn record(&self, key: u64, since: Instant) {
        let now = Instant::now();
        lock(&self.latencies_us).push((now - since).as_micros() as u64);
        lock(&self.keys).insert(key);
        *lock(&self.last) = Some(now);
    }

    fn count(&self) -> usize {
        lock(&self.keys).len()
    }
}

/// p50 / p99 / max of µs samples, in ms.
fn spread(samples: &Mutex<Vec<u64>>) -> String {
    let mut sorted = lock(samples).clone();
    if sorted.is_empty() {
        return "no samples".into();
    }
    sorted.sort_unstable();
    let at = |p: f64| sorted[((sorted.len() - 1) as f64 * p).round() as usize] as f64 / 1000.0;
    format!(
        "p50 {:.1} ms   p99 {:.1} ms   max {:.1} ms",
        at(0.50),
        at(0.99),
        at(1.0)
    )
}

/// The results, one labelled line each.
struct Table(Vec<(String, String)>);

impl Table {
    fn row(&mut self, label: &str, value: impl Into<String>) {
        self.0.push((label.to_owned(), value.into()));
    }

    fn print(&self) {
        let width = self.0.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
        println!();
        for (label, value) in &self.0 {
            println!("  {label:<width$}  {value}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// The server: its database, its process, its memory.

/// The database of one run: a SQLite file in the temp dir, or a PostgreSQL database made for
/// the run and dropped after it (also when the bench panics).
struct Database {
    url: String,
    postgres: Option<(String, String)>,
}

impl Database {
    async fn create(dir: &Path, postgres: Option<&str>) -> Database {
        let Some(admin_url) = postgres else {
            return Database {
                url: format!("sqlite://{}", dir.join("twinhub.db").display()),
                postgres: None,
            };
        };
        let name = format!("twinhub_bench_{}", uuid::Uuid::new_v4().simple());
        let mut connection = sqlx::PgConnection::connect(admin_url)
            .await
            .expect("connect to the --postgres server");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut connection)
            .await
            .expect("create the bench database");
        let base = admin_url
            .rsplit_once('/')
            .map(|(base, _)| base)
            .expect("--postgres URL ends with /DATABASE");
        Database {
            url: format!("{base}/{name}"),
            postgres: Some((admin_url.to_owned(), name)),
        }
    }

    fn backend(&self) -> &'static str {
        if self.postgres.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.postgres.take() else {
            return;
        };
        let dropped = block_on_aside(async move {
            let mut connection = sqlx::PgConnection::connect(&admin_url).await?;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut connection)
            .await
            .map(|_| ())
        });
        if !matches!(dropped, Some(Ok(()))) {
            eprintln!("could not drop the bench database: {dropped:?}");
        }
    }
}

/// The JetStream stream of a run, deleted however the run ends.
struct StreamGuard {
    js: async_nats::jetstream::Context,
    name: String,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        let (js, name) = (self.js.clone(), self.name.clone());
        let deleted = block_on_aside(async move { js.delete_stream(&name).await.map(|_| ()) });
        if !matches!(deleted, Some(Ok(()))) {
            eprintln!("could not delete the bench stream {}", self.name);
        }
    }
}

/// `twinhub serve`, killed when dropped.
struct Server {
    child: Child,
    http: String,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    async fn start(binary: &Path, config: &Path, http: SocketAddr, log: PathBuf) -> Server {
        let log_file = std::fs::File::create(&log).expect("create the server log");
        let child = Command::new(binary)
            .args(["serve", "--config"])
            .arg(config)
            .env("TWINHUB_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e} (build it first)", binary.display()));
        let mut server = Server {
            child,
            http: format!("http://{http}"),
            log,
        };
        // Poll readiness; a server that exits early is reported with its log.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = reqwest::get(format!("{}/readyz", server.http)).await
                && r.status().is_success()
            {
                return server;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!(
                    "twinhub exited ({status}) before it was ready; see {}",
                    server.log.display()
                );
            }
            assert!(Instant::now() < deadline, "twinhub was not ready in 60 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn rss_kib(&self) -> u64 {
        rss_kib(self.child.id())
    }
}

/// A process's resident memory (VmRSS in /proc), in KiB; 0 once it is gone.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn free_port(ip: [u8; 4]) -> u16 {
    let listener = std::net::TcpListener::bind(SocketAddr::from((ip, 0))).expect("a free port");
    listener.local_addr().expect("local address").port()
}

/// The `[routing]` part of the configuration for each mode.
fn routing_toml(mode: Mode, stream: &str, prefix: &str, hook: &str) -> String {
    match mode {
        Mode::Jetstream => format!(
            r#"[[routing.endpoints]]
name = "stream"
kind = "nats"
url = "{NATS_URL}"
stream = "{stream}"
subject_prefix = "{prefix}"

[[routing.routes]]
name = "all"
source = "Telemetry"
endpoints = ["stream"]
"#
        ),
        Mode::Webhook => format!(
            r#"[[routing.endpoints]]
name = "hook"
kind = "webhook"
url = "{hook}"
secret = "routing-bench-secret"

[[routing.routes]]
name = "all"
source = "Telemetry"
endpoints = ["hook"]
"#
        ),
        // No routes: the default fallback keeps telemetry in the built-in endpoint.
        Mode::Builtin => String::new(),
        // Enough attempts that nothing is dead-lettered while the webhook holds on (each
        // attempt waits for twinhub's 10 s request timeout); a short first backoff so the
        // copies go out soon after it lets go.
        Mode::Stall => format!(
            r#"[[routing.endpoints]]
name = "hook"
kind = "webhook"
url = "{hook}"
secret = "routing-bench-secret"
max_attempts = 1000
initial_backoff_ms = 100

[[routing.routes]]
name = "to-hook"
source = "Telemetry"
condition = "to = 'hook'"
endpoints = ["hook"]

[[routing.routes]]
name = "to-store"
source = "Telemetry"
condition = "to = 'builtin'"
endpoints = ["builtin"]
"#
        ),
    }
}

// ---------------------------------------------------------------------------------------
// Receivers.

/// A webhook answering 200 to every CloudEvent, after holding it while `stalled` is set.
fn webhook(
    arrivals: Arc<Arrivals>,
    stalled: Arc<AtomicBool>,
) -> (String, actix_web::dev::ServerHandle) {
    let server = HttpServer::new(move || {
        let (arrivals, stalled) = (arrivals.clone(), stalled.clone());
        App::new().default_service(web::to(move |body: web::Bytes| {
            let (arrivals, stalled) = (arrivals.clone(), stalled.clone());
            async move {
                while stalled.load(Ordering::Relaxed) {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                match serde_json::from_slice::<Value>(&body) {
                    Ok(event) => arrivals.record(&event["data"]),
                    Err(e) => eprintln!("the webhook got something that is not JSON: {e}"),
                }
                HttpResponse::Ok().finish()
            }
        }))
    })
    .workers(2)
    .bind("127.0.0.1:0")
    .expect("bind the webhook");
    let address = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    (format!("http://{address}/events"), handle)
}

/// Reads the whole stream with an ordered consumer, from its first message.
async fn consume(js: &async_nats::jetstream::Context, stream: &str, arrivals: Arc<Arrivals>) {
    use async_nats::jetstream::consumer::{DeliverPolicy, pull::OrderedConfig};
    let mut messages = js
        .get_stream(stream)
        .await
        .expect("twinhub created the stream at start")
        .create_consumer(OrderedConfig {
            deliver_policy: DeliverPolicy::All,
            ..OrderedConfig::default()
        })
        .await
        .expect("an ordered consumer")
        .messages()
        .await
        .expect("the consumer's messages");
    tokio::spawn(async move {
        while let Some(message) = messages.next().await {
            match message {
                Ok(m) => match serde_json::from_slice::<Value>(&m.payload) {
                    Ok(body) => arrivals.record(&body),
                    Err(e) => eprintln!("a JetStream message that is not JSON: {e}"),
                },
                Err(e) => eprintln!("JetStream consumer: {e}"),
            }
        }
    });
}

// ---------------------------------------------------------------------------------------
// Devices.

struct Device {
    index: usize,
    topic: String,
    client: AsyncClient,
    /// Permits for messages not yet acknowledged; the driver returns one per PUBACK.
    window: Arc<Semaphore>,
    /// (sequence number, send time) of publishes handed to rumqttc but not yet written out.
    pending: Arc<Mutex<VecDeque<(u64, Instant)>>>,
    driver: tokio::task::JoinHandle<()>,
}

/// Registers a device over the API and returns its primary key.
async fn register(http: &reqwest::Client, api: &str, id: &str) -> String {
    let created: Value = http
        .post(format!("{api}/api/v1/devices"))
        .bearer_auth(TOKEN)
        .json(&json!({ "deviceId": id }))
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .unwrap_or_else(|e| panic!("register {id}: {e}"))
        .json()
        .await
        .expect("the created device");
    created["authentication"]["symmetricKey"]["primaryKey"]
        .as_str()
        .expect("a symmetric key")
        .to_owned()
}

/// MQTT over TLS 1.2 trusting the development CA, SAS user name and token: what the Azure
/// device SDK sends.
fn mqtt_options(id: &str, sas_key: &str, ca_pem: &[u8], inflight: usize) -> MqttOptions {
    let host = std::net::Ipv4Addr::from(HUB_IP).to_string();
    let key = IdentityKey::device(id).expect("a valid device id");
    let expiry = u64::try_from(chrono::Utc::now().timestamp()).expect("after 1970") + 3600;
    let token = sas::identity_token(&host, &key, sas_key, expiry).expect("a SAS token");
    let config = tls::device_client_config(ca_pem).expect("the development CA");
    let mut options = MqttOptions::new(id, host.clone(), HUB_PORT);
    options.set_credentials(format!("{host}/{id}/?api-version=2020-09-30"), token);
    options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
        Arc::new(config),
    )));
    options.set_inflight(u16::try_from(inflight).unwrap_or(u16::MAX));
    options
}

/// Connects a device and waits for its CONNACK.
async fn connect(
    index: usize,
    sas_key: &str,
    ca_pem: &[u8],
    args: &Args,
    acks: Arc<Acks>,
) -> Device {
    let id = device_id(index);
    let (client, eventloop) = AsyncClient::new(
        mqtt_options(&id, sas_key, ca_pem, args.inflight),
        args.inflight + 4,
    );
    let window = Arc::new(Semaphore::new(args.inflight));
    let pending = Arc::new(Mutex::new(VecDeque::new()));
    let (connected, ready) = oneshot::channel();
    let driver = tokio::spawn(drive(
        eventloop,
        index as u64,
        connected,
        window.clone(),
        pending.clone(),
        acks,
    ));
    match tokio::time::timeout(Duration::from_secs(60), ready).await {
        Ok(Ok(Ok(()))) => {}
        other => panic!("{id} did not connect: {other:?}"),
    }
    // Stall mode routes by an application property; the others send none.
    let to = match args.mode {
        Mode::Stall if to_hook(index) => "to=hook&",
        Mode::Stall => "to=builtin&",
        _ => "",
    };
    Device {
        index,
        topic: format!("devices/{id}/messages/events/{to}$.ct=application%2Fjson&$.ce=utf-8"),
        client,
        window,
        pending,
        driver,
    }
}

/// Polls a device's event loop: reports the CONNACK, matches each PUBACK to its publish.
async fn drive(
    mut eventloop: EventLoop,
    device: u64,
    connected: oneshot::Sender<Result<(), String>>,
    window: Arc<Semaphore>,
    pending: Arc<Mutex<VecDeque<(u64, Instant)>>>,
    acks: Arc<Acks>,
) {
    let mut connected = Some(connected);
    let mut sent: HashMap<u16, (u64, Instant)> = HashMap::new();
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                if let Some(tx) = connected.take() {
                    let result = if ack.code == rumqttc::ConnectReturnCode::Success {
                        Ok(())
                    } else {
                        Err(format!("{:?}", ack.code))
                    };
                    let _ = tx.send(result);
                }
            }
            // rumqttc writes publishes in the order they were handed over.
            Ok(Event::Outgoing(Outgoing::Publish(pkid))) => {
                if let Some(p) = lock(&pending).pop_front() {
                    sent.insert(pkid, p);
                }
            }
            Ok(Event::Incoming(Packet::PubAck(ack))) => {
                if let Some((n, at)) = sent.remove(&ack.pkid) {
                    acks.record(message_key(device, n), at);
                    window.add_permits(1);
                }
            }
            Ok(_) => {}
            Err(e) => {
                match connected.take() {
                    Some(tx) => {
                        let _ = tx.send(Err(e.to_string()));
                    }
                    None => {
                        eprintln!("{} lost its connection: {e}", device_id(device as usize));
                        acks.errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                return;
            }
        }
    }
}

/// Publishes `count` messages (or until `stop`), keeping at most the window unacknowledged;
/// returns how many were handed to rumqttc.
async fn publish(
    index: usize,
    topic: String,
    client: AsyncClient,
    window: Arc<Semaphore>,
    pending: Arc<Mutex<VecDeque<(u64, Instant)>>>,
    count: Option<u64>,
    stop: Arc<AtomicBool>,
) -> u64 {
    let mut n = 0;
    while count.is_none_or(|c| n < c) && !stop.load(Ordering::Relaxed) {
        // A device the hub holds back waits here; look at `stop` now and then.
        let permit = match tokio::time::timeout(Duration::from_millis(200), window.acquire()).await
        {
            Ok(Ok(permit)) => permit,
            Ok(Err(_)) => break,
            Err(_) => continue,
        };
        permit.forget();
        lock(&pending).push_back((n, Instant::now()));
        let body = json!({"d": index, "n": n, "sent_us": now_us(), "temperature": 21.5});
        if client
            .publish(&topic, QoS::AtLeastOnce, false, body.to_string())
            .await
            .is_err()
        {
            break;
        }
        n += 1;
    }
    n
}

fn start_publishing(
    devices: &[Device],
    only: impl Fn(usize) -> bool,
    count: Option<u64>,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<u64>> {
    devices
        .iter()
        .filter(|d| only(d.index))
        .map(|d| {
            tokio::spawn(publish(
                d.index,
                d.topic.clone(),
                d.client.clone(),
                d.window.clone(),
                d.pending.clone(),
                count,
                stop.clone(),
            ))
        })
        .collect()
}

async fn published(tasks: Vec<tokio::task::JoinHandle<u64>>) -> u64 {
    let mut total = 0;
    for task in tasks {
        total += task.await.unwrap_or(0);
    }
    total
}

/// Waits until `done`, polling every 5 ms; false after `patience`.
async fn wait_for(patience: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + patience;
    while !done() {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    true
}

/// Samples the server's RSS every second; the maximum seen so far.
fn sample_rss(server: &Server) -> (Arc<AtomicU64>, tokio::task::JoinHandle<()>) {
    let pid = server.child.id();
    let max = Arc::new(AtomicU64::new(rss_kib(pid)));
    let seen = max.clone();
    let task = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            seen.fetch_max(rss_kib(pid), Ordering::Relaxed);
        }
    });
    (max, task)
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

// ---------------------------------------------------------------------------------------

#[tokio::main]
async fn main() {
    let args = args().unwrap_or_else(|e| {
        eprintln!("{e}\n{USAGE}");
        std::process::exit(2);
    });
    // reqwest is built without a crypto provider of its own.
    twinhub_client::install_crypto_provider();
    let unique = uuid::Uuid::new_v4().simple().to_string();
    let dir = tempfile::tempdir().expect("temp dir");
    let database = Database::create(dir.path(), args.postgres.as_deref()).await;

    // The receivers first: the configuration names them.
    let arrivals = Arc::new(Arrivals::default());
    let stalled = Arc::new(AtomicBool::new(args.mode == Mode::Stall));
    let (hook, hook_handle) = webhook(arrivals.clone(), stalled.clone());
    let stream = format!("TWINHUB_BENCH_{unique}");
    let prefix = format!("b{}", &unique[..12]);
    let nats = if args.mode == Mode::Jetstream {
        let client = async_nats::connect(NATS_URL)
            .await
            .expect("NATS with JetStream on 127.0.0.1:4222");
        let js = async_nats::jetstream::new(client);
        Some(StreamGuard {
            js,
            name: stream.clone(),
        })
    } else {
        None
    };

    let http = SocketAddr::from(([127, 0, 0, 1], free_port([127, 0, 0, 1])));
    let service = SocketAddr::from((HUB_IP, free_port(HUB_IP)));
    let certs = dir.path().join("certs");
    let config = dir.path().join("twinhub.toml");
    std::fs::write(
        &config,
        format!(
            r#"bind = "{http}"
database_url = "{url}"
admin_token = "{TOKEN}"
# Only so that the log holds no warning about browser sessions.
session_secret = "routing-bench-session-secret-0123456789"
hub_bind = "{hub}"
hub_host_names = ["{host}"]
hub_certs_dir = "{certs}"
service_bind = "{service}"

[routing]
hub_name = "bench"
{routing}"#,
            url = database.url,
            hub = SocketAddr::from((HUB_IP, HUB_PORT)),
            host = std::net::Ipv4Addr::from(HUB_IP),
            certs = certs.display(),
            routing = routing_toml(args.mode, &stream, &prefix, &hook),
        ),
    )
    .expect("write the configuration");
    let log = std::env::temp_dir().join(format!("twinhub-routing-bench-{unique}.log"));
    let server = Server::start(&args.binary, &config, http, log).await;
    if let Some(guard) = &nats {
        consume(&guard.js, &stream, arrivals.clone()).await;
    }

    let client = reqwest::Client::new();
    let ca_pem = std::fs::read(certs.join("ca.pem")).expect("the development CA");
    let acks = Arc::new(Acks::default());
    let mut devices = Vec::with_capacity(args.devices);
    for index in 0..args.devices {
        let key = register(&client, &server.http, &device_id(index)).await;
        devices.push(connect(index, &key, &ca_pem, &args, acks.clone()).await);
    }
    let rss_before = server.rss_kib();

    let mut table = Table(Vec::new());
    table.row(
        "run",
        format!(
            "{:?}: {} devices, QoS 1, {} in flight per device, {}, twinhub {}",
            args.mode,
            args.devices,
            args.inflight,
            database.backend(),
            args.binary.display()
        ),
    );
    match args.mode {
        Mode::Jetstream | Mode::Webhook | Mode::Builtin => {
            throughput(
                &args, &devices, &acks, &arrivals, &server, &client, rss_before, &mut table,
            )
            .await;
        }
        Mode::Stall => {
            stall(
                &args, &devices, &acks, &arrivals, &stalled, &server, &client, rss_before,
                &mut table,
            )
            .await;
        }
    }
    table.row(
        "connections lost",
        acks.errors.load(Ordering::Relaxed).to_string(),
    );
    // A delivery failure or a slow statement shows here, not on the bench's output.
    let warnings = std::fs::read_to_string(&server.log).map_or(0, |text| {
        text.lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR"))
            .count()
    });
    table.row(
        "server log",
        format!("{warnings} warnings or errors in {}", server.log.display()),
    );
    table.print();

    for device in devices {
        device.driver.abort();
    }
    drop(server);
    hook_handle.stop(false).await;
    drop(nats);
    drop(database);
}

/// `jetstream`, `webhook` and `builtin`: every device sends its messages as fast as PUBACKs
/// allow.
#[expect(
    clippy::too_many_arguments,
    reason = "one call site, the run's whole state"
)]
async fn throughput(
    args: &Args,
    devices: &[Device],
    acks: &Acks,
    arrivals: &Arrivals,
    server: &Server,
    client: &reqwest::Client,
    rss_before: u64,
    table: &mut Table,
) {
    let total = args.devices * args.messages_per_device as usize;
    let (rss_max, sampler) = sample_rss(server);
    // The built-in endpoint has no receiver in the bench: its lane's count stands for one.
    let stored = Arc::new(AtomicU64::new(0));
    let poller = (args.mode == Mode::Builtin).then(|| {
        tokio::spawn(poll_builtin(
            client.clone(),
            server.http.clone(),
            stored.clone(),
        ))
    });
    let delivered_now = || match args.mode {
        Mode::Builtin => stored.load(Ordering::Relaxed) as usize,
        _ => arrivals.distinct(),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let tasks = start_publishing(devices, |_| true, Some(args.messages_per_device), &stop);
    let all_arrived = wait_for(PATIENCE, || delivered_now() >= total).await;
    let wall = start.elapsed();
    let sent = published(tasks).await;
    wait_for(Duration::from_secs(10), || acks.count() >= total).await;
    sampler.abort();
    if let Some(poller) = poller {
        poller.abort();
    }
    let acked = acks.count();
    let ack_wall = lock(&acks.last).map_or(wall, |last| last - start);
    let delivered = delivered_now();
    let receiver = match args.mode {
        Mode::Jetstream => "JetStream",
        Mode::Builtin => "the built-in endpoint",
        _ => "webhook",
    };

    table.row("published", sent.to_string());
    table.row(
        "acknowledged (PUBACK)",
        format!(
            "{acked} in {:.2} s = {:.0} PUBACK/s",
            ack_wall.as_secs_f64(),
            acked as f64 / ack_wall.as_secs_f64()
        ),
    );
    table.row("publish → PUBACK", spread(&acks.latencies_us));
    table.row(
        &format!("delivered to {receiver}"),
        format!(
            "{delivered} distinct of {total}, {} copies{}",
            arrivals.copies.load(Ordering::Relaxed),
            if all_arrived {
                ""
            } else {
                " (gave up waiting)"
            }
        ),
    );
    table.row(
        "throughput",
        format!(
            "{:.0} msg/s ({delivered} delivered / {:.2} s wall time)",
            delivered as f64 / wall.as_secs_f64(),
            wall.as_secs_f64()
        ),
    );
    if args.mode == Mode::Builtin {
        let newest = newest_stored(client, &server.http, devices.len(), args).await;
        table.row(
            "read back",
            format!(
                "{newest} of {} devices' newest message in GET …/telemetry",
                devices.len()
            ),
        );
    } else {
        table.row(
            &format!("device publish → {receiver}"),
            spread(&arrivals.latencies_us),
        );
    }
    table.row(
        "twinhub RSS",
        format!(
            "{} before, max {} during, {} after",
            mib(rss_before),
            mib(rss_max.load(Ordering::Relaxed)),
            mib(server.rss_kib())
        ),
    );
}

/// One endpoint's lane from `GET /api/v1/hub/endpoints`; `None` if the server does not say.
async fn lane(client: &reqwest::Client, http: &str, name: &str) -> Option<Value> {
    let lanes: Value = client
        .get(format!("{http}/api/v1/hub/endpoints"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    lanes["items"]
        .as_array()?
        .iter()
        .find(|lane| lane["name"] == name)
        .cloned()
}

/// Keeps `stored` at the built-in lane's delivered count, every 20 ms.
async fn poll_builtin(client: reqwest::Client, http: String, stored: Arc<AtomicU64>) {
    loop {
        let delivered = lane(&client, &http, "builtin")
            .await
            .and_then(|lane| lane["delivered"].as_u64());
        if let Some(delivered) = delivered {
            stored.store(delivered, Ordering::Relaxed);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// How many devices' newest stored message is their last one sent.
async fn newest_stored(client: &reqwest::Client, http: &str, devices: usize, args: &Args) -> usize {
    let last = args.messages_per_device.saturating_sub(1);
    let mut newest = 0;
    for index in 0..devices {
        let url = format!(
            "{http}/api/v1/devices/{}/telemetry?limit=1",
            device_id(index)
        );
        let Ok(response) = client.get(url).bearer_auth(TOKEN).send().await else {
            continue;
        };
        let Ok(page) = response.json::<Value>().await else {
            continue;
        };
        let body = page["items"][0]["body"]
            .as_str()
            .and_then(|text| serde_json::from_str::<Value>(text).ok());
        if body.is_some_and(|body| body["n"].as_u64() == Some(last)) {
            newest += 1;
        }
    }
    newest
}

/// `stall`: even devices to a webhook that holds on, odd devices to the built-in endpoint.
#[expect(
    clippy::too_many_arguments,
    reason = "one call site, the run's whole state"
)]
async fn stall(
    args: &Args,
    devices: &[Device],
    acks: &Acks,
    arrivals: &Arrivals,
    stalled: &AtomicBool,
    server: &Server,
    client: &reqwest::Client,
    rss_before: u64,
    table: &mut Table,
) {
    let acked_by = |hook: bool| {
        lock(&acks.keys)
            .iter()
            .filter(|k| to_hook((**k >> 32) as usize) == hook)
            .count()
    };
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let tasks = start_publishing(devices, |_| true, None, &stop);

    // Each second: memory, and a twin read of a device the stall holds back.
    let twin = format!("{}/api/v1/devices/{}/twin", server.http, device_id(0));
    let mut rss_max = rss_before;
    let mut twin_reads = Vec::new();
    let mut twin_failures = 0;
    while start.elapsed() < Duration::from_secs(args.stall_secs) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        rss_max = rss_max.max(server.rss_kib());
        let t = Instant::now();
        match client.get(&twin).bearer_auth(TOKEN).send().await {
            Ok(r) if r.status().is_success() => twin_reads.push(t.elapsed().as_micros() as u64),
            _ => twin_failures += 1,
        }
    }
    let stall_wall = start.elapsed();
    let (hook_acked_stalled, store_acked_stalled) = (acked_by(true), acked_by(false));
    let hook_lane = lane(client, &server.http, "hook")
        .await
        .unwrap_or(Value::Null);

    // Stop sending, let go, and wait for every outstanding PUBACK, then every copy.
    stop.store(true, Ordering::Relaxed);
    let sent = published(tasks).await;
    stalled.store(false, Ordering::Relaxed);
    let released = Instant::now();
    let all_acked = wait_for(PATIENCE, || acks.count() as u64 >= sent).await;
    let acked_hook: HashSet<u64> = lock(&acks.keys)
        .iter()
        .filter(|k| to_hook((**k >> 32) as usize))
        .copied()
        .collect();
    let all_arrived = wait_for(PATIENCE, || {
        let got = lock(&arrivals.keys);
        acked_hook.iter().all(|k| got.contains(k))
    })
    .await;
    let drained = released.elapsed();
    let missing = {
        let got = lock(&arrivals.keys);
        acked_hook.iter().filter(|k| !got.contains(k)).count()
    };
    // Give the server a moment to finish what it does after the last delivery.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let mut sorted_twin = twin_reads.clone();
    sorted_twin.sort_unstable();
    table.row("stall", format!("{:.1} s", stall_wall.as_secs_f64()));
    table.row(
        "acknowledged during the stall",
        format!(
            "webhook devices {hook_acked_stalled}, built-in devices {store_acked_stalled} \
             ({:.0} msg/s)",
            store_acked_stalled as f64 / stall_wall.as_secs_f64()
        ),
    );
    table.row(
        "webhook lane at the end",
        format!(
            "queued {} of {}, in flight {}, retried {}, dead-lettered {}",
            hook_lane["queued"],
            hook_lane["capacity"],
            hook_lane["inFlight"],
            hook_lane["retried"],
            hook_lane["deadLettered"]
        ),
    );
    table.row(
        "twin GET during the stall",
        format!(
            "{} answered, {twin_failures} failed, max {:.1} ms",
            twin_reads.len(),
            sorted_twin.last().map_or(0.0, |us| *us as f64 / 1000.0)
        ),
    );
    table.row(
        "twinhub RSS",
        format!(
            "{} before, max {} during, {} after the drain",
            mib(rss_before),
            mib(rss_max),
            mib(server.rss_kib())
        ),
    );
    table.row(
        "published / acknowledged",
        format!(
            "{sent} / {}{}",
            acks.count(),
            if all_acked { "" } else { " (gave up waiting)" }
        ),
    );
    table.row(
        "after release",
        format!(
            "{} acknowledged to webhook devices, {} arrived ({} copies), {missing} missing, \
             in {:.1} s{}",
            acked_hook.len(),
            acked_hook.len() - missing,
            arrivals.copies.load(Ordering::Relaxed),
            drained.as_secs_f64(),
            if all_arrived {
                ""
            } else {
                " (gave up waiting)"
            }
        ),
    );
}
