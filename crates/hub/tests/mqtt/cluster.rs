//! Two hubs sharing one store, as two instances on one database, wired by an in-process
//! switchboard standing in for NATS: what reaches one instance for a device connected to the
//! other is delivered through the other, and a second connection of an identity on another
//! instance closes the first.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;
use twinhub_hub::{
    CommandResponse, ConnectionState, EventSource, Hub, HubError, MemoryHubStore, NoModels,
    OutgoingC2d, PeerCallError, PeerMethodCall, PeerNotice, Peers, TwinUpdate,
};

use crate::support::{Device, TestHub, within};

/// Delivers notices to every other registered hub and method calls to the named one.
#[derive(Default)]
struct Switchboard {
    hubs: Mutex<HashMap<String, Hub>>,
    me: String,
}

/// One switchboard per instance, all sharing the directory of hubs.
fn switchboards(names: &[&str]) -> Vec<Arc<Switchboard>> {
    names
        .iter()
        .map(|name| {
            Arc::new(Switchboard {
                hubs: Mutex::default(),
                me: (*name).to_owned(),
            })
        })
        .collect()
}

impl Switchboard {
    fn others(&self) -> Vec<Hub> {
        let hubs = self.hubs.lock().expect("directory");
        hubs.iter()
            .filter(|(name, _)| **name != self.me)
            .map(|(_, hub)| hub.clone())
            .collect()
    }
}

#[async_trait]
impl Peers for Switchboard {
    async fn notify(&self, notice: &PeerNotice) {
        for hub in self.others() {
            // Spawned, as NATS delivers: the sender does not wait for the receiver.
            let notice = notice.clone();
            tokio::spawn(async move { hub.on_peer_notice(notice).await });
        }
    }

    async fn call_method(
        &self,
        instance: &str,
        call: &PeerMethodCall,
    ) -> Result<CommandResponse, PeerCallError> {
        let hub = self.hubs.lock().expect("directory").get(instance).cloned();
        match hub {
            Some(hub) => hub.on_peer_method(call.clone()).await,
            None => Err(PeerCallError::Offline),
        }
    }
}

struct Cluster {
    a: TestHub,
    b: TestHub,
}

async fn cluster(a: u8, b: u8) -> Cluster {
    let store = Arc::new(MemoryHubStore::new());
    let boards = switchboards(&["instance-a", "instance-b"]);
    let start = |n: u8, board: Arc<Switchboard>| {
        let store = store.clone();
        async move {
            let name = board.me.clone();
            TestHub::start_on(n, store, Arc::new(NoModels), Some(board), |config| {
                config.instance_id = name;
            })
            .await
        }
    };
    let hub_a = start(a, boards[0].clone()).await;
    let hub_b = start(b, boards[1].clone()).await;
    for board in &boards {
        let mut hubs = board.hubs.lock().expect("directory");
        hubs.insert("instance-a".into(), hub_a.hub.clone());
        hubs.insert("instance-b".into(), hub_b.hub.clone());
    }
    Cluster { a: hub_a, b: hub_b }
}

