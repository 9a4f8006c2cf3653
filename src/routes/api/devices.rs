//! `/api/v1/devices…`: the device hub's registry (devices and their modules, keys and
//! certificates), twins and digital twins, and live operations (commands, cloud-to-device
//! messages), over [`Hub`]. Grants on the scope `hub` decide who may do what: readers read
//! identities and twins (without keys), publishers also change desired properties, send
//! messages and invoke commands, owners manage identities and keys, admins everything.
//!
//! Writes the device's model forbids are refused with 422 (each violation with the element
//! and JSON pointer) unless `?validate=false`.

use std::time::Duration;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, put, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use twinhub_hub::{
    Authentication, ConnectionState, Hub, Identity, IdentityKey, IdentityQuery, IdentityStatus,
    IdentityUpdate, KeyChoice, OutgoingC2d, TwinRecord, TwinUpdate,
};
use twinhub_twin::{Etag, IfMatch};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::authz::{Action, Authz, Target};
use crate::http::body::{json_request, read_body, require_json};
use crate::http::error::{ApiError, Problem};

/// Largest JSON body of a registry or twin request.
const BODY_LIMIT: usize = 256 * 1024;
/// Default, least and most seconds a command waits for the device's answer.
const COMMAND_TIMEOUT: (u64, u64, u64) = (30, 5, 300);

/// An identity's status.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum StatusValue {
    Enabled,
    Disabled,
}

impl From<StatusValue> for IdentityStatus {
    fn from(value: StatusValue) -> IdentityStatus {
        match value {
            StatusValue::Enabled => IdentityStatus::Enabled,
            StatusValue::Disabled => IdentityStatus::Disabled,
        }
    }
}

impl From<IdentityStatus> for StatusValue {
    fn from(value: IdentityStatus) -> StatusValue {
        match value {
            IdentityStatus::Enabled => StatusValue::Enabled,
            IdentityStatus::Disabled => StatusValue::Disabled,
        }
    }
}

/// How an identity authenticates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum AuthenticationType {
    /// SAS tokens signed with a symmetric key.
    Sas,
    /// A self-signed client certificate, known by its thumbprint.
    SelfSigned,
    /// A client certificate from a trusted CA whose subject CN is the device id.
    CertificateAuthority,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SymmetricKey {
    /// Base64 of at least 16 random bytes.
    primary_key: String,
    secondary_key: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct X509Thumbprint {
    /// SHA-1 or SHA-256 thumbprint of the certificate, hex (colons allowed).
    primary_thumbprint: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    secondary_thumbprint: Option<String>,
}

/// Authentication as shown: keys only to callers who manage identities.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticationView {
    #[serde(rename = "type")]
    kind: AuthenticationType,
    #[serde(skip_serializing_if = "Option::is_none")]
    symmetric_key: Option<SymmetricKey>,
    #[serde(skip_serializing_if = "Option::is_none")]
    x509_thumbprint: Option<X509Thumbprint>,
}

/// Authentication of a new or changed identity. `{"type": "sas"}` without keys generates them.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthenticationRequest {
    #[serde(rename = "type")]
    kind: AuthenticationType,
    #[serde(default)]
    symmetric_key: Option<SymmetricKey>,
    #[serde(default)]
    x509_thumbprint: Option<X509Thumbprint>,
}

impl AuthenticationRequest {
    /// The authentication asked for; `None` asks the hub to generate SAS keys.
    fn into_authentication(self) -> Result<Option<Authentication>, ApiError> {
        let invalid = |detail: &str| ApiError::bad_request("invalid-authentication", detail);
        match self.kind {
            AuthenticationType::Sas => {
                if self.x509_thumbprint.is_some() {
                    return Err(invalid(
                        "sas authentication takes symmetricKey, not x509Thumbprint",
                    ));
                }
                Ok(self.symmetric_key.map(|keys| Authentication::Sas {
                    primary_key: keys.primary_key,
                    secondary_key: keys.secondary_key,
                }))
            }
            AuthenticationType::SelfSigned => {
                let thumbprint = self.x509_thumbprint.ok_or_else(|| {
                    invalid(
                        "selfSigned authentication needs x509Thumbprint.primaryThumbprint: the SHA-1 or SHA-256 thumbprint of the device's certificate",
                    )
                })?;
                if self.symmetric_key.is_some() {
                    return Err(invalid("selfSigned authentication takes no symmetricKey"));
                }
                Ok(Some(Authentication::SelfSigned {
                    primary_thumbprint: thumbprint.primary_thumbprint,
                    secondary_thumbprint: thumbprint.secondary_thumbprint,
                }))
            }
            AuthenticationType::CertificateAuthority => {
                if self.symmetric_key.is_some() || self.x509_thumbprint.is_some() {
                    return Err(invalid(
                        "certificateAuthority authentication takes no keys or thumbprints: the certificate's CN names the device",
                    ));
                }
                Ok(Some(Authentication::CertificateAuthority))
            }
        }
    }
}

/// A device or module identity.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeviceView {
    device_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    module_id: Option<String>,
    /// Tells a re-created identity from the one deleted before it.
    generation_id: String,
    /// Changes with every change of the identity; send it as `If-Match`.
    etag: String,
    status: StatusValue,
    #[serde(skip_serializing_if = "Option::is_none")]
    status_reason: Option<String>,
    connection_state: ConnectionStateValue,
    #[serde(skip_serializing_if = "Option::is_none")]
    connection_state_updated_time: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_activity_time: Option<DateTime<Utc>>,
    created_time: DateTime<Utc>,
    updated_time: DateTime<Utc>,
    authentication: AuthenticationView,
    /// A ready device connection string (primary key, or `x509=true`); only for callers who
    /// manage identities.
    #[serde(skip_serializing_if = "Option::is_none")]
    connection_string: Option<String>,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum ConnectionStateValue {
    Connected,
    Disconnected,
}

