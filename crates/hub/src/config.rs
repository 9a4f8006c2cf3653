//! [`HubConfig`]: the hub's names and limits. The defaults are IoT Hub's where IoT Hub has one
//! (256 KiB device-to-cloud messages, 50 pending cloud-to-device messages per device, a 1 h
//! default and 48 h longest cloud-to-device expiry, 32 KiB twin sections), so devices built
//! against IoT Hub meet the same limits here.

use std::time::Duration;

use rustls::pki_types::CertificateDer;
use twinhub_twin::TwinLimits;

/// How the hub is named and what it accepts.
#[derive(Clone, Debug)]
pub struct HubConfig {
    /// This instance's name among those sharing the database: the owner recorded for the
    /// connections it serves. Stable across restarts, so a restart releases what it held.
    pub instance_id: String,
    /// The names devices use for the hub (`HostName=` in connection strings, the host of a SAS
    /// token's `sr`, the prefix of the MQTT user name). Compared case-insensitively; the first
    /// one goes into generated connection strings.
    pub host_names: Vec<String>,
    /// Largest device-to-cloud message body (telemetry), in bytes.
    pub max_message_bytes: usize,
    /// Largest MQTT packet the hub reads; bigger ones close the connection. Leaves room for
    /// the topic with its property bag on top of [`HubConfig::max_message_bytes`].
    pub max_packet_bytes: usize,
    /// Largest cloud-to-device message body, in bytes (IoT Hub: 64 KiB).
    pub c2d_max_bytes: usize,
    /// How many cloud-to-device messages may wait for one device.
    pub c2d_max_pending: usize,
    /// Expiry of a cloud-to-device message sent without one.
    pub c2d_default_ttl: Duration,
    /// Longest expiry a cloud-to-device message may ask for.
    pub c2d_max_ttl: Duration,
    /// How many CONNECTs one IP address may open per second before further connections from
    /// it are closed unanswered until the next second.
    pub connects_per_ip_per_second: u32,
    /// How long a new TCP connection may take to finish its TLS handshake and send CONNECT.
    pub connect_timeout: Duration,
    /// Largest direct-method payload, in bytes, each way (IoT Hub: 128 KiB).
    pub max_method_payload_bytes: usize,
    /// How many QoS 1 messages the hub keeps in flight to one connection before it waits for
    /// PUBACKs.
    pub max_inflight: usize,
    /// Twin section sizes and shapes.
    pub twin_limits: TwinLimits,
    /// The CAs whose certificates authenticate `certificateAuthority` identities (subject CN =
    /// device id); the development CA belongs here when it is in use.
    pub device_ca_roots: Vec<CertificateDer<'static>>,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            instance_id: "local".to_owned(),
            host_names: vec!["localhost".to_owned()],
            max_message_bytes: 256 * 1024,
            max_packet_bytes: 256 * 1024 + 16 * 1024,
            c2d_max_bytes: 64 * 1024,
            c2d_max_pending: 50,
            c2d_default_ttl: Duration::from_secs(3600),
            c2d_max_ttl: Duration::from_secs(48 * 3600),
            connects_per_ip_per_second: 100,
            connect_timeout: Duration::from_secs(10),
            max_method_payload_bytes: 128 * 1024,
            max_inflight: 32,
            twin_limits: TwinLimits::default(),
            device_ca_roots: Vec::new(),
        }
    }
}

impl HubConfig {
    /// Whether `host` is one of the hub's names (case-insensitively).
    pub fn is_host_name(&self, host: &str) -> bool {
        self.host_names.iter().any(|h| h.eq_ignore_ascii_case(host))
    }

    /// The name put into generated connection strings.
    pub fn primary_host_name(&self) -> &str {
        self.host_names.first().map_or("localhost", String::as_str)
    }
}
