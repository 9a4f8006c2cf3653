//! The registry and twin operations of the [`Hub`] facade, without any device connected.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::json;
use twinhub_hub::{
    Authentication, Hub, HubConfig, HubError, IdentityKey, IdentityQuery, IdentityStatus,
    IdentityUpdate, KeyChoice, MemoryHubStore, ModelSource, ModelSourceError, NoModels, TwinUpdate,
};
use twinhub_twin::{DeviceModel, Etag, IfMatch};

fn hub() -> Hub {
    Hub::new(
        Arc::new(MemoryHubStore::new()),
        Arc::new(NoModels),
        HubConfig::default(),
    )
}

fn device(id: &str) -> IdentityKey {
    IdentityKey::device(id).expect("id")
}

#[tokio::test]
async fn a_created_device_has_generated_keys_and_a_connection_string() {
    let hub = hub();
    let identity = hub
        .create_identity(device("d1"), None, IdentityStatus::Enabled)
        .await
        .expect("create");
    let Authentication::Sas {
        primary_key,
        secondary_key,
    } = &identity.authentication
    else {
        panic!("SAS expected");
    };
    assert_ne!(primary_key, secondary_key);
    assert_eq!(
        hub.connection_string(&identity, KeyChoice::Secondary)
            .expect("string"),
        format!("HostName=localhost;DeviceId=d1;SharedAccessKey={secondary_key}")
    );
    let again = hub
        .create_identity(device("d1"), None, IdentityStatus::Enabled)
        .await;
    assert!(
        matches!(again, Err(HubError::AlreadyExists(_))),
        "{again:?}"
    );

    let orphan = IdentityKey::module("nobody", "m").expect("id");
    let result = hub
        .create_identity(orphan, None, IdentityStatus::Enabled)
        .await;
    assert!(matches!(result, Err(HubError::NotFound(k)) if k == device("nobody")));

    let module = IdentityKey::module("d1", "filter").expect("id");
    let created = hub
        .create_identity(module, None, IdentityStatus::Disabled)
        .await
        .expect("module");
    assert_eq!(created.status, IdentityStatus::Disabled);
    let string = hub
        .connection_string(&created, KeyChoice::Primary)
        .expect("string");
    assert!(string.starts_with("HostName=localhost;DeviceId=d1;ModuleId=filter;SharedAccessKey="));
}

#[tokio::test]
async fn given_credentials_are_checked_and_thumbprints_normalised() {
    let hub = hub();
    let short = Authentication::Sas {
        primary_key: "c2hvcnQ=".into(),
        secondary_key: "c2hvcnQ=".into(),
    };
    let result = hub
        .create_identity(device("a"), Some(short), IdentityStatus::Enabled)
        .await;
    assert!(matches!(result, Err(HubError::Invalid(_))), "{result:?}");
    let not_hex = Authentication::SelfSigned {
        primary_thumbprint: "xyz".into(),
        secondary_thumbprint: None,
    };
    let result = hub
        .create_identity(device("b"), Some(not_hex), IdentityStatus::Enabled)
        .await;
    assert!(matches!(result, Err(HubError::Invalid(_))), "{result:?}");
    let colons = "ab:".repeat(19) + "ab";
    let x509 = Authentication::SelfSigned {
        primary_thumbprint: colons,
        secondary_thumbprint: None,
    };
    let identity = hub
        .create_identity(device("c"), Some(x509), IdentityStatus::Enabled)
        .await
        .expect("create");
    assert_eq!(
        identity.authentication,
        Authentication::SelfSigned {
            primary_thumbprint: "AB".repeat(20),
            secondary_thumbprint: None
        }
    );
    assert_eq!(
        hub.connection_string(&identity, KeyChoice::Primary)
            .expect("string"),
        "HostName=localhost;DeviceId=c;x509=true"
    );
}

#[tokio::test]
async fn identity_updates_honour_if_match_and_regenerate_keys() {
    let hub = hub();
    let identity = hub
        .create_identity(device("d1"), None, IdentityStatus::Enabled)
        .await
        .expect("create");
    let Authentication::Sas {
        primary_key,
        secondary_key,
    } = identity.authentication.clone()
    else {
        panic!("SAS expected");
    };
    let stale = IfMatch::Tags(vec![Etag::from_counter(identity.etag + 5).to_string()]);
    let update = IdentityUpdate {
        regenerate: Some(KeyChoice::Primary),
        ..IdentityUpdate::default()
    };
    let result = hub
        .update_identity(&identity.key, update.clone(), Some(&stale))
        .await;
    assert!(
        matches!(result, Err(HubError::PreconditionFailed { .. })),
        "{result:?}"
    );

    let current = IfMatch::Tags(vec![Etag::from_counter(identity.etag).to_string()]);
    let updated = hub
        .update_identity(&identity.key, update, Some(&current))
        .await
        .expect("update");
    assert_eq!(updated.etag, identity.etag + 1);
    let Authentication::Sas {
        primary_key: p2,
        secondary_key: s2,
    } = updated.authentication
    else {
        panic!("SAS expected");
    };
    assert_ne!(p2, primary_key);
    assert_eq!(s2, secondary_key);

    let to_x509 = IdentityUpdate {
        authentication: Some(Authentication::CertificateAuthority),
        regenerate: Some(KeyChoice::Both),
        ..IdentityUpdate::default()
    };
    let result = hub.update_identity(&identity.key, to_x509, None).await;
    assert!(matches!(result, Err(HubError::Invalid(_))), "{result:?}");
    let unchanged = hub.identity(&identity.key).await.expect("identity");
    assert_eq!(
        unchanged.etag, updated.etag,
        "a refused update changes nothing"
    );
}

