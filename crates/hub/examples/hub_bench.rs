//! Benchmarks of the hub's MQTT endpoint (not part of `cargo test`):
//!
//! ```text
//! cargo run -p twinhub-hub --release --example hub_bench -- connections 10000
//! cargo run -p twinhub-hub --release --example hub_bench -- telemetry 100 10
//! cargo run -p twinhub-hub --release --example hub_bench -- latency 2000
//! ```
//!
//! - `connections N`: N SAS devices connect over TLS 1.2 from a child process and stay idle;
//!   reports the connect rate and the hub process's resident memory per connection.
//! - `telemetry DEVICES SECONDS`: QoS 1 telemetry from DEVICES devices (16 in flight each) for
//!   SECONDS, through the hub over TLS, then the same messages through the local Mosquitto
//!   (127.0.0.1:1883, plain TCP) to one subscriber; the load runs in a child process both times.
//! - `tls-baseline N`: the same N connections held by a bare rustls server (handshake, no
//!   MQTT), to tell the TLS state from the hub's own per-connection memory.
//! - `latency N`: N desired-property updates through the facade, each timed until the
//!   connected device has the PUBLISH; reports p50 / p99 / max.
//!
//! The hub runs on a [`MemoryHubStore`], so the numbers are the endpoint's, not a database's.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rumqttc::mqttbytes::QoS;
use rumqttc::mqttbytes::v4::{Connect, Login, Packet, Publish, Subscribe};
use rustls::pki_types::ServerName;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use twinhub_hub::{
    Authentication, Hub, HubConfig, IdentityKey, IdentityStatus, MemoryHubStore, NoModels,
    TwinUpdate, devca, sas, tls,
};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// One key for every benchmark device: the token computation stays per device.
const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
const HOST: &str = "localhost";
const TOPIC_BAG: &str = "%24.ct=application%2Fjson&%24.ce=utf-8";
const BODY: &[u8] = br#"{"temperature": 21.5}"#;
const WINDOW: usize = 16;

fn main() -> Result<(), Error> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let arg = |i: usize, default: u64| -> u64 {
        args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default)
    };
    match args.first().map(String::as_str) {
        Some("connections") => runtime.block_on(connections(arg(1, 10_000) as usize)),
        Some("telemetry") => runtime.block_on(telemetry(arg(1, 100) as usize, arg(2, 10))),
        Some("latency") => runtime.block_on(latency(arg(1, 2000) as usize)),
        Some("tls-baseline") => runtime.block_on(tls_baseline(arg(1, 10_000) as usize)),
        // Child processes.
        Some("hold") => runtime.block_on(hold(&args[1..])),
        Some("load") => runtime.block_on(load(&args[1..])),
        _ => {
            eprintln!("usage: hub_bench connections N | telemetry DEVICES SECONDS | latency N");
            std::process::exit(2);
        }
    }
}

/// A hub on `ip` with `devices` registered as bench-NNNNN.
async fn start_hub(
    ip: &str,
    devices: usize,
    dir: &Path,
) -> Result<(Hub, SocketAddr, PathBuf), Error> {
    let files = devca::write_dev_ca(dir, &[HOST.to_owned(), ip.to_owned()])?;
    let config = HubConfig {
        host_names: vec![HOST.to_owned()],
        connects_per_ip_per_second: u32::MAX,
        connect_timeout: Duration::from_secs(60),
        ..HubConfig::default()
    };
    let hub = Hub::new(Arc::new(MemoryHubStore::new()), Arc::new(NoModels), config);
    for i in 0..devices {
        let auth = Authentication::Sas {
            primary_key: KEY.into(),
            secondary_key: KEY.into(),
        };
        hub.create_identity(device(i), Some(auth), IdentityStatus::Enabled)
            .await?;
    }
    let server = tls::server_config_from_files(&files.server_cert, &files.server_key)?;
    let listener = tokio::net::TcpListener::bind(format!("{ip}:0")).await?;
    let addr = listener.local_addr()?;
    let serving = hub.clone();
    tokio::spawn(async move {
        serving
            .serve_mqtt(listener, server, std::future::pending())
            .await
    });
    Ok((hub, addr, files.ca_cert))
}

