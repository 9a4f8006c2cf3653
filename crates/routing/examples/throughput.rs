//! Measures the router: messages/s and latency from `Router::route` to the JetStream ack and
//! to a webhook's 2xx, with many devices each waiting for its acknowledgement before it sends
//! the next message (QoS 1), and memory while a webhook endpoint is stalled under load.
//!
//! Needs NATS JetStream on 127.0.0.1:4222; the webhook receiver runs in-process.
//!
//! ```text
//! cargo run --release -p twinhub-routing --example throughput -- \
//!     [--messages 20000] [--devices 100] [--stall-secs 20] [--concurrency 32]
//! ```
//!
//! The outbox is the in-memory one, so the numbers are the router's and the endpoints' own;
//! a database outbox adds its commit latency to every accept.

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, HttpServer, web};
use async_trait::async_trait;
use serde_json::json;
use twinhub_routing::{
    DeliveryError, Endpoint, EndpointName, Envelope, LaneConfig, MemoryDeadLetters, MemoryOutbox,
    MessageSource, NatsConfig, NatsEndpoint, Route, RouteInput, RouteParts, RouteSet, Router,
    TelemetryParts, WebhookConfig, WebhookEndpoint,
};

const NATS_URL: &str = "nats://127.0.0.1:4222";

struct Args {
    messages: usize,
    devices: usize,
    stall_secs: u64,
    concurrency: usize,
}