impl DeviceView {
    fn new(hub: &Hub, identity: &Identity, with_secrets: bool) -> DeviceView {
        let authentication = match &identity.authentication {
            Authentication::Sas {
                primary_key,
                secondary_key,
            } => AuthenticationView {
                kind: AuthenticationType::Sas,
                symmetric_key: with_secrets.then(|| SymmetricKey {
                    primary_key: primary_key.clone(),
                    secondary_key: secondary_key.clone(),
                }),
                x509_thumbprint: None,
            },
            Authentication::SelfSigned {
                primary_thumbprint,
                secondary_thumbprint,
            } => AuthenticationView {
                kind: AuthenticationType::SelfSigned,
                symmetric_key: None,
                x509_thumbprint: Some(X509Thumbprint {
                    primary_thumbprint: primary_thumbprint.clone(),
                    secondary_thumbprint: secondary_thumbprint.clone(),
                }),
            },
            Authentication::CertificateAuthority => AuthenticationView {
                kind: AuthenticationType::CertificateAuthority,
                symmetric_key: None,
                x509_thumbprint: None,
            },
        };
        DeviceView {
            device_id: identity.key.device_id.clone(),
            module_id: identity.key.module_id.clone(),
            generation_id: identity.generation_id.clone(),
            etag: Etag::from_counter(identity.etag).to_string(),
            status: identity.status.into(),
            status_reason: identity.status_reason.clone(),
            connection_state: connection_value(identity.connection_state),
            connection_state_updated_time: identity.connection_state_updated,
            last_activity_time: identity.last_activity,
            created_time: identity.created,
            updated_time: identity.updated,
            authentication,
            connection_string: with_secrets
                .then(|| hub.connection_string(identity, KeyChoice::Primary))
                .flatten(),
        }
    }
}

fn connection_value(state: ConnectionState) -> ConnectionStateValue {
    match state {
        ConnectionState::Connected => ConnectionStateValue::Connected,
        ConnectionState::Disconnected => ConnectionStateValue::Disconnected,
    }
}

/// One page of identities.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeviceList {
    items: Vec<DeviceView>,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_after: Option<String>,
}

/// A new device.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewDevice {
    /// Up to 128 ASCII letters, digits and `-.+%_#*?!(),:=@$'`.
    device_id: String,
    /// SAS with generated keys when omitted.
    #[serde(default)]
    authentication: Option<AuthenticationRequest>,
    /// `enabled` when omitted.
    #[serde(default)]
    status: Option<StatusValue>,
}

/// A new module of a device.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewModule {
    module_id: String,
    #[serde(default)]
    authentication: Option<AuthenticationRequest>,
    #[serde(default)]
    status: Option<StatusValue>,
}

/// Which keys to regenerate.
#[derive(Clone, Copy, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum KeysToRegenerate {
    Primary,
    Secondary,
    Both,
}

/// A change to an identity; fields left out stay as they are.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IdentityChange {
    #[serde(default)]
    status: Option<StatusValue>,
    #[serde(default)]
    status_reason: Option<String>,
    /// Replaces the authentication.
    #[serde(default)]
    authentication: Option<AuthenticationRequest>,
    /// Generates new symmetric keys (SAS identities).
    #[serde(default)]
    regenerate_keys: Option<KeysToRegenerate>,
}

/// Filters and paging of an identity listing.
#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Only identities whose twin names this model id.
    model_id: Option<String>,
    /// `connected` or `disconnected`.
    connection_state: Option<String>,
    /// Continue after this id (`nextAfter` of the previous page).
    after: Option<String>,
    /// Identities per page, 1 to 1000 [default: 100].
    limit: Option<String>,
}

/// Whether to check a write against the device's model.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ValidateParams {
    /// `false` skips the check against the device's model [default: true].
    validate: Option<String>,
}

/// A command's wait and model check.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CommandParams {
    /// Seconds to wait for the device's answer, 5 to 300 [default: 30].
    timeout: Option<String>,
    /// `false` skips the check against the device's model [default: true].
    validate: Option<String>,
}

/// A twin change: tags and desired properties as JSON merge patches (`null` deletes).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TwinPatch {
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    tags: Option<Value>,
    #[serde(default)]
    properties: Option<TwinPatchProperties>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TwinPatchProperties {
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    desired: Option<Value>,
}

/// A twin replacement: the new tags and desired properties, each replacing the whole
/// section (a section left out stays as it is). A twin as read (`GET …/twin`) may be sent
/// back: its other members (`deviceId`, `etag`, `properties.reported`, …) are ignored, as
/// IoT Hub does, since reported properties belong to the device.
#[derive(Deserialize, ToSchema)]
pub struct TwinReplacement {
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    tags: Option<Value>,
    #[serde(default)]
    properties: Option<TwinReplacementProperties>,
}

#[derive(Deserialize, ToSchema)]
pub struct TwinReplacementProperties {
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    desired: Option<Value>,
}

/// A device's answer to a command.
#[derive(Serialize, ToSchema)]
pub struct CommandResult {
    /// The status the device answered with.
    status: i32,
    /// The device's JSON payload (`null` when it sent none).
    payload: Value,
}

/// A cloud-to-device message.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MessageRequest {
    /// A string is sent as UTF-8 text; any other JSON value is sent as JSON
    /// (content type `application/json` unless given).
    #[schema(value_type = Object)]
    body: Value,
    /// Application properties; `null` sends a name without a value.
    #[serde(default)]
    #[schema(value_type = Object)]
    properties: Map<String, Value>,
    #[serde(default)]
    message_id: Option<String>,
    #[serde(default)]
    correlation_id: Option<String>,
    #[serde(default)]
    content_type: Option<String>,
    #[serde(default)]
    content_encoding: Option<String>,
    /// Seconds until the message expires [default: 3600; at most 172800].
    #[serde(default)]
    ttl_seconds: Option<u64>,
}

/// A message accepted for delivery.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueuedMessage {
    message_id: String,
    enqueued_time: DateTime<Utc>,
    expiry_time: DateTime<Utc>,
}

// ----- helpers -----

fn device_key(device_id: &str) -> Result<IdentityKey, ApiError> {
    IdentityKey::device(device_id).map_err(|e| ApiError::from(twinhub_hub::HubError::from(e)))
}

