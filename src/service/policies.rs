//! Managing shared access policies: the four IoT Hub creates for a new hub (seeded when the
//! database has none), new policies with generated keys, key regeneration, and the service
//! connection strings back ends paste into `IoTHubRegistryManager.from_connection_string`.

use std::sync::Arc;

use twinhub_hub::generate_symmetric_key;

use crate::domain::policy::{DEFAULT_POLICIES, KeySlot, Right, SharedAccessPolicy, normalized};
use crate::store::{Store, StoreError};

/// A new policy with fresh keys (or the given ones).
pub fn new_policy(
    name: &str,
    rights: &[Right],
    primary_key: Option<String>,
    secondary_key: Option<String>,
) -> SharedAccessPolicy {
    let now = chrono::Utc::now();
    SharedAccessPolicy {
        name: name.to_owned(),
        primary_key: primary_key.unwrap_or_else(generate_symmetric_key),
        secondary_key: secondary_key.unwrap_or_else(generate_symmetric_key),
        rights: normalized(rights),
        created_at: now,
        updated_at: now,
    }
}

/// Stores IoT Hub's default policies, with fresh keys, when there are no policies at all.
pub async fn seed_defaults(store: &Arc<dyn Store>) -> Result<bool, StoreError> {
    let defaults: Vec<SharedAccessPolicy> = DEFAULT_POLICIES
        .iter()
        .map(|(name, rights)| new_policy(name, rights, None, None))
        .collect();
    store.seed_policies(&defaults).await
}

/// The policy with one or both keys replaced by fresh ones.
pub fn regenerated(mut policy: SharedAccessPolicy, slot: KeySlot) -> SharedAccessPolicy {
    if matches!(slot, KeySlot::Primary | KeySlot::Both) {
        policy.primary_key = generate_symmetric_key();
    }
    if matches!(slot, KeySlot::Secondary | KeySlot::Both) {
        policy.secondary_key = generate_symmetric_key();
    }
    policy.updated_at = chrono::Utc::now();
    policy
}

/// `HostName=…;SharedAccessKeyName=…;SharedAccessKey=…`. The host carries the service port
/// unless it is 443: the SDK builds `https://{HostName}` from it verbatim.
pub fn connection_string(
    host: &str,
    port: u16,
    policy: &SharedAccessPolicy,
    secondary: bool,
) -> String {
    let host = if port == 443 {
        host.to_owned()
    } else {
        format!("{host}:{port}")
    };
    let key = if secondary {
        &policy.secondary_key
    } else {
        &policy.primary_key
    };
    format!(
        "HostName={host};SharedAccessKeyName={};SharedAccessKey={key}",
        policy.name
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_strings_carry_the_port_unless_it_is_443() {
        let policy = new_policy(
            "service",
            &[Right::ServiceConnect],
            Some("a2V5".into()),
            None,
        );
        assert_eq!(
            connection_string("localhost", 8443, &policy, false),
            "HostName=localhost:8443;SharedAccessKeyName=service;SharedAccessKey=a2V5"
        );
        assert!(
            connection_string("hub.example.com", 443, &policy, false)
                .starts_with("HostName=hub.example.com;")
        );
    }

    #[test]
    fn regenerating_replaces_only_the_chosen_key() {
        let policy = new_policy("p", &[], None, None);
        let primary = regenerated(policy.clone(), KeySlot::Primary);
        assert_ne!(primary.primary_key, policy.primary_key);
        assert_eq!(primary.secondary_key, policy.secondary_key);
        let both = regenerated(policy.clone(), KeySlot::Both);
        assert_ne!(both.secondary_key, policy.secondary_key);
    }
}
