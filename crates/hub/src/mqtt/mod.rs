//! The IoT Hub MQTT 3.1.1 endpoint over TLS: the accept loop with per-address connection
//! throttling; [`connection`] serves each connection in its own task and [`topics`] holds the
//! topic surface. Packets are read and written with `rumqttc`'s v4 codec.

mod connection;
mod topics;

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

use crate::hub::Hub;

/// How often expired cloud-to-device messages are dropped from the store.
const PURGE_INTERVAL: Duration = Duration::from_secs(60);

/// Pause after a failed accept (out of file descriptors, …), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Accepts connections on `listener` until `shutdown` resolves, then closes them all and
/// waits for their tasks to record the disconnections.
pub(crate) async fn serve(
    hub: Hub,
    listener: tokio::net::TcpListener,
    tls: Arc<rustls::ServerConfig>,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let acceptor = TlsAcceptor::from(tls);
    let (stop, stopped) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let mut throttle = Throttle::new(hub.config().connects_per_ip_per_second);
    // Connections this instance recorded before it stopped (or crashed) are gone.
    match hub
        .store()
        .release_connections_of(hub.instance_id(), crate::hub::now())
        .await
    {
        Ok(0) => {}
        Ok(released) => tracing::info!(released, "stale connections of this instance released"),
        Err(error) => tracing::warn!(%error, "stale connections of this instance not released"),
    }
    tracing::info!(address = ?listener.local_addr().ok(), "MQTT endpoint listening");
    let mut purge = tokio::time::interval(PURGE_INTERVAL);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            _ = purge.tick() => match hub.store().purge_expired_c2d(crate::hub::now()).await {
                Ok(0) => {}
                Ok(purged) => tracing::info!(purged, "expired cloud-to-device messages dropped"),
                Err(error) => tracing::warn!(%error, "expired cloud-to-device messages not purged"),
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    if !throttle.admit(peer.ip()) {
                        continue;
                    }
                    if let Err(error) = tcp.set_nodelay(true) {
                        tracing::debug!(%peer, %error, "TCP_NODELAY not set");
                    }
                    tasks.spawn(connection::run(
                        hub.clone(),
                        tcp,
                        peer,
                        acceptor.clone(),
                        stopped.clone(),
                    ));
                }
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
        }
    }
    tracing::info!(connections = tasks.len(), "MQTT endpoint stopping");
    // Receivers only go away with their tasks; a send error means none is left.
    let _ = stop.send(true);
    while tasks.join_next().await.is_some() {}
    Ok(())
}

/// Counts new connections per source address in one-second windows.
struct Throttle {
    limit: u32,
    window: Instant,
    counts: HashMap<IpAddr, u32>,
}

impl Throttle {
    fn new(limit: u32) -> Throttle {
        Throttle {
            limit,
            window: Instant::now(),
            counts: HashMap::new(),
        }
    }

    /// Whether a new connection from `ip` is admitted; the first refusal of a window is
    /// logged.
    fn admit(&mut self, ip: IpAddr) -> bool {
        if self.window.elapsed() >= Duration::from_secs(1) {
            self.window = Instant::now();
            self.counts.clear();
        }
        let count = self.counts.entry(ip).or_insert(0);
        *count = count.saturating_add(1);
        if *count <= self.limit {
            return true;
        }
        if *count == self.limit + 1 {
            tracing::warn!(%ip, limit = self.limit, "too many connections per second from one address; closing them");
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_throttle_admits_the_limit_per_address() {
        let mut throttle = Throttle::new(2);
        let a: IpAddr = [127, 0, 0, 1].into();
        let b: IpAddr = [127, 0, 0, 2].into();
        assert!(throttle.admit(a));
        assert!(throttle.admit(a));
        assert!(!throttle.admit(a));
        assert!(throttle.admit(b));
    }
}