fn module_key(device_id: &str, module_id: &str) -> Result<IdentityKey, ApiError> {
    IdentityKey::module(device_id, module_id)
        .map_err(|e| ApiError::from(twinhub_hub::HubError::from(e)))
}

fn if_match(request: &HttpRequest) -> Result<Option<IfMatch>, ApiError> {
    request
        .headers()
        .get(header::IF_MATCH)
        .map(|value| {
            let text = value.to_str().map_err(|_| {
                ApiError::bad_request("invalid-if-match", "If-Match must be ASCII text")
            })?;
            IfMatch::parse(text)
                .map_err(|e| ApiError::bad_request("invalid-if-match", e.to_string()))
        })
        .transpose()
}

fn flag(name: &str, value: Option<&str>) -> Result<bool, ApiError> {
    match value {
        None | Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(other) => Err(ApiError::bad_request(
            "invalid-parameter",
            format!("{name} must be true or false, not {other:?}"),
        )),
    }
}

fn with_etag(
    status: actix_web::http::StatusCode,
    etag: &str,
    body: impl Serialize,
) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::ETAG, format!("\"{etag}\"")))
        .json(body)
}

fn identity_response(
    hub: &Hub,
    identity: &Identity,
    status: actix_web::http::StatusCode,
    with_secrets: bool,
) -> HttpResponse {
    let view = DeviceView::new(hub, identity, with_secrets);
    let etag = view.etag.clone();
    with_etag(status, &etag, view)
}

/// Whether the caller may see keys and connection strings.
fn manages(authz: &Authz, caller: &Caller) -> bool {
    authz.allows(caller, Action::ManageDevices, &Target::Hub)
}

/// The twin as IoT Hub's REST API shapes it, with the registry's fields, the values the
/// device reported against its model flagged in `$metadata` and their count.
fn twin_view(identity: &Identity, record: &TwinRecord) -> Value {
    let mut document = record.twin.service_document();
    let mut out = Map::new();
    out.insert(
        "deviceId".into(),
        Value::String(identity.key.device_id.clone()),
    );
    if let Some(module) = &identity.key.module_id {
        out.insert("moduleId".into(), Value::String(module.clone()));
    }
    for key in ["etag", "version"] {
        if let Some(value) = document.remove(key) {
            out.insert(key.into(), value);
        }
    }
    out.insert(
        "deviceEtag".into(),
        Value::String(Etag::from_counter(identity.etag).to_string()),
    );
    out.insert(
        "status".into(),
        serde_json::to_value(StatusValue::from(identity.status)).unwrap_or(Value::Null),
    );
    out.insert(
        "connectionState".into(),
        serde_json::to_value(connection_value(identity.connection_state)).unwrap_or(Value::Null),
    );
    if let Some(at) = identity.last_activity {
        out.insert(
            "lastActivityTime".into(),
            Value::String(twinhub_twin::format_timestamp(&at)),
        );
    }
    let kind = match identity.authentication {
        Authentication::Sas { .. } => "sas",
        Authentication::SelfSigned { .. } => "selfSigned",
        Authentication::CertificateAuthority => "certificateAuthority",
    };
    out.insert("authenticationType".into(), Value::String(kind.into()));
    out.extend(document);
    if let Some(Value::Object(properties)) = out.get_mut("properties")
        && let Some(Value::Object(reported)) = properties.get_mut("reported")
    {
        flag_reported(reported, &record.reported_flags);
    }
    out.insert(
        "modelViolationCount".into(),
        Value::from(record.violation_count),
    );
    Value::Object(out)
}

/// Puts each flag (keyed by a JSON pointer into the reported properties) at that place in
/// the reported section's `$metadata`, as `$modelViolation`.
fn flag_reported(reported: &mut Map<String, Value>, flags: &Map<String, Value>) {
    if flags.is_empty() {
        return;
    }
    let metadata = reported
        .entry("$metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    for (pointer, flag) in flags {
        let mut at = &mut *metadata;
        for segment in pointer.split('/').skip(1) {
            let name = segment.replace("~1", "/").replace("~0", "~");
            let Value::Object(map) = at else { break };
            at = map.entry(name).or_insert_with(|| Value::Object(Map::new()));
        }
        if let Value::Object(map) = at {
            map.insert("$modelViolation".into(), flag.clone());
        }
    }
}

async fn twin_response(
    hub: &Hub,
    key: &IdentityKey,
    record: Option<TwinRecord>,
) -> Result<HttpResponse, ApiError> {
    let identity = hub.identity(key).await?;
    let record = match record {
        Some(record) => record,
        None => hub.twin(key).await?,
    };
    let etag = record.twin.etag().to_string();
    Ok(with_etag(
        actix_web::http::StatusCode::OK,
        &etag,
        twin_view(&identity, &record),
    ))
}

async fn create(
    caller: &Caller,
    hub: &Hub,
    key: IdentityKey,
    authentication: Option<AuthenticationRequest>,
    status: Option<StatusValue>,
) -> Result<HttpResponse, ApiError> {
    let authentication = authentication
        .map(AuthenticationRequest::into_authentication)
        .transpose()?
        .flatten();
    let identity = hub
        .create_identity(
            key,
            authentication,
            status.map_or(IdentityStatus::Enabled, Into::into),
        )
        .await?;
    tracing::info!(identity = %identity.key, principal = %caller.principal.name(), "identity registered");
    Ok(identity_response(
        hub,
        &identity,
        actix_web::http::StatusCode::CREATED,
        true,
    ))
}

async fn change(
    request: &HttpRequest,
    payload: web::Payload,
    hub: &Hub,
    key: IdentityKey,
) -> Result<HttpResponse, ApiError> {
    let precondition = if_match(request)?;
    let change: IdentityChange = json_request(
        request,
        payload,
        BODY_LIMIT,
        r#"{"status": "disabled", "statusReason": "maintenance", "regenerateKeys": "both"}"#,
    )
    .await?;
    let update = IdentityUpdate {
        status: change.status.map(Into::into),
        status_reason: change.status_reason,
        authentication: change
            .authentication
            .map(AuthenticationRequest::into_authentication)
            .transpose()?
            .flatten(),
        regenerate: change.regenerate_keys.map(|which| match which {
            KeysToRegenerate::Primary => KeyChoice::Primary,
            KeysToRegenerate::Secondary => KeyChoice::Secondary,
            KeysToRegenerate::Both => KeyChoice::Both,
        }),
    };
    let identity = hub
        .update_identity(&key, update, precondition.as_ref())
        .await?;
    Ok(identity_response(
        hub,
        &identity,
        actix_web::http::StatusCode::OK,
        true,
    ))
}

