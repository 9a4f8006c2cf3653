use std::sync::Arc;

use bytes::BytesMut;
use rumqttc::mqttbytes::v4::{Connect, Login, Packet};
use rumqttc::{ConnectReturnCode, QoS};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use twinhub_hub::{IdentityKey, NoModels, sas};

use crate::support::{Device, HOST, TestHub, unix_now, user_name, within};

/// A TLS connection that writes whatever bytes a test wants.
struct Raw {
    stream: tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
}

impl Raw {
    async fn open(hub: &TestHub) -> Raw {
        let connector = tokio_rustls::TlsConnector::from(Arc::new(hub.client_tls(None)));
        let tcp = tokio::net::TcpStream::connect(hub.addr).await.expect("tcp");
        let name = ServerName::IpAddress(hub.addr.ip().into());
        let stream = connector.connect(name, tcp).await.expect("tls");
        Raw { stream }
    }

    async fn send(&mut self, packet: Packet) {
        let mut out = BytesMut::new();
        packet.write(&mut out, usize::MAX).expect("encode");
        self.send_bytes(&out).await;
    }

    async fn send_bytes(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
        self.stream.flush().await.expect("flush");
    }

    /// CONNECT as `key` with a valid token and the given keepalive; returns the CONNACK code.
    async fn connect(&mut self, key: &IdentityKey, sas_key: &str, keep_alive: u16) -> u8 {
        let token = sas::identity_token(HOST, key, sas_key, unix_now() + 600).expect("token");
        let mut connect = Connect::new(key.to_string());
        connect.keep_alive = keep_alive;
        connect.clean_session = false;
        connect.login = Some(Login::new(user_name(key, None), token));
        self.send(Packet::Connect(connect)).await;
        let mut connack = [0_u8; 4];
        self.stream.read_exact(&mut connack).await.expect("CONNACK");
        assert_eq!(connack[0], 0x20, "a CONNACK");
        connack[3]
    }

    /// Reads until the hub closes the connection.
    async fn until_closed(&mut self) {
        within("the hub to close the connection", async {
            let mut sink = vec![0_u8; 4096];
            loop {
                match self.stream.read(&mut sink).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => continue,
                }
            }
        })
        .await;
    }
}

#[tokio::test]
async fn a_qos_2_publish_closes_the_connection() {
    let hub = TestHub::start(60).await;
    let (key, sas_key) = hub.sas_device("d1").await;
    let (mut device, _) = Device::connect(hub.sas_options(&key, &sas_key, None)).await;
    device
        .client
        .publish("devices/d1/messages/events/", QoS::ExactlyOnce, false, "x")
        .await
        .expect("publish");
    device.closed().await;
    assert!(
        hub.events
            .all()
            .iter()
            .all(|e| e.source != twinhub_hub::EventSource::Telemetry)
    );
    hub.stop().await;
}

#[tokio::test]
async fn oversize_telemetry_closes_the_connection_and_nothing_else() {
    let hub = TestHub::start_with(61, Arc::new(NoModels), |c| c.max_message_bytes = 1024).await;
    let (key, sas_key) = hub.sas_device("d1").await;
    let (other, other_key) = hub.sas_device("d2").await;
    let (mut bystander, _) = Device::connect(hub.sas_options(&other, &other_key, None)).await;
    let (mut device, _) = Device::connect(hub.sas_options(&key, &sas_key, None)).await;
    device
        .client
        .publish(
            "devices/d1/messages/events/",
            QoS::AtLeastOnce,
            false,
            vec![b'x'; 2048],
        )
        .await
        .expect("publish");
    device.closed().await;

    bystander
        .client
        .publish(
            "devices/d2/messages/events/",
            QoS::AtLeastOnce,
            false,
            "still fine",
        )
        .await
        .expect("publish");
    bystander.puback().await;
    hub.stop().await;
}

#[tokio::test]
async fn an_oversize_packet_is_refused_before_it_is_read() {
    let hub = TestHub::start_with(62, Arc::new(NoModels), |c| c.max_packet_bytes = 4096).await;
    let (key, sas_key) = hub.sas_device("d1").await;
    let mut raw = Raw::open(&hub).await;
    assert_eq!(raw.connect(&key, &sas_key, 60).await, 0);
    // A PUBLISH header announcing 1 MiB; the hub closes without waiting for the body.
    raw.send_bytes(&[0x32, 0x80, 0x80, 0x40]).await;
    raw.until_closed().await;
    hub.stop().await;
}