fn args() -> Args {
    let mut a = Args {
        messages: 20_000,
        devices: 100,
        stall_secs: 20,
        concurrency: 32,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    for pair in argv.chunks(2) {
        let value = pair.get(1).and_then(|v| v.parse::<u64>().ok());
        match (pair[0].as_str(), value) {
            ("--messages", Some(v)) => a.messages = v as usize,
            ("--devices", Some(v)) => a.devices = v as usize,
            ("--stall-secs", Some(v)) => a.stall_secs = v,
            ("--concurrency", Some(v)) => a.concurrency = v as usize,
            (flag, _) => {
                eprintln!("unknown or incomplete option {flag}");
                std::process::exit(2);
            }
        }
    }
    a
}

/// Wraps an endpoint and records, per accepted copy, the time since the message was built.
struct Timed<E> {
    inner: E,
    latencies_us: Mutex<Vec<u64>>,
    accepted: AtomicU64,
}

impl<E> Timed<E> {
    fn new(inner: E) -> Arc<Timed<E>> {
        Arc::new(Timed {
            inner,
            latencies_us: Mutex::new(Vec::new()),
            accepted: AtomicU64::new(0),
        })
    }
}

#[async_trait]
impl<E: Endpoint> Endpoint for Timed<E> {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    async fn deliver(&self, envelope: &Envelope) -> Result<(), DeliveryError> {
        self.inner.deliver(envelope).await?;
        let since = chrono::Utc::now() - envelope.system_properties.enqueued_time;
        let us = since.num_microseconds().unwrap_or(i64::MAX).max(0) as u64;
        self.latencies_us
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(us);
        self.accepted.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn name(s: &str) -> EndpointName {
    EndpointName::new(s).unwrap_or_else(|e| panic!("{e}"))
}

fn message(hub: &str, device: usize, n: usize, to: &str) -> RouteInput {
    RouteInput::new(Envelope::telemetry(
        hub,
        format!("device-{device:03}"),
        TelemetryParts {
            content_type: Some("application/json".into()),
            content_encoding: Some("utf-8".into()),
            properties: [("to", to)].into_iter().collect(),
            body: json!({"temperature": 20.0 + (n % 10) as f64, "seq": n})
                .to_string()
                .into_bytes(),
            ..TelemetryParts::default()
        },
        chrono::Utc::now(),
    ))
}

fn routes() -> RouteSet {
    let r = |n: &str, cond: &str, to: &str| {
        Route::new(RouteParts::new(n, MessageSource::Telemetry, vec![name(to)]).condition(cond))
            .unwrap_or_else(|e| panic!("{e}"))
    };
    RouteSet::new(
        vec![
            r("to-js", "to = 'js'", "js"),
            r("to-hook", "to = 'hook'", "hook"),
        ],
        None,
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// `devices` tasks, each routing its share of `messages` one after the other; returns the
/// accept latencies (route() until resolved), in µs.
async fn load(
    router: &Arc<Router>,
    hub: &str,
    devices: usize,
    messages: usize,
    to: &str,
) -> Vec<u64> {
    let per_device = messages / devices;
    let mut tasks = Vec::new();
    for d in 0..devices {
        let router = router.clone();
        let hub = hub.to_owned();
        let to = to.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut accept = Vec::with_capacity(per_device);
            for n in 0..per_device {
                let t = Instant::now();
                if let Err(e) = router.route(message(&hub, d, n, &to)).await {
                    panic!("route failed: {e}");
                }
                accept.push(t.elapsed().as_micros() as u64);
            }
            accept
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap_or_default());
    }
    all
}

async fn wait_until(mut done: impl FnMut() -> bool) {
    while !done() {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn report<E>(label: &str, total: usize, elapsed: Duration, mut accept: Vec<u64>, timed: &Timed<E>) {
    accept.sort_unstable();
    let mut e2e = timed
        .latencies_us
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    e2e.sort_unstable();
    println!(
        "{label}: {total} messages in {:.2} s = {:.0} msg/s; accept p50 {:.2} ms p99 {:.2} ms; \
         to endpoint ack p50 {:.2} ms p99 {:.2} ms",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        percentile(&accept, 0.50),
        percentile(&accept, 0.99),
        percentile(&e2e, 0.50),
        percentile(&e2e, 0.99),
    );
}

/// A webhook receiver answering 204, or holding every request while `stalled` is set.
fn receiver(stalled: Arc<AtomicBool>) -> (String, actix_web::dev::ServerHandle) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    let server = HttpServer::new(move || {
        let stalled = stalled.clone();
        App::new().default_service(web::to(move |_body: web::Bytes| {
            let stalled = stalled.clone();
            async move {
                while stalled.load(Ordering::Relaxed) {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                HttpResponse::NoContent().finish()
            }
        }))
    })
    .workers(2)
    .listen(listener)
    .unwrap_or_else(|e| panic!("{e}"))
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    (format!("http://127.0.0.1:{port}/hook"), handle)
}

#[tokio::main]
async fn main() {
    let a = args();
    let id = uuid::Uuid::new_v4().simple().to_string();
    let hub = format!("bench{}", &id[..8]);
    let stream = format!("twinhub_bench_{id}");
    let stalled = Arc::new(AtomicBool::new(false));
    let (url, server) = receiver(stalled.clone());

    let nats = Timed::new(
        NatsEndpoint::connect(NatsConfig::new(NATS_URL, stream.clone(), hub.clone()))
            .await
            .unwrap_or_else(|e| panic!("{e}")),
    );
    let mut hook_config = WebhookConfig::new(url).secret("bench-secret");
    hook_config.timeout = Duration::from_secs(5);
    let hook = Timed::new(WebhookEndpoint::new(hook_config).unwrap_or_else(|e| panic!("{e}")));
    let outbox = Arc::new(MemoryOutbox::new());
    let lane = LaneConfig {
        capacity: 1024,
        concurrency: a.concurrency,
        ..LaneConfig::default()
    };
    let router = Arc::new(
        Router::builder(routes(), outbox.clone(), Arc::new(MemoryDeadLetters::new()))
            .endpoint(name("js"), nats.clone(), lane.clone())
            .endpoint(name("hook"), hook.clone(), lane.clone())
            .start()
            .await
            .unwrap_or_else(|e| panic!("{e}")),
    );
    let total = a.messages / a.devices * a.devices;
    println!(
        "{} devices, {total} messages each run, lane capacity {} concurrency {}; RSS {} KiB",
        a.devices,
        lane.capacity,
        lane.concurrency,
        rss_kib()
    );

    for (label, to, timed_accepted) in [
        ("JetStream", "js", &nats.accepted),
        ("webhook", "hook", &hook.accepted),
    ] {
        let before = timed_accepted.load(Ordering::Relaxed);
        let start = Instant::now();
        let accept = load(&router, &hub, a.devices, a.messages, to).await;
        wait_until(|| timed_accepted.load(Ordering::Relaxed) - before >= total as u64).await;
        let elapsed = start.elapsed();
        if to == "js" {
            report(label, total, elapsed, accept, &nats);
        } else {
            report(label, total, elapsed, accept, &hook);
        }
    }

    // Stall the webhook; half the devices keep sending to it, half to JetStream.
    stalled.store(true, Ordering::Relaxed);
    let rss_before = rss_kib();
    let js_before = nats.accepted.load(Ordering::Relaxed);
    let stop = Arc::new(AtomicBool::new(false));
    let mut producers = Vec::new();
    for d in 0..a.devices {
        let router = router.clone();
        let hub = hub.clone();
        let stop = stop.clone();
        let to = if d % 2 == 0 { "hook" } else { "js" };
        producers.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                if router.route(message(&hub, d, n, to)).await.is_err() {
                    break;
                }
                n += 1;
            }
        }));
    }
    let mut rss_max = rss_before;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(a.stall_secs) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        rss_max = rss_max.max(rss_kib());
    }
    let js_during = nats.accepted.load(Ordering::Relaxed) - js_before;
    let hook_lane = router.lane_stats(&name("hook"));
    println!(
        "webhook stalled {} s: RSS {} KiB before, max {} KiB; webhook lane {:?}; JetStream \
         kept going: {} msg ({:.0} msg/s)",
        a.stall_secs,
        rss_before,
        rss_max,
        hook_lane.map(|s| (s.queued, s.capacity, s.in_flight, s.retried)),
        js_during,
        js_during as f64 / start.elapsed().as_secs_f64()
    );
    stop.store(true, Ordering::Relaxed);
    stalled.store(false, Ordering::Relaxed);
    for p in producers {
        let _ = p.await;
    }
    wait_until(|| outbox.is_empty()).await;
    println!("after release: outbox drained; RSS {} KiB", rss_kib());

    server.stop(false).await;
    if let Ok(client) = async_nats::connect(NATS_URL).await {
        let _ = async_nats::jetstream::new(client)
            .delete_stream(&stream)
            .await;
    }
}
