use rumqttc::QoS;
use twinhub_hub::{EventSource, IdentityKey};

use crate::support::{CONTROLLER, Device, TestHub, models, within};

#[tokio::test]
async fn telemetry_reaches_the_event_sink_with_its_properties() {
    let hub = TestHub::start_with(20, models(), |_| {}).await;
    let (key, sas_key) = hub.sas_device("thermostat-01").await;
    let (mut device, _) = Device::connect(hub.sas_options(&key, &sas_key, Some(CONTROLLER))).await;

    let topic = "devices/thermostat-01/messages/events/%24.ct=application%2Fjson&%24.ce=utf-8\
                 &%24.sub=thermostat1&%24.mid=m-1&color=red%20%26%20blue&flag";
    device
        .client
        .publish(topic, QoS::AtLeastOnce, false, r#"{"temperature": 21.5}"#)
        .await
        .expect("publish");
    device.puback().await;

    let event = hub
        .events
        .wait_for(|e| e.source == EventSource::Telemetry)
        .await;
    assert_eq!(event.key, key);
    assert_eq!(event.component.as_deref(), Some("thermostat1"));
    assert_eq!(event.content_type.as_deref(), Some("application/json"));
    assert_eq!(event.content_encoding.as_deref(), Some("utf-8"));
    assert_eq!(event.message_id.as_deref(), Some("m-1"));
    assert_eq!(event.model_id.as_deref(), Some(CONTROLLER));
    assert_eq!(
        event.properties,
        vec![
            ("color".to_owned(), Some("red & blue".to_owned())),
            ("flag".to_owned(), None)
        ]
    );
    assert_eq!(event.body, br#"{"temperature": 21.5}"#);
    assert!(event.violations.is_empty(), "{:?}", event.violations);
    let identity = hub.hub.identity(&key).await.expect("identity");
    assert!(identity.last_activity.is_some());
    hub.stop().await;
}

#[tokio::test]
async fn telemetry_that_breaks_the_model_is_kept_flagged_and_counted() {
    let hub = TestHub::start_with(21, models(), |_| {}).await;
    let (key, sas_key) = hub.sas_device("thermostat-01").await;
    let (mut device, _) = Device::connect(hub.sas_options(&key, &sas_key, Some(CONTROLLER))).await;
    device
        .client
        .publish(
            "devices/thermostat-01/messages/events/",
            QoS::AtLeastOnce,
            false,
            r#"{"temperature": "hot", "humidity": 3}"#,
        )
        .await
        .expect("publish");
    device.puback().await;
    let event = hub
        .events
        .wait_for(|e| e.source == EventSource::Telemetry)
        .await;
    assert_eq!(event.violations.len(), 2, "{:?}", event.violations);
    assert_eq!(event.body, br#"{"temperature": "hot", "humidity": 3}"#);
    let twin = hub.hub.twin(&key).await.expect("twin");
    assert_eq!(twin.violation_count, 1);
    hub.stop().await;
}

#[tokio::test]
async fn module_identities_use_their_own_topics_and_twins() {
    let hub = TestHub::start(22).await;
    hub.sas_device("edge-01").await;
    let module = IdentityKey::module("edge-01", "filter").expect("id");
    let (_, module_key) = hub.sas_identity(module.clone()).await;
    let (mut device, _) = Device::connect(hub.sas_options(&module, &module_key, None)).await;

    device
        .client
        .publish(
            "devices/edge-01/modules/filter/messages/events/kind=module",
            QoS::AtLeastOnce,
            false,
            "x",
        )
        .await
        .expect("publish");
    device.puback().await;
    let event = hub
        .events
        .wait_for(|e| e.source == EventSource::Telemetry)
        .await;
    assert_eq!(event.key, module);

    device.subscribe("$iothub/twin/res/#").await;
    device
        .client
        .publish(
            "$iothub/twin/PATCH/properties/reported/?$rid=7",
            QoS::AtLeastOnce,
            false,
            r#"{"stage": "filtering"}"#,
        )
        .await
        .expect("publish");
    device.publish_on("$iothub/twin/res/204/").await;
    let module_twin = hub.hub.twin(&module).await.expect("module twin");
    assert_eq!(module_twin.twin.reported()["stage"], "filtering");
    let device_twin = hub
        .hub
        .twin(&module.device_key())
        .await
        .expect("device twin");
    assert!(
        device_twin.twin.reported().is_empty(),
        "the device's own twin is untouched"
    );

    // A module may not publish as its device.
    device
        .client
        .publish(
            "devices/edge-01/messages/events/",
            QoS::AtLeastOnce,
            false,
            "x",
        )
        .await
        .expect("publish");
    within("the connection to close", device.closed()).await;
    hub.stop().await;
}

#[tokio::test]
async fn the_will_is_sent_as_telemetry_when_the_connection_breaks() {
    let hub = TestHub::start(23).await;
    let (key, sas_key) = hub.sas_device("d1").await;
    let mut options = hub.sas_options(&key, &sas_key, None);
    options.set_last_will(rumqttc::LastWill::new(
        "devices/d1/messages/events/reason=lost",
        "gone",
        QoS::AtLeastOnce,
        false,
    ));
    let (device, _) = Device::connect(options.clone()).await;
    device.kill().await;
    let will = hub
        .events
        .wait_for(|e| e.source == EventSource::Telemetry)
        .await;
    assert_eq!(will.body, b"gone");
    assert_eq!(
        will.properties,
        vec![
            ("reason".to_owned(), Some("lost".to_owned())),
            ("iothub-messagetype".to_owned(), Some("Will".to_owned()))
        ]
    );

    // A clean DISCONNECT sends no will.
    let (device, _) = Device::connect(options).await;
    device.client.disconnect().await.expect("disconnect");
    let mut device = device;
    device.closed().await;
    within("the disconnection", async {
        while hub.hub.is_connected(&key) {
            tokio::task::yield_now().await;
        }
    })
    .await;
    let wills = hub
        .events
        .all()
        .into_iter()
        .filter(|e| e.source == EventSource::Telemetry)
        .count();
    assert_eq!(wills, 1);
    hub.stop().await;
}