#[tokio::test]
async fn commands_desired_updates_and_c2d_sent_through_one_instance_reach_a_device_on_the_other() {
    let Cluster { a, b } = cluster(72, 73).await;
    let (key, sas_key) = a.sas_device("thermostat-01").await;
    let (mut device, _) = Device::connect(a.sas_options(&key, &sas_key, None)).await;
    device.subscribe("$iothub/methods/POST/#").await;
    device
        .subscribe("$iothub/twin/PATCH/properties/desired/#")
        .await;
    device
        .subscribe("devices/thermostat-01/messages/devicebound/#")
        .await;
    assert!(a.hub.is_connected(&key) && !b.hub.is_connected(&key));

    let caller = b.hub.clone();
    let target = key.clone();
    let call = tokio::spawn(async move {
        caller
            .invoke_command(
                &target,
                None,
                "reboot",
                json!({"delay": 5}),
                Duration::from_secs(30),
                true,
            )
            .await
    });
    let request = device.answer_method(201, r#"{"rebooting":true}"#).await;
    assert!(
        request
            .topic
            .starts_with("$iothub/methods/POST/reboot/?$rid=")
    );
    assert_eq!(&request.payload[..], br#"{"delay":5}"#);
    let response = within("the forwarded answer", call)
        .await
        .expect("join")
        .expect("answered through instance b");
    assert_eq!(response.status, 201);
    assert_eq!(response.payload, json!({"rebooting": true}));

    b.hub
        .update_twin(
            &key,
            TwinUpdate {
                desired: Some(json!({"targetTemperature": 21.5})),
                ..TwinUpdate::default()
            },
            None,
            true,
        )
        .await
        .expect("desired update through b");
    let pushed = device
        .publish_on("$iothub/twin/PATCH/properties/desired/")
        .await;
    assert_eq!(
        pushed.topic,
        "$iothub/twin/PATCH/properties/desired/?$version=2"
    );
    let body: serde_json::Value = serde_json::from_slice(&pushed.payload).expect("json");
    assert_eq!(body, json!({"targetTemperature": 21.5, "$version": 2}));

    b.hub
        .send_c2d(
            &key,
            OutgoingC2d {
                body: b"through b".to_vec(),
                message_id: Some("m-1".into()),
                ..OutgoingC2d::default()
            },
        )
        .await
        .expect("c2d through b");
    let message = device
        .publish_on("devices/thermostat-01/messages/devicebound/")
        .await;
    assert_eq!(&message.payload[..], b"through b");

    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_second_connection_on_another_instance_closes_the_first_and_stays_connected() {
    let Cluster { a, b } = cluster(74, 75).await;
    let (key, sas_key) = a.sas_device("d1").await;
    let (mut first, _) = Device::connect(a.sas_options(&key, &sas_key, None)).await;
    a.events
        .wait_for(|e| e.source == EventSource::DeviceConnectionStateEvents)
        .await;

    let (mut second, _) = Device::connect(b.sas_options(&key, &sas_key, None)).await;
    within("the first connection to close", first.closed()).await;
    within("instance a to let go", async {
        while a.hub.is_connected(&key) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let identity = b.hub.identity(&key).await.expect("identity");
    assert_eq!(identity.connection_state, ConnectionState::Connected);
    assert!(b.hub.is_connected(&key));
    let disconnected_on_a = a
        .events
        .all()
        .into_iter()
        .any(|e| e.op_type.as_deref() == Some("deviceDisconnected"));
    assert!(
        !disconnected_on_a,
        "the takeover is no disconnection: instance a records none"
    );

    // Commands through a now go to b's connection.
    second.subscribe("$iothub/methods/POST/#").await;
    let caller = a.hub.clone();
    let target = key.clone();
    let call = tokio::spawn(async move {
        caller
            .invoke_command(
                &target,
                None,
                "ping",
                json!(null),
                Duration::from_secs(30),
                true,
            )
            .await
    });
    let request = second.answer_method(200, "{}").await;
    assert!(
        request
            .topic
            .starts_with("$iothub/methods/POST/ping/?$rid=")
    );
    let response = within("the answer", call).await.expect("join").expect("ok");
    assert_eq!(response.status, 200);

    second.kill().await;
    within("the disconnection to be recorded", async {
        while b
            .hub
            .identity(&key)
            .await
            .expect("identity")
            .connection_state
            == ConnectionState::Connected
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let offline = a
        .hub
        .invoke_command(
            &key,
            None,
            "ping",
            json!(null),
            Duration::from_secs(5),
            true,
        )
        .await;
    assert!(
        matches!(offline, Err(HubError::DeviceOffline(_))),
        "{offline:?}"
    );
    a.stop().await;
    b.stop().await;
}
