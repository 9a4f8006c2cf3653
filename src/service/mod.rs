//! The IoT Hub service API: the HTTPS REST surface the unmodified Azure IoT service SDKs
//! (`azure-iot-hub`) call — registry, twins, direct methods, queries, digital twins — on its
//! own listener (`--service-bind`, default 127.0.0.1:8443) with the hub's certificate.
//! Requests carry service SAS tokens signed with a shared access policy key (`sas.rs`);
//! the policy's rights decide what they may do. Handlers go through the `Hub` facade of
//! crates/hub for identities, twins and live device operations, and through the store for
//! queries and policies. Responses and errors have IoT Hub's shapes (`documents.rs`,
//! `error.rs`) and its status codes (hub-protocol.md §2.3), not our API's.

pub mod devices;
pub mod documents;
pub mod error;
pub mod live;
pub mod policies;
pub mod query;
pub mod sas;
pub mod twins;

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::http::header;
use actix_web::{App, HttpRequest, HttpServer, web};
use twinhub_hub::{Hub, IdentityKey};
use twinhub_twin::IfMatch;

use crate::domain::policy::Right;
use crate::store::Store;
use error::HubApiError;
use sas::{ServiceToken, TokenError};

/// Largest request body of the registry and twin routes.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// What the service handlers share.
pub struct ServiceState {
    pub hub: Hub,
    /// The hub's side of the database (pending messages).
    pub hub_store: Arc<dyn twinhub_hub::HubStore>,
    pub store: Arc<dyn Store>,
    /// Names a token's `sr` may carry (the hub's host names), compared case-insensitively.
    pub host_names: Vec<String>,
    /// The port the listener is reached on; `sr` must carry it unless it is 443.
    pub port: u16,
}

impl ServiceState {
    /// Verifies the request's service token and that its policy grants one of `rights`.
    pub async fn authorize(
        &self,
        request: &HttpRequest,
        rights: &[Right],
    ) -> Result<(), HubApiError> {
        let header = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(TokenError::Missing)?;
        let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0);
        let token = ServiceToken::parse(header, now, &self.host_names, self.port)?;
        let policy = self
            .store
            .policy(&token.policy)
            .await?
            .ok_or_else(|| TokenError::UnknownPolicy(token.policy.clone()))?;
        if !token.signed_by_any(&[&policy.primary_key, &policy.secondary_key]) {
            return Err(TokenError::BadSignature(policy.name).into());
        }
        if rights.iter().any(|r| policy.has(*r)) {
            Ok(())
        } else {
            let names: Vec<&str> = rights.iter().map(|r| r.as_str()).collect();
            Err(HubApiError::unauthorized(format!(
                "policy {} does not grant {} needed here",
                policy.name,
                names.join(" or ")
            )))
        }
    }
}

/// A device key from a path segment.
pub fn device_key(device_id: &str) -> Result<IdentityKey, HubApiError> {
    IdentityKey::device(device_id).map_err(|e| HubApiError::argument_invalid(e.to_string()))
}

/// A module key from path segments.
pub fn module_key(device_id: &str, module_id: &str) -> Result<IdentityKey, HubApiError> {
    IdentityKey::module(device_id, module_id)
        .map_err(|e| HubApiError::argument_invalid(e.to_string()))
}

/// The request's `If-Match`, if any.
pub fn if_match(request: &HttpRequest) -> Result<Option<IfMatch>, HubApiError> {
    request
        .headers()
        .get(header::IF_MATCH)
        .map(|v| {
            let text = v
                .to_str()
                .map_err(|_| HubApiError::argument_invalid("If-Match is not ASCII"))?;
            IfMatch::parse(text).map_err(|e| HubApiError::argument_invalid(e.to_string()))
        })
        .transpose()
}

/// Reads a JSON body within `limit` bytes. The SDKs send `application/json; charset=utf-8`;
/// other clients sometimes omit the type, so it is not required.
pub async fn json_body(
    request: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<serde_json::Value, HubApiError> {
    let body = crate::http::body::read_body(request, payload, limit)
        .await
        .map_err(|e| {
            if e.status() == actix_web::http::StatusCode::PAYLOAD_TOO_LARGE {
                HubApiError::too_large(limit)
            } else {
                HubApiError::argument_invalid(e.detail().to_owned())
            }
        })?;
    if body.is_empty() {
        return Err(HubApiError::argument_invalid(
            "the request needs a JSON body",
        ));
    }
    serde_json::from_slice(&body)
        .map_err(|e| HubApiError::argument_invalid(format!("the body is not valid JSON: {e}")))
}

/// A JSON response as the SDKs expect it (msrest deserializes only `application/json`).
pub fn json_response(
    status: actix_web::http::StatusCode,
    body: &serde_json::Value,
) -> actix_web::HttpResponse {
    actix_web::HttpResponse::build(status)
        .content_type("application/json; charset=utf-8")
        .body(body.to_string())
}

/// Registers the service routes.
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .service(query::query_devices)
        .service(devices::list_devices)
        .service(devices::put_device)
        .service(devices::get_device)
        .service(devices::delete_device)
        .service(devices::list_modules)
        .service(devices::put_module)
        .service(devices::get_module)
        .service(devices::delete_module)
        .service(twins::get_twin)
        .service(twins::patch_twin)
        .service(twins::put_twin)
        .service(twins::get_module_twin)
        .service(twins::patch_module_twin)
        .service(twins::put_module_twin)
        .service(live::invoke_method)
        .service(live::invoke_module_method)
        .service(live::get_digital_twin)
        .service(live::patch_digital_twin)
        .service(live::invoke_root_command)
        .service(live::invoke_component_command);
}

/// The service HTTPS server on a bound listener.
pub fn server(
    state: Arc<ServiceState>,
    listener: TcpListener,
    tls: rustls::ServerConfig,
) -> std::io::Result<Server> {
    let data = web::Data::from(state);
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(
                web::PathConfig::default()
                    .error_handler(|e, _| HubApiError::argument_invalid(e.to_string()).into()),
            )
            .app_data(
                web::QueryConfig::default()
                    .error_handler(|e, _| HubApiError::argument_invalid(e.to_string()).into()),
            )
            .configure(configure)
            .default_service(web::to(|request: HttpRequest| async move {
                Err::<actix_web::HttpResponse, _>(HubApiError::new(
                    actix_web::http::StatusCode::NOT_FOUND,
                    "InvalidOperation",
                    400_003,
                    format!(
                        "{} {} is not an IoT Hub service operation",
                        request.method(),
                        request.path()
                    ),
                ))
            }))
    })
    .shutdown_timeout(10)
    .listen_rustls_0_23(listener, tls)?
    .run())
}

/// A rustls server configuration for the service listener from PEM files (no client
/// certificates: service callers authenticate with tokens).
pub fn tls_config(
    cert_pem: &std::path::Path,
    key_pem: &std::path::Path,
) -> Result<rustls::ServerConfig, String> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert_pem)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read the certificate {}: {e}", cert_pem.display()))?;
    let key = PrivateKeyDer::from_pem_file(key_pem)
        .map_err(|e| format!("cannot read the private key {}: {e}", key_pem.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("the certificate and key do not make a TLS identity: {e}"))
}
