//! The JSON documents of the IoT Hub service API (hub-protocol.md §2.4): devices, modules and
//! twins as IoT Hub writes them, built from the registry's identities and twins, and the
//! device and module bodies back ends send. The same twin document is what queries filter
//! and project in memory, so a query's fields mean what the twin shows.

use serde::Deserialize;
use serde_json::{Map, Value, json};
use twinhub_hub::{Authentication, ConnectionState, Identity, IdentityStatus, TwinRecord};
use twinhub_twin::{Etag, Timestamp, format_timestamp};

/// IoT Hub's time for "never".
const NEVER: &str = "0001-01-01T00:00:00Z";

fn time(t: Option<&Timestamp>) -> Value {
    Value::String(t.map_or_else(|| NEVER.to_owned(), format_timestamp))
}

fn status(s: IdentityStatus) -> &'static str {
    match s {
        IdentityStatus::Enabled => "enabled",
        IdentityStatus::Disabled => "disabled",
    }
}

fn connection(s: ConnectionState) -> &'static str {
    match s {
        ConnectionState::Connected => "Connected",
        ConnectionState::Disconnected => "Disconnected",
    }
}

fn authentication_type(a: &Authentication) -> &'static str {
    match a {
        Authentication::Sas { .. } => "sas",
        Authentication::SelfSigned { .. } => "selfSigned",
        Authentication::CertificateAuthority => "certificateAuthority",
    }
}

fn authentication(a: &Authentication) -> Value {
    let (primary_key, secondary_key, primary_thumb, secondary_thumb) = match a {
        Authentication::Sas {
            primary_key,
            secondary_key,
        } => (
            Some(primary_key.clone()),
            Some(secondary_key.clone()),
            None,
            None,
        ),
        Authentication::SelfSigned {
            primary_thumbprint,
            secondary_thumbprint,
        } => (
            None,
            None,
            Some(primary_thumbprint.clone()),
            secondary_thumbprint.clone(),
        ),
        Authentication::CertificateAuthority => (None, None, None, None),
    };
    json!({
        "symmetricKey": {"primaryKey": primary_key, "secondaryKey": secondary_key},
        "x509Thumbprint": {"primaryThumbprint": primary_thumb, "secondaryThumbprint": secondary_thumb},
        "type": authentication_type(a),
    })
}

fn thumbprints(a: &Authentication) -> Value {
    match a {
        Authentication::SelfSigned {
            primary_thumbprint,
            secondary_thumbprint,
        } => {
            json!({"primaryThumbprint": primary_thumbprint, "secondaryThumbprint": secondary_thumbprint})
        }
        _ => json!({"primaryThumbprint": null, "secondaryThumbprint": null}),
    }
}

/// A device or module as `GET /devices/{id}` (`/modules/{mid}`) shows it.
pub fn identity_document(identity: &Identity, c2d_count: u64) -> Value {
    let mut out = Map::new();
    out.insert("deviceId".into(), json!(identity.key.device_id));
    if let Some(module) = &identity.key.module_id {
        out.insert("moduleId".into(), json!(module));
        out.insert("managedBy".into(), Value::Null);
    }
    out.insert("generationId".into(), json!(identity.generation_id));
    out.insert(
        "etag".into(),
        json!(Etag::from_counter(identity.etag).to_string()),
    );
    out.insert(
        "connectionState".into(),
        json!(connection(identity.connection_state)),
    );
    if identity.key.module_id.is_none() {
        out.insert("status".into(), json!(status(identity.status)));
        out.insert("statusReason".into(), json!(identity.status_reason));
        out.insert("statusUpdatedTime".into(), time(Some(&identity.updated)));
    }
    out.insert(
        "connectionStateUpdatedTime".into(),
        time(identity.connection_state_updated.as_ref()),
    );
    out.insert(
        "lastActivityTime".into(),
        time(identity.last_activity.as_ref()),
    );
    out.insert("cloudToDeviceMessageCount".into(), json!(c2d_count));
    out.insert(
        "authentication".into(),
        authentication(&identity.authentication),
    );
    if identity.key.module_id.is_none() {
        out.insert("capabilities".into(), json!({"iotEdge": false}));
        out.insert("deviceScope".into(), Value::Null);
        out.insert("parentScopes".into(), json!([]));
    }
    Value::Object(out)
}

/// A twin as `GET /twins/{id}` shows it (and as queries see it).
pub fn twin_document(identity: &Identity, record: &TwinRecord, c2d_count: u64) -> Value {
    let mut out = Map::new();
    out.insert("deviceId".into(), json!(identity.key.device_id));
    if let Some(module) = &identity.key.module_id {
        out.insert("moduleId".into(), json!(module));
    }
    let service = record.twin.service_document();
    for (key, value) in service {
        out.insert(key, value);
    }
    out.insert(
        "deviceEtag".into(),
        json!(Etag::from_counter(identity.etag).to_string()),
    );
    out.insert("status".into(), json!(status(identity.status)));
    if let Some(reason) = &identity.status_reason {
        out.insert("statusReason".into(), json!(reason));
    }
    out.insert("statusUpdateTime".into(), time(Some(&identity.updated)));
    out.insert(
        "connectionState".into(),
        json!(connection(identity.connection_state)),
    );
    out.insert(
        "lastActivityTime".into(),
        time(identity.last_activity.as_ref()),
    );
    out.insert("cloudToDeviceMessageCount".into(), json!(c2d_count));
    out.insert(
        "authenticationType".into(),
        json!(authentication_type(&identity.authentication)),
    );
    out.insert(
        "x509Thumbprint".into(),
        thumbprints(&identity.authentication),
    );
    if identity.key.module_id.is_none() {
        out.insert("capabilities".into(), json!({"iotEdge": false}));
    }
    Value::Object(out)
}

