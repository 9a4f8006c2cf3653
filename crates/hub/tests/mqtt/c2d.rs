use std::time::Duration;

use twinhub_hub::{HubError, OutgoingC2d};

use crate::support::{Device, TestHub, within};

fn message(id: &str, body: &str) -> OutgoingC2d {
    OutgoingC2d {
        body: body.as_bytes().to_vec(),
        properties: vec![("color".into(), Some("red".into())), ("flag".into(), None)],
        message_id: Some(id.into()),
        content_type: Some("text/plain".into()),
        ..OutgoingC2d::default()
    }
}

async fn pending(hub: &TestHub, key: &twinhub_hub::IdentityKey) -> usize {
    hub.hub.pending_c2d_count(key).await.expect("pending")
}

async fn until_no_pending(hub: &TestHub, key: &twinhub_hub::IdentityKey) {
    within("the acknowledgement to be recorded", async {
        while pending(hub, key).await > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn c2d_messages_arrive_with_their_properties_and_leave_the_queue_when_acknowledged() {
    let hub = TestHub::start(50).await;
    let (key, sas_key) = hub.sas_device("thermostat-01").await;
    let (mut device, _) = Device::connect(hub.sas_options(&key, &sas_key, None)).await;
    device
        .subscribe("devices/thermostat-01/messages/devicebound/#")
        .await;
    hub.hub
        .send_c2d(&key, message("c2d-1", "hello device"))
        .await
        .expect("send");
    let delivered = device
        .publish_on("devices/thermostat-01/messages/devicebound/")
        .await;
    assert_eq!(
        delivered.topic,
        "devices/thermostat-01/messages/devicebound/%24.mid=c2d-1\
         &%24.to=%2Fdevices%2Fthermostat-01%2Fmessages%2FdeviceBound&%24.ct=text%2Fplain&color=red&flag"
    );
    assert_eq!(delivered.qos, rumqttc::QoS::AtLeastOnce);
    assert_eq!(&delivered.payload[..], b"hello device");
    until_no_pending(&hub, &key).await;
    hub.stop().await;
}

#[tokio::test]
async fn unacknowledged_c2d_is_redelivered_after_reconnect_without_resubscribing() {
    let hub = TestHub::start(51).await;
    let (key, sas_key) = hub.sas_device("d1").await;
    let mut options = hub.sas_options(&key, &sas_key, None);
    options.set_manual_acks(true);
    let (mut device, _) = Device::connect(options.clone()).await;
    device.subscribe("devices/d1/messages/devicebound/#").await;
    hub.hub
        .send_c2d(&key, message("first", "1"))
        .await
        .expect("send");
    let first = device.publish_on("devices/d1/messages/devicebound/").await;
    assert!(!first.dup);
    device.kill().await; // never acknowledged
    hub.hub
        .send_c2d(&key, message("second", "2"))
        .await
        .expect("queued offline");

    let (mut device, ack) = Device::connect(options).await;
    assert!(ack.session_present);
    let again = device.publish_on("devices/d1/messages/devicebound/").await;
    assert!(again.topic.contains("%24.mid=first"), "{}", again.topic);
    assert!(again.dup, "a redelivery is marked DUP");
    let second = device.publish_on("devices/d1/messages/devicebound/").await;
    assert!(second.topic.contains("%24.mid=second"), "{}", second.topic);
    device.client.ack(&again).await.expect("ack");
    device.client.ack(&second).await.expect("ack");
    until_no_pending(&hub, &key).await;
    hub.stop().await;
}

#[tokio::test]
async fn the_c2d_queue_is_bounded_and_refuses_what_cannot_be_delivered() {
    let hub = TestHub::start_with(52, std::sync::Arc::new(twinhub_hub::NoModels), |c| {
        c.c2d_max_pending = 2;
    })
    .await;
    let (key, _) = hub.sas_device("d1").await;
    hub.hub
        .send_c2d(&key, message("a", "1"))
        .await
        .expect("first");
    hub.hub
        .send_c2d(&key, message("b", "2"))
        .await
        .expect("second");
    let full = hub.hub.send_c2d(&key, message("c", "3")).await;
    assert!(
        matches!(full, Err(HubError::QueueFull { limit: 2, .. })),
        "{full:?}"
    );
    let long = OutgoingC2d {
        ttl: Some(Duration::from_secs(49 * 3600)),
        ..message("d", "4")
    };
    assert!(matches!(
        hub.hub.send_c2d(&key, long).await,
        Err(HubError::Invalid(_))
    ));
    let ghost = twinhub_hub::IdentityKey::device("ghost").expect("id");
    assert!(matches!(
        hub.hub.send_c2d(&ghost, message("e", "5")).await,
        Err(HubError::NotFound(_))
    ));
    hub.stop().await;
}
