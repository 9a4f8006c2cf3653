use rumqttc::{ConnectReturnCode, ConnectionError};
use twinhub_hub::{ConnectionState, IdentityKey, IdentityStatus, IdentityUpdate, sas};

use crate::support::{CONTROLLER, Device, HOST, TestHub, models, unix_now, user_name, within};

fn refused(error: ConnectionError) -> ConnectReturnCode {
    match error {
        ConnectionError::ConnectionRefused(code) => code,
        other => panic!("expected a refused CONNECT, got {other}"),
    }
}

#[tokio::test]
async fn a_device_connects_with_its_sas_token_and_its_model_id_lands_on_the_twin() {
    let hub = TestHub::start_with(10, models(), |_| {}).await;
    let (key, sas_key) = hub.sas_device("thermostat-01").await;

    let (device, ack) = Device::connect(hub.sas_options(&key, &sas_key, Some(CONTROLLER))).await;
    assert_eq!(ack.code, ConnectReturnCode::Success);
    assert!(!ack.session_present, "a first connection has no session");
    let twin = hub.hub.twin(&key).await.expect("twin");
    assert_eq!(twin.twin.model_id(), Some(CONTROLLER));
    let identity = hub.hub.identity(&key).await.expect("identity");
    assert_eq!(identity.connection_state, ConnectionState::Connected);
    hub.events
        .wait_for(|e| e.op_type.as_deref() == Some("deviceConnected") && e.key == key)
        .await;

    device.kill().await;
    let (_again, ack) = Device::connect(hub.sas_options(&key, &sas_key, Some(CONTROLLER))).await;
    assert!(
        ack.session_present,
        "the persistent session survives the reconnect"
    );
    hub.stop().await;
}

#[tokio::test]
async fn wrong_credentials_are_refused_with_connack_5() {
    let hub = TestHub::start(11).await;
    let (key, sas_key) = hub.sas_device("d1").await;
    let (other, other_key) = hub.sas_device("d2").await;
    let user = user_name(&key, None);
    let later = unix_now() + 3600;

    let wrong_key = sas::identity_token(HOST, &key, &other_key, later).expect("token");
    let expired = sas::identity_token(HOST, &key, &sas_key, unix_now() - 1).expect("token");
    let for_other = sas::identity_token(HOST, &other, &other_key, later).expect("token");
    for (what, password) in [
        ("wrong key", wrong_key),
        ("expired", expired),
        ("other device", for_other),
    ] {
        let mut device = Device::start(hub.options(&key, &user, &password, None));
        let code = refused(device.connack().await.expect_err(what));
        assert_eq!(code, ConnectReturnCode::NotAuthorized, "{what}");
    }

    let ghost = IdentityKey::device("ghost").expect("id");
    let token = sas::identity_token(HOST, &ghost, &sas_key, later).expect("token");
    let mut device = Device::start(hub.options(&ghost, &user_name(&ghost, None), &token, None));
    assert_eq!(
        refused(device.connack().await.expect_err("unregistered")),
        ConnectReturnCode::NotAuthorized
    );

    let update = IdentityUpdate {
        status: Some(IdentityStatus::Disabled),
        ..IdentityUpdate::default()
    };
    hub.hub
        .update_identity(&key, update, None)
        .await
        .expect("disable");
    let mut device = Device::start(hub.sas_options(&key, &sas_key, None));
    assert_eq!(
        refused(device.connack().await.expect_err("disabled")),
        ConnectReturnCode::NotAuthorized
    );

    // Nothing of the refused attempts shows on the registry.
    let identity = hub.hub.identity(&key).await.expect("identity");
    assert_eq!(identity.connection_state, ConnectionState::Disconnected);
    hub.stop().await;
}

#[tokio::test]
async fn a_user_name_for_another_hub_or_a_missing_password_is_refused_with_connack_4() {
    let hub = TestHub::start(12).await;
    let (key, sas_key) = hub.sas_device("d1").await;
    let token = sas::identity_token(HOST, &key, &sas_key, unix_now() + 60).expect("token");

    let mut device = Device::start(hub.options(&key, "elsewhere/d1/?api-version=1", &token, None));
    assert_eq!(
        refused(device.connack().await.expect_err("host")),
        ConnectReturnCode::BadUserNamePassword
    );
    let mut device = Device::start(hub.options(&key, "localhost/d9/?api-version=1", &token, None));
    assert_eq!(
        refused(device.connack().await.expect_err("client id")),
        ConnectReturnCode::BadUserNamePassword
    );
    let mut device = Device::start(hub.options(&key, &user_name(&key, None), "", None));
    assert_eq!(
        refused(device.connack().await.expect_err("password")),
        ConnectReturnCode::BadUserNamePassword
    );
    hub.stop().await;
}

#[tokio::test]
async fn a_new_connect_takes_over_the_identity() {
    let hub = TestHub::start(13).await;
    let (key, sas_key) = hub.sas_device("d1").await;
    let (mut first, _) = Device::connect(hub.sas_options(&key, &sas_key, None)).await;
    let (mut second, _) = Device::connect(hub.sas_options(&key, &sas_key, None)).await;

    first.closed().await;
    // The predecessor's close must not mark the identity disconnected.
    second.subscribe("$iothub/twin/res/#").await;
    second
        .client
        .publish(
            "$iothub/twin/GET/?$rid=after-takeover",
            rumqttc::QoS::AtLeastOnce,
            false,
            " ",
        )
        .await
        .expect("publish");
    let response = second.publish_on("$iothub/twin/res/200/").await;
    assert!(
        response.topic.ends_with("$rid=after-takeover"),
        "{}",
        response.topic
    );
    let identity = hub.hub.identity(&key).await.expect("identity");
    assert_eq!(identity.connection_state, ConnectionState::Connected);
    assert!(hub.hub.is_connected(&key));
    hub.stop().await;
}

#[tokio::test]
async fn a_device_deleted_or_disabled_while_connected_is_disconnected() {
    let hub = TestHub::start(14).await;
    let (key, sas_key) = hub.sas_device("d1").await;
    let (mut device, _) = Device::connect(hub.sas_options(&key, &sas_key, None)).await;
    let update = IdentityUpdate {
        status: Some(IdentityStatus::Disabled),
        status_reason: Some("maintenance".into()),
        ..IdentityUpdate::default()
    };
    hub.hub
        .update_identity(&key, update, None)
        .await
        .expect("disable");
    device.closed().await;

    let (key2, sas_key2) = hub.sas_device("d2").await;
    let (mut device2, _) = Device::connect(hub.sas_options(&key2, &sas_key2, None)).await;
    hub.hub.delete_identity(&key2, None).await.expect("delete");
    device2.closed().await;
    within("the deleted device to be forgotten", async {
        while hub.hub.is_connected(&key2) {
            tokio::task::yield_now().await;
        }
    })
    .await;
    hub.stop().await;
}

#[tokio::test]
async fn stopping_the_hub_closes_connections_and_records_them_disconnected() {
    let hub = TestHub::start(15).await;
    let (key, sas_key) = hub.sas_device("d1").await;
    let (mut device, _) = Device::connect(hub.sas_options(&key, &sas_key, None)).await;
    let handle = hub.hub.clone();
    hub.stop().await;
    device.closed().await;
    let identity = handle.identity(&key).await.expect("identity");
    assert_eq!(identity.connection_state, ConnectionState::Disconnected);
}