#[tokio::test]
async fn publishing_to_another_devices_topic_closes_the_connection() {
    let hub = TestHub::start(63).await;
    let (key, sas_key) = hub.sas_device("d1").await;
    hub.sas_device("d2").await;
    let (mut device, _) = Device::connect(hub.sas_options(&key, &sas_key, None)).await;
    device
        .client
        .publish(
            "devices/d2/messages/events/",
            QoS::AtLeastOnce,
            false,
            "spoofed",
        )
        .await
        .expect("publish");
    device.closed().await;
    assert!(
        hub.events
            .all()
            .iter()
            .all(|e| e.source != twinhub_hub::EventSource::Telemetry)
    );
    hub.stop().await;
}

#[tokio::test]
async fn subscribing_to_another_devices_topics_is_refused_per_filter() {
    let hub = TestHub::start(64).await;
    let (key, sas_key) = hub.sas_device("d1").await;
    let (mut device, _) = Device::connect(hub.sas_options(&key, &sas_key, None)).await;
    device
        .client
        .subscribe_many([
            rumqttc::SubscribeFilter::new(
                "devices/d2/messages/devicebound/#".into(),
                QoS::AtLeastOnce,
            ),
            rumqttc::SubscribeFilter::new("$iothub/methods/POST/#".into(), QoS::ExactlyOnce),
            rumqttc::SubscribeFilter::new("#".into(), QoS::AtMostOnce),
        ])
        .await
        .expect("subscribe");
    let ack = device.suback().await;
    use rumqttc::SubscribeReasonCode::{Failure, Success};
    assert_eq!(
        ack.return_codes,
        vec![Failure, Success(QoS::AtLeastOnce), Failure]
    );
    hub.stop().await;
}

#[tokio::test]
async fn a_silent_connection_is_closed_after_one_and_a_half_keepalives() {
    let hub = TestHub::start(65).await;
    let (key, sas_key) = hub.sas_device("d1").await;
    let mut raw = Raw::open(&hub).await;
    assert_eq!(raw.connect(&key, &sas_key, 1).await, 0);
    raw.until_closed().await;
    within("the disconnection to be recorded", async {
        while hub.hub.is_connected(&key) {
            tokio::task::yield_now().await;
        }
    })
    .await;
    hub.stop().await;
}

#[tokio::test]
async fn malformed_packets_close_the_connection() {
    let hub = TestHub::start_with(66, Arc::new(NoModels), |c| {
        c.connect_timeout = std::time::Duration::from_secs(1);
    })
    .await;
    let (key, sas_key) = hub.sas_device("d1").await;
    for garbage in [
        &[0xF0_u8, 0x00][..],
        &[0x82, 0x02, 0x00, 0x00][..],
        &[0x30, 0x01, 0xFF][..],
    ] {
        let mut raw = Raw::open(&hub).await;
        assert_eq!(raw.connect(&key, &sas_key, 60).await, 0);
        raw.send_bytes(garbage).await;
        raw.until_closed().await;
    }
    // Not MQTT at all, before CONNECT: closed at the latest when the CONNECT time is up.
    let mut raw = Raw::open(&hub).await;
    raw.send_bytes(b"GET / HTTP/1.1\r\n\r\n").await;
    raw.until_closed().await;
    hub.stop().await;
}

#[tokio::test]
async fn an_mqtt_5_connect_gets_connack_1() {
    let hub = TestHub::start(67).await;
    let mut raw = Raw::open(&hub).await;
    // CONNECT, protocol "MQTT" level 5, clean session, keepalive 60, no properties, id "d1".
    raw.send_bytes(&[
        0x10, 0x11, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05, 0x02, 0x00, 0x3C, 0x00, 0x00, 0x02,
        b'd', b'1', 0x00, 0x00,
    ])
    .await;
    let mut connack = [0_u8; 4];
    raw.stream.read_exact(&mut connack).await.expect("CONNACK");
    assert_eq!(
        connack,
        [
            0x20,
            0x02,
            0x00,
            ConnectReturnCode::RefusedProtocolVersion as u8
        ]
    );
    hub.stop().await;
}