fn device(i: usize) -> IdentityKey {
    IdentityKey::device(&format!("bench-{i:05}")).unwrap_or_else(|e| panic!("{e}"))
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

async fn connections(count: usize) -> Result<(), Error> {
    let dir = tempfile::tempdir()?;
    let (hub, addr, ca) = start_hub("127.43.0.1", count, dir.path()).await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = rss_kib();
    let mut child = tokio::process::Command::new(std::env::current_exe()?)
        .args([
            "hold",
            &addr.to_string(),
            &ca.display().to_string(),
            &count.to_string(),
        ])
        .stdin(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let started = Instant::now();
    while hub.connected_count() < count {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if let Some(status) = child.try_wait()? {
            return Err(format!("the client process ended early: {status}").into());
        }
    }
    let elapsed = started.elapsed();
    // Let allocations settle (buffers of the handshake are freed after it).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kib();
    println!(
        "connections: {count} idle TLS devices connected in {:.2} s ({:.0} connects/s)",
        elapsed.as_secs_f64(),
        count as f64 / elapsed.as_secs_f64()
    );
    println!(
        "hub RSS: {before} KiB before, {after} KiB with {count} connections: {:.1} KiB per connection",
        (after.saturating_sub(before)) as f64 / count as f64
    );
    drop(child.stdin.take());
    let _ = child.wait().await;
    Ok(())
}

/// Holds N bare TLS connections (one byte read from each) and reports the server's memory.
async fn tls_baseline(count: usize) -> Result<(), Error> {
    let dir = tempfile::tempdir()?;
    let ip = "127.43.0.4";
    let files = devca::write_dev_ca(dir.path(), &[HOST.to_owned(), ip.to_owned()])?;
    let server = tls::server_config_from_files(&files.server_cert, &files.server_key)?;
    let listener = tokio::net::TcpListener::bind(format!("{ip}:0")).await?;
    let addr = listener.local_addr()?;
    let held = Arc::new(AtomicU64::new(0));
    let counter = held.clone();
    let acceptor = tokio_rustls::TlsAcceptor::from(server);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let counter = counter.clone();
            tokio::spawn(async move {
                if let Ok(mut stream) = acceptor.accept(tcp).await {
                    let mut byte = [0_u8; 1];
                    if stream.read_exact(&mut byte).await.is_ok() {
                        counter.fetch_add(1, Ordering::Relaxed);
                        let mut rest = [0_u8; 1];
                        let _ = stream.read(&mut rest).await;
                    }
                }
            });
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = rss_kib();
    let mut child = tokio::process::Command::new(std::env::current_exe()?)
        .args([
            "hold",
            &addr.to_string(),
            &files.ca_cert.display().to_string(),
            &count.to_string(),
            "tls-only",
        ])
        .stdin(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    while held.load(Ordering::Relaxed) < count as u64 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if let Some(status) = child.try_wait()? {
            return Err(format!("the client process ended early: {status}").into());
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kib();
    println!(
        "bare TLS server RSS: {before} KiB before, {after} KiB with {count} connections: {:.1} KiB per connection",
        (after.saturating_sub(before)) as f64 / count as f64
    );
    drop(child.stdin.take());
    let _ = child.wait().await;
    Ok(())
}

fn client_tls(ca: &Path) -> Result<Arc<rustls::ClientConfig>, Error> {
    Ok(Arc::new(tls::device_client_config(&std::fs::read(ca)?)?))
}

async fn write(stream: &mut (impl AsyncWrite + Unpin), packet: Packet) -> Result<(), Error> {
    let mut out = BytesMut::new();
    packet.write(&mut out, usize::MAX)?;
    stream.write_all(&out).await?;
    stream.flush().await?;
    Ok(())
}

async fn read(stream: &mut (impl AsyncRead + Unpin), buf: &mut BytesMut) -> Result<Packet, Error> {
    loop {
        match Packet::read(buf, 1 << 20) {
            Ok(packet) => return Ok(packet),
            Err(rumqttc::mqttbytes::Error::InsufficientBytes(n)) => {
                buf.reserve(n);
                if stream.read_buf(buf).await? == 0 {
                    return Err("closed".into());
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// CONNECTs as `key` (with a SAS token when `sas`) and waits for a successful CONNACK.
async fn mqtt_connect(
    stream: &mut (impl AsyncRead + AsyncWrite + Unpin),
    key: &IdentityKey,
    sas: bool,
) -> Result<BytesMut, Error> {
    let mut connect = Connect::new(key.to_string());
    connect.keep_alive = 0;
    connect.clean_session = false;
    if sas {
        let expiry = u64::try_from(chrono::Utc::now().timestamp())? + 3600;
        let token = sas::identity_token(HOST, key, KEY, expiry)?;
        connect.login = Some(Login::new(
            format!("{HOST}/{key}/?api-version=2020-09-30"),
            token,
        ));
    }
    write(stream, Packet::Connect(connect)).await?;
    let mut buf = BytesMut::with_capacity(64);
    match read(stream, &mut buf).await? {
        Packet::ConnAck(ack) if ack.code == rumqttc::ConnectReturnCode::Success => Ok(buf),
        other => Err(format!("not connected: {other:?}").into()),
    }
}

async fn tls_connect(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, Error> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let connector = tokio_rustls::TlsConnector::from(config);
    Ok(connector
        .connect(ServerName::IpAddress(addr.ip().into()), tcp)
        .await?)
}

/// Child: opens `count` idle connections (64 at a time) and holds them until stdin closes.
async fn hold(args: &[String]) -> Result<(), Error> {
    let addr: SocketAddr = args[0].parse()?;
    let config = client_tls(Path::new(&args[1]))?;
    let count: usize = args[2].parse()?;
    let tls_only = args.get(3).is_some_and(|a| a == "tls-only");
    let gate = Arc::new(Semaphore::new(64));
    let mut tasks = Vec::with_capacity(count);
    let started = Instant::now();
    for i in 0..count {
        let permit = gate.clone().acquire_owned().await?;
        let config = config.clone();
        tasks.push(tokio::spawn(async move {
            let mut stream = tls_connect(addr, config).await?;
            if tls_only {
                // Finish the handshake: rustls completes it on the first write.
                stream.write_all(b"x").await?;
                stream.flush().await?;
            } else {
                mqtt_connect(&mut stream, &device(i), true).await?;
            }
            drop(permit);
            Ok::<_, Error>(stream)
        }));
    }
    let mut streams = Vec::with_capacity(count);
    eprintln!("clients: connecting");
    for task in tasks {
        streams.push(task.await??);
    }
    eprintln!(
        "clients: {count} connected in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    let mut stdin = tokio::io::stdin();
    let mut sink = [0_u8; 1];
    let _ = stdin.read(&mut sink).await;
    drop(streams);
    Ok(())
}

async fn telemetry(devices: usize, seconds: u64) -> Result<(), Error> {
    let dir = tempfile::tempdir()?;
    let (_hub, addr, ca) = start_hub("127.43.0.2", devices, dir.path()).await?;
    let exe = std::env::current_exe()?;
    let run = |target: Vec<String>| {
        let exe = exe.clone();
        async move {
            let status = tokio::process::Command::new(exe)
                .arg("load")
                .args(target)
                .status()
                .await?;
            if status.success() {
                Ok::<_, Error>(())
            } else {
                Err(format!("load: {status}").into())
            }
        }
    };
    let common = [devices.to_string(), seconds.to_string()];
    run([
        vec!["hub".into(), addr.to_string(), ca.display().to_string()],
        common.to_vec(),
    ]
    .concat())
    .await?;
    run([
        vec!["mosquitto".into(), "127.0.0.1:1883".into(), "-".into()],
        common.to_vec(),
    ]
    .concat())
    .await?;
    Ok(())
}

/// Child: `load hub|mosquitto ADDR CA DEVICES SECONDS`.
async fn load(args: &[String]) -> Result<(), Error> {
    let target = args[0].clone();
    let addr: SocketAddr = args[1].parse()?;
    let devices: usize = args[3].parse()?;
    let seconds: u64 = args[4].parse()?;
    let config = if target == "hub" {
        Some(client_tls(Path::new(&args[2]))?)
    } else {
        None
    };
    let received = Arc::new(AtomicU64::new(0));
    if config.is_none() {
        // Mosquitto forwards to one subscriber, as the hub hands on to its sink.
        let mut sub = TcpStream::connect(addr).await?;
        let mut buf = mqtt_connect(&mut sub, &IdentityKey::device("bench-sub")?, false).await?;
        let mut subscribe = Subscribe::new("devices/#", QoS::AtMostOnce);
        subscribe.pkid = 1;
        write(&mut sub, Packet::Subscribe(subscribe)).await?;
        let received = received.clone();
        tokio::spawn(async move {
            loop {
                match read(&mut sub, &mut buf).await {
                    Ok(Packet::Publish(_)) => {
                        received.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        eprintln!("subscriber: {e}");
                        return;
                    }
                }
            }
        });
    }
    let acked = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for i in 0..devices {
        let config = config.clone();
        let acked = acked.clone();
        tasks.push(tokio::spawn(async move {
            let key = device(i);
            match config {
                Some(config) => {
                    let stream = tls_connect(addr, config).await?;
                    publish_loop(stream, &key, true, deadline, &acked).await
                }
                None => {
                    let stream = TcpStream::connect(addr).await?;
                    stream.set_nodelay(true)?;
                    publish_loop(stream, &key, false, deadline, &acked).await
                }
            }
        }));
    }
    let started = Instant::now();
    // Count what was acknowledged by the deadline; the tasks then drain their windows.
    tokio::time::sleep_until(deadline.into()).await;
    let elapsed = started.elapsed().as_secs_f64();
    let total = acked.load(Ordering::Relaxed);
    for task in tasks {
        task.await??;
    }
    print!(
        "telemetry via {target}: {devices} devices, QoS 1, {WINDOW} in flight each: {total} acknowledged in {elapsed:.1} s = {:.0} msgs/s",
        total as f64 / elapsed
    );
    if target == "mosquitto" {
        tokio::time::sleep(Duration::from_millis(500)).await;
        print!(
            " ({} forwarded to the subscriber)",
            received.load(Ordering::Relaxed)
        );
    }
    println!();
    Ok(())
}

async fn publish_loop<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    mut stream: S,
    key: &IdentityKey,
    sas: bool,
    deadline: Instant,
    acked: &AtomicU64,
) -> Result<(), Error> {
    let mut buf = mqtt_connect(&mut stream, key, sas).await?;
    let topic = format!("devices/{}/messages/events/{TOPIC_BAG}", key.device_id);
    let (mut reader, mut writer) = tokio::io::split(stream);
    let window = Arc::new(Semaphore::new(WINDOW));
    let writer_window = window.clone();
    let writer = tokio::spawn(async move {
        let mut pkid: u16 = 0;
        let mut out = BytesMut::with_capacity(4096);
        while Instant::now() < deadline {
            let permit = writer_window.acquire().await?;
            permit.forget();
            pkid = pkid.wrapping_add(1).max(1);
            let mut publish = Publish::new(topic.clone(), QoS::AtLeastOnce, BODY.to_vec());
            publish.pkid = pkid;
            Packet::Publish(publish).write(&mut out, usize::MAX)?;
            writer.write_all(&out).await?;
            writer.flush().await?;
            out.clear();
        }
        Ok::<_, Error>(writer)
    });
    let mut outstanding = 0_usize;
    loop {
        if Instant::now() >= deadline && outstanding == 0 && writer.is_finished() {
            break;
        }
        let packet =
            tokio::time::timeout(Duration::from_secs(5), read(&mut reader, &mut buf)).await;
        match packet {
            Ok(Ok(Packet::PubAck(_))) => {
                acked.fetch_add(1, Ordering::Relaxed);
                window.add_permits(1);
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => break, // nothing outstanding any more
        }
        outstanding = WINDOW - window.available_permits().min(WINDOW);
    }
    let _ = writer.await?;
    Ok(())
}

async fn latency(updates: usize) -> Result<(), Error> {
    let dir = tempfile::tempdir()?;
    let (hub, addr, ca) = start_hub("127.43.0.3", 1, dir.path()).await?;
    let key = device(0);
    let mut stream = tls_connect(addr, client_tls(&ca)?).await?;
    let mut buf = mqtt_connect(&mut stream, &key, true).await?;
    let mut subscribe = Subscribe::new("$iothub/twin/PATCH/properties/desired/#", QoS::AtLeastOnce);
    subscribe.pkid = 1;
    write(&mut stream, Packet::Subscribe(subscribe)).await?;
    loop {
        if matches!(read(&mut stream, &mut buf).await?, Packet::SubAck(_)) {
            break;
        }
    }
    let warmup = 100;
    let mut samples = Vec::with_capacity(updates);
    for i in 0..updates + warmup {
        let update = TwinUpdate {
            desired: Some(json!({"targetTemperature": i})),
            ..TwinUpdate::default()
        };
        let started = Instant::now();
        hub.update_twin(&key, update, None, false).await?;
        loop {
            if let Packet::Publish(p) = read(&mut stream, &mut buf).await?
                && p.topic
                    .starts_with("$iothub/twin/PATCH/properties/desired/")
            {
                break;
            }
        }
        if i >= warmup {
            samples.push(started.elapsed());
        }
    }
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    println!(
        "desired update -> device receipt over TLS, {updates} updates: p50 {:.0} µs, p99 {:.0} µs, max {:.0} µs",
        at(0.50).as_secs_f64() * 1e6,
        at(0.99).as_secs_f64() * 1e6,
        samples.last().map_or(0.0, |d| d.as_secs_f64() * 1e6)
    );
    Ok(())
}
