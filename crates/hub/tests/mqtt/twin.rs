use rumqttc::QoS;
use serde_json::{Value, json};
use twinhub_hub::{HubError, TwinUpdate};
use twinhub_twin::IfMatch;

use crate::support::{CONTROLLER, Device, TestHub, models};

fn body(p: &rumqttc::Publish) -> Value {
    serde_json::from_slice(&p.payload).expect("JSON body")
}

#[tokio::test]
async fn twin_get_and_reported_patch_follow_the_protocol() {
    let hub = TestHub::start(30).await;
    let (key, sas_key) = hub.sas_device("thermostat-01").await;
    let (mut device, _) = Device::connect(hub.sas_options(&key, &sas_key, None)).await;
    device.subscribe("$iothub/twin/res/#").await;

    device
        .client
        .publish("$iothub/twin/GET/?$rid=bea4", QoS::AtLeastOnce, false, " ")
        .await
        .expect("publish");
    let response = device.publish_on("$iothub/twin/res/").await;
    assert_eq!(response.topic, "$iothub/twin/res/200/?$rid=bea4");
    assert_eq!(
        body(&response),
        json!({"desired": {"$version": 1}, "reported": {"$version": 1}})
    );

    device
        .client
        .publish(
            "$iothub/twin/PATCH/properties/reported/?$rid=4bf2",
            QoS::AtLeastOnce,
            false,
            r#"{"thermostat1": {"__t": "c", "maxTempSinceLastReboot": 30.1}}"#,
        )
        .await
        .expect("publish");
    let response = device.publish_on("$iothub/twin/res/").await;
    assert_eq!(response.topic, "$iothub/twin/res/204/?$rid=4bf2&$version=2");
    assert!(response.payload.is_empty());
    let twin = hub.hub.twin(&key).await.expect("twin");
    assert_eq!(
        twin.twin.reported()["thermostat1"]["maxTempSinceLastReboot"],
        30.1
    );
    assert_eq!(twin.twin.reported_version(), 2);
    hub.stop().await;
}

#[tokio::test]
async fn a_reported_patch_that_is_not_an_object_gets_status_400() {
    let hub = TestHub::start(31).await;
    let (key, sas_key) = hub.sas_device("d1").await;
    let (mut device, _) = Device::connect(hub.sas_options(&key, &sas_key, None)).await;
    device.subscribe("$iothub/twin/res/#").await;
    for (rid, payload) in [("a", "[1, 2]"), ("b", "not json")] {
        device
            .client
            .publish(
                format!("$iothub/twin/PATCH/properties/reported/?$rid={rid}"),
                QoS::AtLeastOnce,
                false,
                payload,
            )
            .await
            .expect("publish");
        let response = device.publish_on("$iothub/twin/res/").await;
        assert_eq!(response.topic, format!("$iothub/twin/res/400/?$rid={rid}"));
        assert!(body(&response)["message"].as_str().is_some());
    }
    let twin = hub.hub.twin(&key).await.expect("twin");
    assert_eq!(twin.twin.reported_version(), 1, "nothing was applied");
    hub.stop().await;
}

#[tokio::test]
async fn reported_values_breaking_the_model_are_kept_and_flagged() {
    let hub = TestHub::start_with(32, models(), |_| {}).await;
    let (key, sas_key) = hub.sas_device("thermostat-01").await;
    let (mut device, _) = Device::connect(hub.sas_options(&key, &sas_key, Some(CONTROLLER))).await;
    device.subscribe("$iothub/twin/res/#").await;
    device
        .client
        .publish(
            "$iothub/twin/PATCH/properties/reported/?$rid=1",
            QoS::AtLeastOnce,
            false,
            r#"{"maxTempSinceLastReboot": "warm", "targetTemperature": {"value": 21.0, "ac": 200, "av": 1}}"#,
        )
        .await
        .expect("publish");
    device.publish_on("$iothub/twin/res/204/").await;
    let twin = hub.hub.twin(&key).await.expect("twin");
    assert_eq!(
        twin.twin.reported()["maxTempSinceLastReboot"],
        "warm",
        "kept"
    );
    assert!(
        twin.reported_flags.contains_key("/maxTempSinceLastReboot"),
        "{:?}",
        twin.reported_flags
    );
    assert!(!twin.reported_flags.contains_key("/targetTemperature"));
    assert_eq!(twin.violation_count, 1);

    // A correct value clears the flag.
    device
        .client
        .publish(
            "$iothub/twin/PATCH/properties/reported/?$rid=2",
            QoS::AtLeastOnce,
            false,
            r#"{"maxTempSinceLastReboot": 30.5}"#,
        )
        .await
        .expect("publish");
    device.publish_on("$iothub/twin/res/204/").await;
    let twin = hub.hub.twin(&key).await.expect("twin");
    assert!(twin.reported_flags.is_empty(), "{:?}", twin.reported_flags);
    hub.stop().await;
}