#[tokio::test]
async fn deleting_a_device_takes_its_modules_and_listing_pages_by_id() {
    let hub = hub();
    for id in ["a", "b", "c"] {
        hub.create_identity(device(id), None, IdentityStatus::Enabled)
            .await
            .expect("create");
    }
    let module = IdentityKey::module("a", "m").expect("id");
    hub.create_identity(module.clone(), None, IdentityStatus::Enabled)
        .await
        .expect("module");
    let first = hub
        .list_identities(&IdentityQuery {
            limit: 2,
            ..IdentityQuery::default()
        })
        .await
        .expect("list");
    let ids: Vec<_> = first
        .identities
        .iter()
        .map(|i| i.key.device_id.as_str())
        .collect();
    assert_eq!(ids, ["a", "b"]);
    let rest = hub
        .list_identities(&IdentityQuery {
            limit: 0,
            after: first.next_after.clone(),
            ..IdentityQuery::default()
        })
        .await
        .expect("list");
    assert_eq!(rest.identities.len(), 1, "limit 0 is clamped to 1");

    hub.delete_identity(&device("a"), Some(&IfMatch::Any))
        .await
        .expect("delete");
    assert!(matches!(
        hub.identity(&module).await,
        Err(HubError::NotFound(_))
    ));
    assert!(matches!(
        hub.delete_identity(&device("a"), None).await,
        Err(HubError::NotFound(_))
    ));
}

#[tokio::test]
async fn twin_updates_patch_or_replace_and_refuse_what_is_not_an_object() {
    let hub = hub();
    let key = device("d1");
    hub.create_identity(key.clone(), None, IdentityStatus::Enabled)
        .await
        .expect("create");
    let patch = TwinUpdate {
        tags: Some(json!({"site": "north", "floor": 2})),
        desired: Some(json!({"interval": 5})),
        replace: false,
    };
    let record = hub
        .update_twin(&key, patch, None, true)
        .await
        .expect("patch");
    assert_eq!(record.twin.tags()["site"], "north");
    assert_eq!(record.twin.desired_version(), 2);

    let replace = TwinUpdate {
        tags: Some(json!({"owner": "ops"})),
        desired: None,
        replace: true,
    };
    let stale = IfMatch::Tags(vec!["AAAAAAAAAAE=".into()]);
    let result = hub
        .update_twin(&key, replace.clone(), Some(&stale), true)
        .await;
    assert!(
        matches!(result, Err(HubError::PreconditionFailed { .. })),
        "{result:?}"
    );
    let current = IfMatch::Tags(vec![record.twin.etag().to_string()]);
    let replaced = hub
        .update_twin(&key, replace, Some(&current), true)
        .await
        .expect("replace");
    assert_eq!(replaced.twin.tags().keys().collect::<Vec<_>>(), ["owner"]);
    assert_eq!(
        replaced.twin.desired()["interval"],
        5,
        "desired not given, so kept"
    );

    let bad = TwinUpdate {
        desired: Some(json!([1])),
        ..TwinUpdate::default()
    };
    let result = hub.update_twin(&key, bad, None, true).await;
    assert!(matches!(result, Err(HubError::Twin(_))), "{result:?}");
    let dt = hub.digital_twin(&key).await.expect("digital twin");
    assert_eq!(dt["$dtId"], "d1");
}

struct BrokenRepository;

#[async_trait]
impl ModelSource for BrokenRepository {
    async fn model(&self, _model_id: &str) -> Result<Option<Arc<DeviceModel>>, ModelSourceError> {
        Err("the repository is down".into())
    }
}

#[tokio::test]
async fn a_model_that_cannot_be_loaded_blocks_validation_only() {
    let store = Arc::new(MemoryHubStore::new());
    let hub = Hub::new(
        store.clone(),
        Arc::new(BrokenRepository),
        HubConfig::default(),
    );
    let key = device("d1");
    hub.create_identity(key.clone(), None, IdentityStatus::Enabled)
        .await
        .expect("create");
    // Give the twin a model id as a device's CONNECT would.
    let mut record = hub.twin(&key).await.expect("twin");
    let version = record.twin.version();
    record
        .twin
        .set_model_id(Some("dtmi:example:Broken;1".into()));
    twinhub_hub::HubStore::update_twin(store.as_ref(), &key, version, &record)
        .await
        .expect("model id");

    let update = TwinUpdate {
        desired: Some(json!({"x": 1})),
        ..TwinUpdate::default()
    };
    let result = hub.update_twin(&key, update.clone(), None, true).await;
    assert!(
        matches!(result, Err(HubError::ModelUnavailable { .. })),
        "{result:?}"
    );
    hub.update_twin(&key, update, None, false)
        .await
        .expect("unvalidated");
    hub.digital_twin(&key)
        .await
        .expect("the view needs no model");
}
