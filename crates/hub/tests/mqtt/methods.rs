use std::time::Duration;

use rumqttc::QoS;
use serde_json::json;
use twinhub_hub::HubError;

use crate::support::{CONTROLLER, Device, TestHub, models};

#[tokio::test]
async fn a_component_command_round_trips_through_the_device() {
    let hub = TestHub::start_with(40, models(), |_| {}).await;
    let (key, sas_key) = hub.sas_device("thermostat-01").await;
    let (mut device, _) = Device::connect(hub.sas_options(&key, &sas_key, Some(CONTROLLER))).await;
    device.subscribe("$iothub/methods/POST/#").await;

    let caller = hub.hub.clone();
    let target = key.clone();
    let call = tokio::spawn(async move {
        caller
            .invoke_command(
                &target,
                Some("thermostat1"),
                "getMaxMinReport",
                json!("2024-01-01T00:00:00Z"),
                Duration::from_secs(30),
                true,
            )
            .await
    });
    let request = device.publish_on("$iothub/methods/POST/").await;
    let (name, rid) = request
        .topic
        .strip_prefix("$iothub/methods/POST/")
        .and_then(|rest| rest.split_once("/?$rid="))
        .expect("method topic");
    assert_eq!(name, "thermostat1*getMaxMinReport");
    assert_eq!(&request.payload[..], br#""2024-01-01T00:00:00Z""#);
    device
        .client
        .publish(
            format!("$iothub/methods/res/200/?$rid={rid}"),
            QoS::AtLeastOnce,
            false,
            "30.1",
        )
        .await
        .expect("answer");
    let response = call.await.expect("join").expect("answered");
    assert_eq!(response.status, 200);
    assert_eq!(response.payload, json!(30.1));
    hub.stop().await;
}

#[tokio::test]
async fn methods_to_offline_or_unsubscribed_devices_fail_at_once() {
    let hub = TestHub::start(41).await;
    let (key, sas_key) = hub.sas_device("d1").await;
    let call = |hub: &TestHub| {
        let hub = hub.hub.clone();
        let key = key.clone();
        async move {
            hub.invoke_command(
                &key,
                None,
                "reboot",
                json!(null),
                Duration::from_secs(30),
                true,
            )
            .await
        }
    };
    assert!(matches!(call(&hub).await, Err(HubError::DeviceOffline(_))));
    let (_device, _) = Device::connect(hub.sas_options(&key, &sas_key, None)).await;
    assert!(
        matches!(call(&hub).await, Err(HubError::DeviceOffline(_))),
        "not subscribed to methods"
    );
    hub.stop().await;
}

#[tokio::test]
async fn an_unanswered_method_times_out() {
    let hub = TestHub::start(42).await;
    let (key, sas_key) = hub.sas_device("d1").await;
    let (mut device, _) = Device::connect(hub.sas_options(&key, &sas_key, None)).await;
    device.subscribe("$iothub/methods/POST/#").await;
    let result = hub
        .hub
        .invoke_command(
            &key,
            None,
            "slow",
            json!({"n": 1}),
            Duration::from_millis(200),
            true,
        )
        .await;
    assert!(
        matches!(result, Err(HubError::Timeout { .. })),
        "{result:?}"
    );
    // A late answer is dropped without harm.
    let request = device.publish_on("$iothub/methods/POST/slow/").await;
    let rid = request
        .topic
        .rsplit("$rid=")
        .next()
        .expect("rid")
        .to_owned();
    device
        .client
        .publish(
            format!("$iothub/methods/res/200/?$rid={rid}"),
            QoS::AtLeastOnce,
            false,
            "{}",
        )
        .await
        .expect("late answer");
    device.puback().await;
    hub.stop().await;
}

#[tokio::test]
async fn commands_the_model_forbids_are_refused_before_sending() {
    let hub = TestHub::start_with(43, models(), |_| {}).await;
    let (key, sas_key) = hub.sas_device("thermostat-01").await;
    let (mut device, _) = Device::connect(hub.sas_options(&key, &sas_key, Some(CONTROLLER))).await;
    device.subscribe("$iothub/methods/POST/#").await;
    for (component, command, payload) in [
        (None, "selfDestruct", json!(null)),
        (Some("thermostat1"), "getMaxMinReport", json!(17)),
        (
            Some("thermostat9"),
            "getMaxMinReport",
            json!("2024-01-01T00:00:00Z"),
        ),
    ] {
        let result = hub
            .hub
            .invoke_command(
                &key,
                component,
                command,
                payload,
                Duration::from_secs(30),
                true,
            )
            .await;
        assert!(
            matches!(result, Err(HubError::ModelViolations { .. })),
            "{command}: {result:?}"
        );
    }
    hub.stop().await;
}