async fn remove(
    request: &HttpRequest,
    caller: &Caller,
    hub: &Hub,
    key: IdentityKey,
) -> Result<HttpResponse, ApiError> {
    hub.delete_identity(&key, if_match(request)?.as_ref())
        .await?;
    tracing::info!(identity = %key, principal = %caller.principal.name(), "identity deleted");
    Ok(HttpResponse::NoContent().finish())
}

async fn list(
    caller: &Caller,
    hub: &Hub,
    authz: &Authz,
    params: &ListParams,
    modules_of: Option<String>,
) -> Result<web::Json<DeviceList>, ApiError> {
    let connection_state = match params.connection_state.as_deref() {
        None => None,
        Some("connected") => Some(ConnectionState::Connected),
        Some("disconnected") => Some(ConnectionState::Disconnected),
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid-parameter",
                format!("connectionState must be connected or disconnected, not {other:?}"),
            ));
        }
    };
    let limit = super::parse_bounded(
        "limit",
        params.limit.as_deref(),
        100,
        1,
        twinhub_hub::MAX_PAGE as u64,
    )?;
    let page = hub
        .list_identities(&IdentityQuery {
            modules_of,
            model_id: params.model_id.clone(),
            connection_state,
            after: params.after.clone(),
            limit: usize::try_from(limit).unwrap_or(twinhub_hub::MAX_PAGE),
        })
        .await?;
    let with_secrets = manages(authz, caller);
    Ok(web::Json(DeviceList {
        items: page
            .identities
            .iter()
            .map(|identity| DeviceView::new(hub, identity, with_secrets))
            .collect(),
        next_after: page.next_after,
    }))
}

async fn read(
    caller: &Caller,
    hub: &Hub,
    authz: &Authz,
    key: IdentityKey,
) -> Result<HttpResponse, ApiError> {
    let identity = hub.identity(&key).await?;
    Ok(identity_response(
        hub,
        &identity,
        actix_web::http::StatusCode::OK,
        manages(authz, caller),
    ))
}

/// How a twin write treats the sections it carries.
#[derive(Clone, Copy)]
enum TwinWrite {
    /// JSON merge patches of tags and desired properties.
    Patch,
    /// Each section given replaces the stored one.
    Replace,
}

async fn change_twin(
    request: &HttpRequest,
    payload: web::Payload,
    hub: &Hub,
    key: IdentityKey,
    validate: Option<&str>,
    write: TwinWrite,
) -> Result<HttpResponse, ApiError> {
    let validate = flag("validate", validate)?;
    let precondition = if_match(request)?;
    let update = match write {
        TwinWrite::Patch => {
            let patch: TwinPatch = json_request(
                request,
                payload,
                BODY_LIMIT,
                r#"{"tags": {"site": "berlin"}, "properties": {"desired": {"thermostat1": {"__t": "c", "targetTemperature": 21.5}}}}"#,
            )
            .await?;
            TwinUpdate {
                tags: patch.tags,
                desired: patch.properties.and_then(|p| p.desired),
                replace: false,
            }
        }
        TwinWrite::Replace => {
            let replacement: TwinReplacement = json_request(
                request,
                payload,
                BODY_LIMIT,
                r#"{"tags": {"site": "berlin"}, "properties": {"desired": {"targetTemperature": 21.5}}}"#,
            )
            .await?;
            TwinUpdate {
                tags: replacement.tags,
                desired: replacement.properties.and_then(|p| p.desired),
                replace: true,
            }
        }
    };
    let record = hub
        .update_twin(&key, update, precondition.as_ref(), validate)
        .await
        .map_err(|e| ApiError::from(e).under_pointer("/properties/desired"))?;
    twin_response(hub, &key, Some(record)).await
}

// ----- devices -----