/// The body of `PUT /devices/{id}` and `PUT /devices/{id}/modules/{mid}`. Unknown members
/// (`etag`, `capabilities`, `connectionState`, … echoed from a read) are ignored, as IoT Hub
/// ignores the read-only ones.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentityBody {
    #[serde(default)]
    pub device_id: Option<String>,
    #[serde(default)]
    pub module_id: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub status_reason: Option<String>,
    #[serde(default)]
    pub authentication: Option<AuthenticationBody>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticationBody {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub symmetric_key: Option<SymmetricKeyBody>,
    #[serde(default)]
    pub x509_thumbprint: Option<ThumbprintBody>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SymmetricKeyBody {
    #[serde(default)]
    pub primary_key: Option<String>,
    #[serde(default)]
    pub secondary_key: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThumbprintBody {
    #[serde(default)]
    pub primary_thumbprint: Option<String>,
    #[serde(default)]
    pub secondary_thumbprint: Option<String>,
}

/// What a body asks of an identity's authentication.
#[derive(Debug, PartialEq)]
pub enum AuthenticationRequest {
    /// Given in full.
    Exactly(Authentication),
    /// SAS without keys: fresh keys for a new identity; for an existing SAS identity, keep.
    SasWithoutKeys,
}

impl IdentityBody {
    pub fn status(&self) -> Result<Option<IdentityStatus>, String> {
        match self.status.as_deref() {
            None => Ok(None),
            Some(s) if s.eq_ignore_ascii_case("enabled") => Ok(Some(IdentityStatus::Enabled)),
            Some(s) if s.eq_ignore_ascii_case("disabled") => Ok(Some(IdentityStatus::Disabled)),
            Some(other) => Err(format!(
                "status {other:?} is not valid; use \"enabled\" or \"disabled\""
            )),
        }
    }

    pub fn authentication(&self) -> Result<AuthenticationRequest, String> {
        let Some(auth) = &self.authentication else {
            return Ok(AuthenticationRequest::SasWithoutKeys);
        };
        let kind = auth.kind.as_deref().unwrap_or("sas");
        match kind {
            "sas" => {
                let keys = auth.symmetric_key.as_ref();
                let primary = keys.and_then(|k| k.primary_key.clone());
                let secondary = keys.and_then(|k| k.secondary_key.clone());
                match (primary, secondary) {
                    (None, None) => Ok(AuthenticationRequest::SasWithoutKeys),
                    (Some(primary_key), Some(secondary_key)) => {
                        for key in [&primary_key, &secondary_key] {
                            check_key(key)?;
                        }
                        Ok(AuthenticationRequest::Exactly(Authentication::Sas {
                            primary_key,
                            secondary_key,
                        }))
                    }
                    _ => Err("give both symmetric keys, or neither to have them generated".into()),
                }
            }
            "selfSigned" => {
                let thumbs = auth.x509_thumbprint.as_ref();
                let primary = thumbs.and_then(|t| t.primary_thumbprint.clone());
                let Some(primary_thumbprint) = primary else {
                    return Err(
                        "a selfSigned identity needs x509Thumbprint.primaryThumbprint".into(),
                    );
                };
                let secondary_thumbprint = thumbs.and_then(|t| t.secondary_thumbprint.clone());
                for t in std::iter::once(&primary_thumbprint).chain(secondary_thumbprint.as_ref()) {
                    check_thumbprint(t)?;
                }
                Ok(AuthenticationRequest::Exactly(Authentication::SelfSigned {
                    primary_thumbprint,
                    secondary_thumbprint,
                }))
            }
            "certificateAuthority" => Ok(AuthenticationRequest::Exactly(
                Authentication::CertificateAuthority,
            )),
            other => Err(format!(
                "authentication type {other:?} is not supported; use sas, selfSigned or certificateAuthority"
            )),
        }
    }
}

fn check_key(key: &str) -> Result<(), String> {
    use base64::Engine as _;
    match base64::engine::general_purpose::STANDARD.decode(key) {
        Ok(bytes) if (16..=64).contains(&bytes.len()) => Ok(()),
        _ => Err(
            "symmetric keys must be base64 of 16 to 64 bytes; omit them to have them generated"
                .into(),
        ),
    }
}

fn check_thumbprint(t: &str) -> Result<(), String> {
    let hex = t.len() == 40 || t.len() == 64;
    if hex && t.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(format!(
            "thumbprint {t:?} is not a SHA-1 (40) or SHA-256 (64) hex digest"
        ))
    }
}