#[tokio::test]
async fn desired_updates_are_pushed_at_once_with_their_version() {
    let hub = TestHub::start_with(33, models(), |_| {}).await;
    let (key, sas_key) = hub.sas_device("thermostat-01").await;
    let (mut device, _) = Device::connect(hub.sas_options(&key, &sas_key, Some(CONTROLLER))).await;
    device
        .subscribe("$iothub/twin/PATCH/properties/desired/#")
        .await;

    let update = TwinUpdate {
        desired: Some(json!({"thermostat1": {"__t": "c", "targetTemperature": 25.0}})),
        ..TwinUpdate::default()
    };
    let record = hub
        .hub
        .update_twin(&key, update, None, true)
        .await
        .expect("update");
    let push = device
        .publish_on("$iothub/twin/PATCH/properties/desired/")
        .await;
    assert_eq!(
        push.topic,
        "$iothub/twin/PATCH/properties/desired/?$version=2"
    );
    assert_eq!(
        body(&push),
        json!({"thermostat1": {"__t": "c", "targetTemperature": 25.0}, "$version": 2})
    );

    // The etag guards the next change; the model guards what may be desired.
    let stale = IfMatch::Tags(vec!["AAAAAAAAAAE=".into()]);
    let again = TwinUpdate {
        desired: Some(json!({"targetTemperature": 20.0})),
        ..TwinUpdate::default()
    };
    let err = hub
        .hub
        .update_twin(&key, again.clone(), Some(&stale), true)
        .await
        .expect_err("stale");
    assert!(matches!(err, HubError::PreconditionFailed { .. }), "{err}");
    let current = IfMatch::Tags(vec![record.twin.etag().to_string()]);
    hub.hub
        .update_twin(&key, again, Some(&current), true)
        .await
        .expect("current etag");
    let push = device
        .publish_on("$iothub/twin/PATCH/properties/desired/")
        .await;
    assert_eq!(body(&push)["$version"], 3);

    let forbidden = TwinUpdate {
        desired: Some(json!({"maxTempSinceLastReboot": 1.0, "unknown": 1})),
        ..TwinUpdate::default()
    };
    let err = hub
        .hub
        .update_twin(&key, forbidden.clone(), None, true)
        .await
        .expect_err("model");
    let HubError::ModelViolations {
        model_id,
        violations,
    } = err
    else {
        panic!("expected model violations");
    };
    assert_eq!(model_id, CONTROLLER);
    assert_eq!(violations.len(), 2, "{violations:?}");
    hub.hub
        .update_twin(&key, forbidden, None, false)
        .await
        .expect("unvalidated");
    let push = device
        .publish_on("$iothub/twin/PATCH/properties/desired/")
        .await;
    assert_eq!(body(&push)["$version"], 4);
    hub.stop().await;
}

#[tokio::test]
async fn a_digital_twin_patch_becomes_a_desired_push() {
    let hub = TestHub::start_with(34, models(), |_| {}).await;
    let (key, sas_key) = hub.sas_device("thermostat-01").await;
    let (mut device, _) = Device::connect(hub.sas_options(&key, &sas_key, Some(CONTROLLER))).await;
    device
        .subscribe("$iothub/twin/PATCH/properties/desired/#")
        .await;
    let patch = json!([{"op": "add", "path": "/thermostat1/targetTemperature", "value": 42.0}]);
    hub.hub
        .patch_digital_twin(&key, &patch, None, true)
        .await
        .expect("patch");
    let push = device
        .publish_on("$iothub/twin/PATCH/properties/desired/")
        .await;
    assert_eq!(
        body(&push),
        json!({"thermostat1": {"__t": "c", "targetTemperature": 42.0}, "$version": 2})
    );
    let dt = hub.hub.digital_twin(&key).await.expect("digital twin");
    assert_eq!(dt["$metadata"]["$model"], CONTROLLER);
    assert_eq!(
        dt["thermostat1"]["$metadata"]["targetTemperature"]["desiredValue"],
        42.0
    );
    hub.stop().await;
}