/// Register a device. Without `authentication` it gets generated SAS keys; the answer carries
/// them and a ready connection string. Needs the owner role on `hub`.
#[utoipa::path(
    tag = "devices",
    request_body(content = NewDevice, content_type = "application/json"),
    responses(
        (status = 201, description = "The device, with its keys and connection string", body = DeviceView),
        (status = 400, description = "Bad id or authentication", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an owner of hub", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already registered", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/devices")]
pub async fn create_device(
    request: HttpRequest,
    payload: web::Payload,
    caller: Caller,
    hub: web::Data<Hub>,
    authz: web::Data<Authz>,
) -> Result<HttpResponse, ApiError> {
    authz.require(&caller, Action::ManageDevices, &Target::Hub)?;
    let new: NewDevice = json_request(
        &request,
        payload,
        BODY_LIMIT,
        r#"{"deviceId": "thermostat-01", "authentication": {"type": "sas"}}"#,
    )
    .await?;
    let key = device_key(&new.device_id)?;
    create(&caller, &hub, key, new.authentication, new.status).await
}

/// Devices, ordered by id, filtered by model id and connection state.
#[utoipa::path(
    tag = "devices",
    params(ListParams),
    responses(
        (status = 200, description = "One page of devices", body = DeviceList),
        (status = 400, description = "Bad parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "No role on hub", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/devices")]
pub async fn list_devices(
    caller: Caller,
    params: web::Query<ListParams>,
    hub: web::Data<Hub>,
    authz: web::Data<Authz>,
) -> Result<web::Json<DeviceList>, ApiError> {
    authz.require(&caller, Action::Read, &Target::Hub)?;
    list(&caller, &hub, &authz, &params, None).await
}

/// One device. Keys and the connection string only for owners of `hub`.
#[utoipa::path(
    tag = "devices",
    params(("deviceId" = String, Path, description = "The device id")),
    responses(
        (status = 200, description = "The device", body = DeviceView),
        (status = 400, description = "Not a device id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "No role on hub", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not registered", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/devices/{deviceId}")]
pub async fn get_device(
    caller: Caller,
    path: web::Path<String>,
    hub: web::Data<Hub>,
    authz: web::Data<Authz>,
) -> Result<HttpResponse, ApiError> {
    authz.require(&caller, Action::Read, &Target::Hub)?;
    read(&caller, &hub, &authz, device_key(&path)?).await
}

/// Change a device's status or credentials (`regenerateKeys` makes new SAS keys). Disabling
/// it disconnects it. `If-Match` with the device's etag guards against lost updates.
#[utoipa::path(
    tag = "devices",
    params(("deviceId" = String, Path, description = "The device id")),
    request_body(content = IdentityChange, content_type = "application/json"),
    responses(
        (status = 200, description = "The changed device", body = DeviceView),
        (status = 400, description = "Bad change", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an owner of hub", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not registered", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match names another etag", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[patch("/devices/{deviceId}")]
pub async fn patch_device(
    request: HttpRequest,
    payload: web::Payload,
    caller: Caller,
    path: web::Path<String>,
    hub: web::Data<Hub>,
    authz: web::Data<Authz>,
) -> Result<HttpResponse, ApiError> {
    authz.require(&caller, Action::ManageDevices, &Target::Hub)?;
    change(&request, payload, &hub, device_key(&path)?).await
}

/// Delete a device with its modules, twins and pending messages; a connected device is
/// disconnected.
#[utoipa::path(
    tag = "devices",
    params(("deviceId" = String, Path, description = "The device id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Not a device id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an owner of hub", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not registered", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match names another etag", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[delete("/devices/{deviceId}")]
pub async fn delete_device(
    request: HttpRequest,
    caller: Caller,
    path: web::Path<String>,
    hub: web::Data<Hub>,
    authz: web::Data<Authz>,
) -> Result<HttpResponse, ApiError> {
    authz.require(&caller, Action::ManageDevices, &Target::Hub)?;
    remove(&request, &caller, &hub, device_key(&path)?).await
}

// ----- modules -----

/// Register a module of a device (SAS with generated keys unless `authentication` says
/// otherwise). Needs the owner role on `hub`.
#[utoipa::path(
    tag = "devices",
    params(("deviceId" = String, Path, description = "The device id")),
    request_body(content = NewModule, content_type = "application/json"),
    responses(
        (status = 201, description = "The module, with its keys and connection string", body = DeviceView),
        (status = 400, description = "Bad id or authentication", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an owner of hub", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The device is not registered", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already registered", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/devices/{deviceId}/modules")]
pub async fn create_module(
    request: HttpRequest,
    payload: web::Payload,
    caller: Caller,
    path: web::Path<String>,
    hub: web::Data<Hub>,
    authz: web::Data<Authz>,
) -> Result<HttpResponse, ApiError> {
    authz.require(&caller, Action::ManageDevices, &Target::Hub)?;
    let new: NewModule = json_request(
        &request,
        payload,
        BODY_LIMIT,
        r#"{"moduleId": "filter", "authentication": {"type": "sas"}}"#,
    )
    .await?;
    let key = module_key(&path, &new.module_id)?;
    create(&caller, &hub, key, new.authentication, new.status).await
}

/// A device's modules, ordered by module id.
#[utoipa::path(
    tag = "devices",
    params(("deviceId" = String, Path, description = "The device id"), ListParams),
    responses(
        (status = 200, description = "One page of modules", body = DeviceList),
        (status = 400, description = "Bad parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "No role on hub", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The device is not registered", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/devices/{deviceId}/modules")]
pub async fn list_modules(
    caller: Caller,
    path: web::Path<String>,
    params: web::Query<ListParams>,
    hub: web::Data<Hub>,
    authz: web::Data<Authz>,
) -> Result<web::Json<DeviceList>, ApiError> {
    authz.require(&caller, Action::Read, &Target::Hub)?;
    let device = device_key(&path)?;
    hub.identity(&device).await?;
    list(&caller, &hub, &authz, &params, Some(device.device_id)).await
}

/// One module. Keys and the connection string only for owners of `hub`.
#[utoipa::path(
    tag = "devices",
    params(("deviceId" = String, Path, description = "The device id"), ("moduleId" = String, Path, description = "The module id")),
    responses(
        (status = 200, description = "The module", body = DeviceView),
        (status = 400, description = "Not a module id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "No role on hub", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not registered", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/devices/{deviceId}/modules/{moduleId}")]
pub async fn get_module(
    caller: Caller,
    path: web::Path<(String, String)>,
    hub: web::Data<Hub>,
    authz: web::Data<Authz>,
) -> Result<HttpResponse, ApiError> {
    authz.require(&caller, Action::Read, &Target::Hub)?;
    read(&caller, &hub, &authz, module_key(&path.0, &path.1)?).await
}

/// Change a module's status or credentials.
#[utoipa::path(
    tag = "devices",
    params(("deviceId" = String, Path, description = "The device id"), ("moduleId" = String, Path, description = "The module id")),
    request_body(content = IdentityChange, content_type = "application/json"),
    responses(
        (status = 200, description = "The changed module", body = DeviceView),
        (status = 400, description = "Bad change", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an owner of hub", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not registered", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match names another etag", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[patch("/devices/{deviceId}/modules/{moduleId}")]
pub async fn patch_module(
    request: HttpRequest,
    payload: web::Payload,
    caller: Caller,
    path: web::Path<(String, String)>,
    hub: web::Data<Hub>,
    authz: web::Data<Authz>,
) -> Result<HttpResponse, ApiError> {
    authz.require(&caller, Action::ManageDevices, &Target::Hub)?;
    change(&request, payload, &hub, module_key(&path.0, &path.1)?).await
}

/// Delete a module with its twin; a connected module is disconnected.
#[utoipa::path(
    tag = "devices",
    params(("deviceId" = String, Path, description = "The device id"), ("moduleId" = String, Path, description = "The module id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Not a module id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an owner of hub", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not registered", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match names another etag", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[delete("/devices/{deviceId}/modules/{moduleId}")]
pub async fn delete_module(
    request: HttpRequest,
    caller: Caller,
    path: web::Path<(String, String)>,
    hub: web::Data<Hub>,
    authz: web::Data<Authz>,
) -> Result<HttpResponse, ApiError> {
    authz.require(&caller, Action::ManageDevices, &Target::Hub)?;
    remove(&request, &caller, &hub, module_key(&path.0, &path.1)?).await
}

// ----- twins -----

/// The device twin as IoT Hub shapes it (`modelId`, `tags`, `properties.desired` and
/// `.reported` with `$metadata` and `$version`), plus `modelViolationCount`: how many reported
/// patches and telemetry messages broke the model (each reported value that does is flagged
/// with `$modelViolation` in `$metadata`).
#[utoipa::path(
    tag = "devices",
    params(("deviceId" = String, Path, description = "The device id")),
    responses(
        (status = 200, description = "The twin", body = Object),
        (status = 400, description = "Not a device id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "No role on hub", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not registered", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/devices/{deviceId}/twin")]
pub async fn get_twin(
    caller: Caller,
    path: web::Path<String>,
    hub: web::Data<Hub>,
    authz: web::Data<Authz>,
) -> Result<HttpResponse, ApiError> {
    authz.require(&caller, Action::Read, &Target::Hub)?;
    twin_response(&hub, &device_key(&path)?, None).await
}

/// Change tags and desired properties (JSON merge patches; `null` deletes). A desired
/// change goes to the connected device at once. `If-Match` with the twin's etag guards
/// against lost updates; a desired value the model forbids answers 422 unless
/// `?validate=false`.
#[utoipa::path(
    tag = "devices",
    params(("deviceId" = String, Path, description = "The device id"), ValidateParams),
    request_body(content = TwinPatch, content_type = "application/json"),
    responses(
        (status = 200, description = "The changed twin", body = Object),
        (status = 400, description = "Not a twin patch", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a publisher on hub", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not registered", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match names another etag", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The device's model forbids the change", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The device's model could not be loaded", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[patch("/devices/{deviceId}/twin")]
pub async fn patch_twin(
    request: HttpRequest,
    payload: web::Payload,
    caller: Caller,
    path: web::Path<String>,
    params: web::Query<ValidateParams>,
    hub: web::Data<Hub>,
    authz: web::Data<Authz>,
) -> Result<HttpResponse, ApiError> {
    authz.require(&caller, Action::OperateDevices, &Target::Hub)?;
    change_twin(
        &request,
        payload,
        &hub,
        device_key(&path)?,
        params.validate.as_deref(),
        TwinWrite::Patch,
    )
    .await
}

/// A module's twin.
#[utoipa::path(
    tag = "devices",
    params(("deviceId" = String, Path, description = "The device id"), ("moduleId" = String, Path, description = "The module id")),
    responses(
        (status = 200, description = "The twin", body = Object),
        (status = 400, description = "Not a module id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "No role on hub", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not registered", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/devices/{deviceId}/modules/{moduleId}/twin")]
pub async fn get_module_twin(
    caller: Caller,
    path: web::Path<(String, String)>,
    hub: web::Data<Hub>,
    authz: web::Data<Authz>,
) -> Result<HttpResponse, ApiError> {
    authz.require(&caller, Action::Read, &Target::Hub)?;
    twin_response(&hub, &module_key(&path.0, &path.1)?, None).await
}

/// Change a module twin's tags and desired properties.
#[utoipa::path(
    tag = "devices",
    params(("deviceId" = String, Path, description = "The device id"), ("moduleId" = String, Path, description = "The module id"), ValidateParams),
    request_body(content = TwinPatch, content_type = "application/json"),
    responses(
        (status = 200, description = "The changed twin", body = Object),
        (status = 400, description = "Not a twin patch", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a publisher on hub", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not registered", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match names another etag", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The module's model forbids the change", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The module's model could not be loaded", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[patch("/devices/{deviceId}/modules/{moduleId}/twin")]
pub async fn patch_module_twin(
    request: HttpRequest,
    payload: web::Payload,
    caller: Caller,
    path: web::Path<(String, String)>,
    params: web::Query<ValidateParams>,
    hub: web::Data<Hub>,
    authz: web::Data<Authz>,
) -> Result<HttpResponse, ApiError> {
    authz.require(&caller, Action::OperateDevices, &Target::Hub)?;
    let key = module_key(&path.0, &path.1)?;
    change_twin(
        &request,
        payload,
        &hub,
        key,
        params.validate.as_deref(),
        TwinWrite::Patch,
    )
    .await
}

/// Replace a device twin's tags and desired properties (`PUT /twins/{id}` of the IoT Hub
/// service API): each section given replaces the stored one, and a desired change goes to
/// the connected device at once. `If-Match` with the twin's etag guards against lost
/// updates; desired properties the model forbids answer 422 unless `?validate=false`.
#[utoipa::path(
    tag = "devices",
    params(("deviceId" = String, Path, description = "The device id"), ValidateParams),
    request_body(content = TwinReplacement, content_type = "application/json"),
    responses(
        (status = 200, description = "The replaced twin", body = Object),
        (status = 400, description = "Not a twin", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a publisher on hub", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not registered", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match names another etag", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The device's model forbids the desired properties", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The device's model could not be loaded", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[put("/devices/{deviceId}/twin")]
pub async fn put_twin(
    request: HttpRequest,
    payload: web::Payload,
    caller: Caller,
    path: web::Path<String>,
    params: web::Query<ValidateParams>,
    hub: web::Data<Hub>,
    authz: web::Data<Authz>,
) -> Result<HttpResponse, ApiError> {
    authz.require(&caller, Action::OperateDevices, &Target::Hub)?;
    change_twin(
        &request,
        payload,
        &hub,
        device_key(&path)?,
        params.validate.as_deref(),
        TwinWrite::Replace,
    )
    .await
}

/// Replace a module twin's tags and desired properties.
#[utoipa::path(
    tag = "devices",
    params(("deviceId" = String, Path, description = "The device id"), ("moduleId" = String, Path, description = "The module id"), ValidateParams),
    request_body(content = TwinReplacement, content_type = "application/json"),
    responses(
        (status = 200, description = "The replaced twin", body = Object),
        (status = 400, description = "Not a twin", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a publisher on hub", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not registered", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match names another etag", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The module's model forbids the desired properties", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The module's model could not be loaded", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[put("/devices/{deviceId}/modules/{moduleId}/twin")]
pub async fn put_module_twin(
    request: HttpRequest,
    payload: web::Payload,
    caller: Caller,
    path: web::Path<(String, String)>,
    params: web::Query<ValidateParams>,
    hub: web::Data<Hub>,
    authz: web::Data<Authz>,
) -> Result<HttpResponse, ApiError> {
    authz.require(&caller, Action::OperateDevices, &Target::Hub)?;
    let key = module_key(&path.0, &path.1)?;
    change_twin(
        &request,
        payload,
        &hub,
        key,
        params.validate.as_deref(),
        TwinWrite::Replace,
    )
    .await
}

/// The digital twin: the IoT Plug and Play view of the twin (`$dtId`, `$metadata.$model`,
/// per property `desiredValue`, `desiredVersion`, `ackCode`, `ackVersion`, components).
#[utoipa::path(
    tag = "devices",
    params(("deviceId" = String, Path, description = "The device id")),
    responses(
        (status = 200, description = "The digital twin", body = Object),
        (status = 400, description = "Not a device id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "No role on hub", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not registered", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/devices/{deviceId}/digitaltwin")]
pub async fn get_digital_twin(
    caller: Caller,
    path: web::Path<String>,
    hub: web::Data<Hub>,
    authz: web::Data<Authz>,
) -> Result<HttpResponse, ApiError> {
    authz.require(&caller, Action::Read, &Target::Hub)?;
    let key = device_key(&path)?;
    let record = hub.twin(&key).await?;
    let digital = hub.digital_twin(&key).await?;
    Ok(with_etag(
        actix_web::http::StatusCode::OK,
        &record.twin.etag().to_string(),
        digital,
    ))
}

/// Change the digital twin with a JSON Patch (`add`, `replace`, `remove` on `/prop` or
/// `/component/prop`): it becomes a desired-properties change, pushed to the device.
#[utoipa::path(
    tag = "devices",
    params(("deviceId" = String, Path, description = "The device id"), ValidateParams),
    request_body(content = Vec<Object>, description = "A JSON Patch (RFC 6902), e.g. [{\"op\": \"add\", \"path\": \"/thermostat1/targetTemperature\", \"value\": 21.5}]", content_type = "application/json"),
    responses(
        (status = 200, description = "The changed digital twin", body = Object),
        (status = 400, description = "Not a JSON Patch the digital twin takes", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a publisher on hub", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not registered", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match names another etag", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The device's model forbids the change", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The device's model could not be loaded", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[patch("/devices/{deviceId}/digitaltwin")]
pub async fn patch_digital_twin(
    request: HttpRequest,
    payload: web::Payload,
    caller: Caller,
    path: web::Path<String>,
    params: web::Query<ValidateParams>,
    hub: web::Data<Hub>,
    authz: web::Data<Authz>,
) -> Result<HttpResponse, ApiError> {
    authz.require(&caller, Action::OperateDevices, &Target::Hub)?;
    let validate = flag("validate", params.validate.as_deref())?;
    let key = device_key(&path)?;
    let precondition = if_match(&request)?;
    let patch: Value = json_request(
        &request,
        payload,
        BODY_LIMIT,
        r#"[{"op": "add", "path": "/thermostat1/targetTemperature", "value": 21.5}]"#,
    )
    .await?;
    let record = hub
        .patch_digital_twin(&key, &patch, precondition.as_ref(), validate)
        .await?;
    let digital = hub.digital_twin(&key).await?;
    Ok(with_etag(
        actix_web::http::StatusCode::OK,
        &record.twin.etag().to_string(),
        digital,
    ))
}

// ----- live operations -----

async fn command(
    request: &HttpRequest,
    payload: web::Payload,
    hub: &Hub,
    key: IdentityKey,
    component: Option<&str>,
    name: &str,
    params: &CommandParams,
) -> Result<web::Json<CommandResult>, ApiError> {
    let (default, min, max) = COMMAND_TIMEOUT;
    let timeout = super::parse_bounded("timeout", params.timeout.as_deref(), default, min, max)?;
    let validate = flag("validate", params.validate.as_deref())?;
    let limit = hub.config().max_method_payload_bytes + 1024;
    let body = read_body(request, payload, limit).await?;
    let payload = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        require_json(request)?;
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::bad_request(
                "invalid-body",
                format!(
                    "the command payload must be JSON (any value, e.g. 5 or {{\"delay\": 5}}): {e}"
                ),
            )
        })?
    };
    let answer = hub
        .invoke_command(
            &key,
            component,
            name,
            payload,
            Duration::from_secs(timeout),
            validate,
        )
        .await?;
    Ok(web::Json(CommandResult {
        status: answer.status,
        payload: answer.payload,
    }))
}

/// Invoke a command of the device's default component with the request payload as body,
/// waiting `?timeout=` seconds for its answer. 404 when the device is not connected, 504
/// when it does not answer in time, 422 when its model has no such command or the payload
/// does not fit (unless `?validate=false`).
#[utoipa::path(
    tag = "devices",
    params(("deviceId" = String, Path, description = "The device id"), ("command" = String, Path, description = "The command name"), CommandParams),
    request_body(content = Object, description = "The command's request payload: any JSON value (or nothing)", content_type = "application/json"),
    responses(
        (status = 200, description = "The device's answer", body = CommandResult),
        (status = 400, description = "Bad payload or parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a publisher on hub", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not registered, or not connected", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The device's model forbids the command or payload", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The device's model could not be loaded", body = Problem, content_type = "application/problem+json"),
        (status = 504, description = "The device did not answer in time", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/devices/{deviceId}/commands/{command}")]
pub async fn invoke_command(
    request: HttpRequest,
    payload: web::Payload,
    caller: Caller,
    path: web::Path<(String, String)>,
    params: web::Query<CommandParams>,
    hub: web::Data<Hub>,
    authz: web::Data<Authz>,
) -> Result<web::Json<CommandResult>, ApiError> {
    authz.require(&caller, Action::OperateDevices, &Target::Hub)?;
    let (device, name) = path.into_inner();
    command(
        &request,
        payload,
        &hub,
        device_key(&device)?,
        None,
        &name,
        &params,
    )
    .await
}

/// Invoke a command of one of the device's components (sent as `component*command`).
#[utoipa::path(
    tag = "devices",
    params(("deviceId" = String, Path, description = "The device id"), ("component" = String, Path, description = "The component name"), ("command" = String, Path, description = "The command name"), CommandParams),
    request_body(content = Object, description = "The command's request payload: any JSON value (or nothing)", content_type = "application/json"),
    responses(
        (status = 200, description = "The device's answer", body = CommandResult),
        (status = 400, description = "Bad payload or parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a publisher on hub", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not registered, or not connected", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The device's model forbids the command or payload", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The device's model could not be loaded", body = Problem, content_type = "application/problem+json"),
        (status = 504, description = "The device did not answer in time", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/devices/{deviceId}/components/{component}/commands/{command}")]
pub async fn invoke_component_command(
    request: HttpRequest,
    payload: web::Payload,
    caller: Caller,
    path: web::Path<(String, String, String)>,
    params: web::Query<CommandParams>,
    hub: web::Data<Hub>,
    authz: web::Data<Authz>,
) -> Result<web::Json<CommandResult>, ApiError> {
    authz.require(&caller, Action::OperateDevices, &Target::Hub)?;
    let (device, component, name) = path.into_inner();
    command(
        &request,
        payload,
        &hub,
        device_key(&device)?,
        Some(&component),
        &name,
        &params,
    )
    .await
}

/// Invoke a direct method of a connected module (the module form of the device command, as
/// `POST /twins/{id}/modules/{mid}/methods` of the IoT Hub service API), with the request
/// payload as body, waiting `?timeout=` seconds (5 to 300) for its answer. 404 when the
/// module is not connected, 504 when it does not answer in time, 422 when the module's
/// model has no such command or the payload does not fit (unless `?validate=false`).
#[utoipa::path(
    tag = "devices",
    params(("deviceId" = String, Path, description = "The device id"), ("moduleId" = String, Path, description = "The module id"), ("command" = String, Path, description = "The method (command) name"), CommandParams),
    request_body(content = Object, description = "The method's request payload: any JSON value (or nothing)", content_type = "application/json"),
    responses(
        (status = 200, description = "The module's answer", body = CommandResult),
        (status = 400, description = "Bad payload or parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a publisher on hub", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not registered, or not connected", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The module's model forbids the command or payload", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The module's model could not be loaded", body = Problem, content_type = "application/problem+json"),
        (status = 504, description = "The module did not answer in time", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/devices/{deviceId}/modules/{moduleId}/commands/{command}")]
pub async fn invoke_module_command(
    request: HttpRequest,
    payload: web::Payload,
    caller: Caller,
    path: web::Path<(String, String, String)>,
    params: web::Query<CommandParams>,
    hub: web::Data<Hub>,
    authz: web::Data<Authz>,
) -> Result<web::Json<CommandResult>, ApiError> {
    authz.require(&caller, Action::OperateDevices, &Target::Hub)?;
    let (device, module, name) = path.into_inner();
    command(
        &request,
        payload,
        &hub,
        module_key(&device, &module)?,
        None,
        &name,
        &params,
    )
    .await
}

/// Send a cloud-to-device message: delivered at once to a connected device, otherwise
/// queued (at most 50 per device) until it connects or the message expires.
#[utoipa::path(
    tag = "devices",
    params(("deviceId" = String, Path, description = "The device id")),
    request_body(content = MessageRequest, content_type = "application/json"),
    responses(
        (status = 202, description = "Accepted for delivery", body = QueuedMessage),
        (status = 400, description = "Bad message", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a publisher on hub", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not registered", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "The device's queue is full", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/devices/{deviceId}/messages")]
pub async fn send_message(
    request: HttpRequest,
    payload: web::Payload,
    caller: Caller,
    path: web::Path<String>,
    hub: web::Data<Hub>,
    authz: web::Data<Authz>,
) -> Result<HttpResponse, ApiError> {
    authz.require(&caller, Action::OperateDevices, &Target::Hub)?;
    let key = device_key(&path)?;
    let message: MessageRequest = json_request(
        &request,
        payload,
        BODY_LIMIT,
        r#"{"body": "hello", "properties": {"color": "red"}}"#,
    )
    .await?;
    let (body, default_type) = match message.body {
        Value::String(text) => (text.into_bytes(), None),
        other => (
            serde_json::to_vec(&other).map_err(ApiError::unexpected)?,
            Some("application/json".to_owned()),
        ),
    };
    let properties = message
        .properties
        .into_iter()
        .map(|(name, value)| match value {
            Value::Null => Ok((name, None)),
            Value::String(text) => Ok((name, Some(text))),
            other => Err(ApiError::bad_request(
                "invalid-message",
                format!("property {name:?} must be a string or null, not {other}"),
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let stored = hub
        .send_c2d(
            &key,
            OutgoingC2d {
                body,
                properties,
                message_id: message.message_id,
                correlation_id: message.correlation_id,
                content_encoding: message
                    .content_encoding
                    .or_else(|| default_type.as_ref().map(|_| "utf-8".to_owned())),
                content_type: message.content_type.or(default_type),
                ttl: message.ttl_seconds.map(Duration::from_secs),
            },
        )
        .await?;
    Ok(HttpResponse::Accepted().json(QueuedMessage {
        message_id: stored.message_id,
        enqueued_time: stored.enqueued,
        expiry_time: stored.expires,
    }))
}
