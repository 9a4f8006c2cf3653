//! Shared access policies of the hub's service API, as IoT Hub has them: a name, two
//! symmetric keys and the rights a service token signed with either key carries. Back ends
//! sign `SharedAccessSignature sr={host}&sig=…&se=…&skn={policy}` tokens with a policy key;
//! the policy's rights decide which service operations the token may call.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One permission of a shared access policy (IoT Hub's names).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
pub enum Right {
    /// Read the identity registry: devices, modules, queries.
    RegistryRead,
    /// Create, update and delete identities.
    RegistryWrite,
    /// Back-end operations on devices: twins, direct methods, digital twins.
    ServiceConnect,
    /// Connect as any device (device tokens signed with the policy key).
    DeviceConnect,
}

impl Right {
    pub const ALL: [Right; 4] = [
        Right::RegistryRead,
        Right::RegistryWrite,
        Right::ServiceConnect,
        Right::DeviceConnect,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Right::RegistryRead => "RegistryRead",
            Right::RegistryWrite => "RegistryWrite",
            Right::ServiceConnect => "ServiceConnect",
            Right::DeviceConnect => "DeviceConnect",
        }
    }
}

impl fmt::Display for Right {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A right name that IoT Hub does not have.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0:?} is not a right; use RegistryRead, RegistryWrite, ServiceConnect or DeviceConnect")]
pub struct UnknownRight(pub String);

impl FromStr for Right {
    type Err = UnknownRight;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Right::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownRight(s.to_owned()))
    }
}

/// Rights as stored: sorted, each once, separated by commas (`RegistryRead,ServiceConnect`).
pub fn rights_text(rights: &[Right]) -> String {
    normalized(rights)
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// Reads [`rights_text`] back (also IoT Hub's `"RegistryRead, ServiceConnect"` form).
pub fn parse_rights(text: &str) -> Result<Vec<Right>, UnknownRight> {
    let rights = text
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(Right::from_str)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(normalized(&rights))
}

/// Sorted, each right once.
pub fn normalized(rights: &[Right]) -> Vec<Right> {
    let mut rights = rights.to_vec();
    rights.sort();
    rights.dedup();
    rights
}

/// A shared access policy with its keys (base64 of 32 random bytes each).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedAccessPolicy {
    pub name: String,
    pub primary_key: String,
    pub secondary_key: String,
    pub rights: Vec<Right>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl SharedAccessPolicy {
    pub fn has(&self, right: Right) -> bool {
        self.rights.contains(&right)
    }
}

/// The policies a new hub starts with, as IoT Hub creates them.
pub const DEFAULT_POLICIES: [(&str, &[Right]); 4] = [
    (
        "iothubowner",
        &[
            Right::RegistryRead,
            Right::RegistryWrite,
            Right::ServiceConnect,
            Right::DeviceConnect,
        ],
    ),
    ("service", &[Right::ServiceConnect]),
    ("registryRead", &[Right::RegistryRead]),
    (
        "registryReadWrite",
        &[Right::RegistryRead, Right::RegistryWrite],
    ),
];

/// A policy name IoT Hub would refuse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0:?} is not a valid policy name: use 1 to 64 ASCII letters, digits, '.', '-' or '_'")]
pub struct InvalidPolicyName(pub String);

/// Checks a policy name: 1 to 64 of `[A-Za-z0-9._-]`.
pub fn check_policy_name(name: &str) -> Result<(), InvalidPolicyName> {
    let valid = (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if valid {
        Ok(())
    } else {
        Err(InvalidPolicyName(name.to_owned()))
    }
}

/// Which key of a policy (or identity) to regenerate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeySlot {
    Primary,
    Secondary,
    Both,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rights_round_trip_sorted_and_deduplicated() {
        let text = rights_text(&[
            Right::ServiceConnect,
            Right::RegistryRead,
            Right::RegistryRead,
        ]);
        assert_eq!(text, "RegistryRead,ServiceConnect");
        assert_eq!(
            parse_rights("ServiceConnect, registryread").expect("rights"),
            vec![Right::RegistryRead, Right::ServiceConnect]
        );
        assert_eq!(parse_rights("").expect("none"), Vec::<Right>::new());
        assert_eq!(
            parse_rights("RegistryRead,Everything"),
            Err(UnknownRight("Everything".into()))
        );
    }

    #[test]
    fn policy_names_are_checked() {
        assert!(check_policy_name("registryReadWrite").is_ok());
        assert!(check_policy_name("my-backend_1.prod").is_ok());
        assert!(check_policy_name("").is_err());
        assert!(check_policy_name("with space").is_err());
        assert!(check_policy_name(&"a".repeat(65)).is_err());
    }
}
