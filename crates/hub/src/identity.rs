//! Device and module identities as the registry keeps them: the key that names one
//! (`device` or `device/module`, the MQTT client id), how it authenticates, whether it is
//! enabled, and what the hub last saw of its connection.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use twinhub_twin::Timestamp;

/// The longest device or module id IoT Hub accepts.
pub const MAX_ID_LEN: usize = 128;

/// Punctuation IoT Hub allows in device and module ids besides ASCII letters and digits.
const ID_PUNCTUATION: &str = "-.+%_#*?!(),:=@$'";

/// Names one identity: a device, or a module of a device. Its text form is the MQTT client id.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentityKey {
    pub device_id: String,
    pub module_id: Option<String>,
}

/// A device or module id that IoT Hub would refuse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{what} {id:?} is not valid: {problem}")]
pub struct IdentityKeyError {
    pub what: &'static str,
    pub id: String,
    pub problem: String,
}

impl IdentityKey {
    /// A device key, its id checked.
    pub fn device(device_id: &str) -> Result<IdentityKey, IdentityKeyError> {
        check_id("device id", device_id)?;
        Ok(IdentityKey {
            device_id: device_id.to_owned(),
            module_id: None,
        })
    }

    /// A module key, both ids checked.
    pub fn module(device_id: &str, module_id: &str) -> Result<IdentityKey, IdentityKeyError> {
        check_id("device id", device_id)?;
        check_id("module id", module_id)?;
        Ok(IdentityKey {
            device_id: device_id.to_owned(),
            module_id: Some(module_id.to_owned()),
        })
    }

    /// Parses an MQTT client id: `device` or `device/module` (ids are not URL-encoded there).
    pub fn from_client_id(client_id: &str) -> Result<IdentityKey, IdentityKeyError> {
        match client_id.split_once('/') {
            None => IdentityKey::device(client_id),
            Some((device, module)) => IdentityKey::module(device, module),
        }
    }

    /// The key of the device this identity belongs to (itself for a device).
    pub fn device_key(&self) -> IdentityKey {
        IdentityKey {
            device_id: self.device_id.clone(),
            module_id: None,
        }
    }

    pub fn is_module(&self) -> bool {
        self.module_id.is_some()
    }

    /// The resource a SAS token for this identity names after the host:
    /// `devices/{id}` or `devices/{id}/modules/{mid}`.
    pub fn resource_path(&self) -> String {
        match &self.module_id {
            None => format!("devices/{}", self.device_id),
            Some(module) => format!("devices/{}/modules/{module}", self.device_id),
        }
    }
}

/// The MQTT client id form.
impl fmt::Display for IdentityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.module_id {
            None => f.write_str(&self.device_id),
            Some(module) => write!(f, "{}/{module}", self.device_id),
        }
    }
}

fn check_id(what: &'static str, id: &str) -> Result<(), IdentityKeyError> {
    let refuse = |problem: String| IdentityKeyError {
        what,
        id: id.to_owned(),
        problem,
    };
    if id.is_empty() {
        return Err(refuse("it is empty".into()));
    }
    if id.len() > MAX_ID_LEN {
        return Err(refuse(format!(
            "it has {} characters, at most {MAX_ID_LEN} are allowed",
            id.len()
        )));
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || ID_PUNCTUATION.contains(*c)))
    {
        return Err(refuse(format!(
            "{c:?} is not allowed; use ASCII letters, digits and {ID_PUNCTUATION}"
        )));
    }
    Ok(())
}

/// How an identity proves who it is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Authentication {
    /// Shared access signatures signed with either key (base64 of 32 random bytes).
    Sas {
        primary_key: String,
        secondary_key: String,
    },
    /// A self-signed client certificate, matched by its SHA-1 or SHA-256 thumbprint (hex).
    SelfSigned {
        primary_thumbprint: String,
        secondary_thumbprint: Option<String>,
    },
    /// A client certificate issued by a trusted CA, whose subject CN is the device id.
    CertificateAuthority,
}

impl Authentication {
    /// SAS authentication with two fresh keys.
    pub fn generated_sas() -> Authentication {
        Authentication::Sas {
            primary_key: generate_symmetric_key(),
            secondary_key: generate_symmetric_key(),
        }
    }
}

/// A fresh symmetric key: base64 of 32 random bytes, as IoT Hub generates them.
pub fn generate_symmetric_key() -> String {
    let mut bytes = [0_u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    BASE64.encode(bytes)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum IdentityStatus {
    Enabled,
    Disabled,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ConnectionState {
    Connected,
    Disconnected,
}

/// One identity of the registry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    pub key: IdentityKey,
    /// Random, fixed at creation: tells a re-created identity from the one deleted before.
    pub generation_id: String,
    /// Bumped by every change of the identity (not of its connection state).
    pub etag: u64,
    pub status: IdentityStatus,
    pub status_reason: Option<String>,
    pub authentication: Authentication,
    pub connection_state: ConnectionState,
    pub connection_state_updated: Option<Timestamp>,
    pub last_activity: Option<Timestamp>,
    pub created: Timestamp,
    pub updated: Timestamp,
}

impl Identity {
    /// A new, enabled, disconnected identity.
    pub fn new(key: IdentityKey, authentication: Authentication, now: Timestamp) -> Identity {
        let mut generation = [0_u8; 9];
        rand::rng().fill_bytes(&mut generation);
        Identity {
            key,
            generation_id: generation.iter().map(|b| format!("{b:02x}")).collect(),
            etag: 1,
            status: IdentityStatus::Enabled,
            status_reason: None,
            authentication,
            connection_state: ConnectionState::Disconnected,
            connection_state_updated: None,
            last_activity: None,
            created: now,
            updated: now,
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.status == IdentityStatus::Enabled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_name_devices_and_modules() {
        let device = IdentityKey::from_client_id("thermostat-01").expect("valid");
        assert_eq!(device.module_id, None);
        assert_eq!(device.resource_path(), "devices/thermostat-01");
        let module = IdentityKey::from_client_id("edge-01/filter").expect("valid");
        assert_eq!(module.module_id.as_deref(), Some("filter"));
        assert_eq!(module.to_string(), "edge-01/filter");
        assert_eq!(module.resource_path(), "devices/edge-01/modules/filter");
    }

    #[test]
    fn ids_iot_hub_refuses_are_refused() {
        assert!(IdentityKey::device("").is_err());
        assert!(IdentityKey::device(&"a".repeat(129)).is_err());
        let err = IdentityKey::device("with space").expect_err("space");
        assert!(err.to_string().contains("' '"), "{err}");
        assert!(IdentityKey::from_client_id("a/b/c").is_err());
        assert!(IdentityKey::device("odd-but.ok+%_#*?!(),:=@$'").is_ok());
    }

    #[test]
    fn generated_keys_are_32_random_bytes() {
        let a = generate_symmetric_key();
        let decoded = BASE64.decode(&a).expect("base64");
        assert_eq!(decoded.len(), 32);
        assert_ne!(a, generate_symmetric_key());
    }
}
