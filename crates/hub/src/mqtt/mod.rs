//! The IoT Hub MQTT 3.1.1 endpoint over TLS.

use std::future::Future;
use std::sync::Arc;

use crate::hub::Hub;

/// Accepts connections on `listener` until `shutdown` resolves.
pub(crate) async fn serve(
    _hub: Hub,
    _listener: tokio::net::TcpListener,
    _tls: Arc<rustls::ServerConfig>,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    // Interim for the hub-api tag: the endpoint lands in the next commits.
    shutdown.await;
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "the MQTT endpoint is not built yet",
    ))
}
