//! Records refused writes in the audit log: a signed-in caller (token or session) asking for a
//! change its roles do not allow. Anonymous refusals are not recorded, so that anyone on the
//! network cannot fill the log; failed logins are recorded where they happen.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, web};

use crate::auth::Caller;
use crate::domain::access::{AuditEntry, Outcome};
use crate::store::Store;

pub async fn audit_refusals(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    // Reads (the DMR hot path) pass straight through.
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return next.call(request).await;
    }
    let target = format!("{} {}", request.method(), request.path());
    let response = next.call(request).await?;
    if response.status() != StatusCode::FORBIDDEN {
        return Ok(response);
    }
    // The Caller extractor leaves signed-in callers in the request's extensions.
    let actor = response
        .request()
        .extensions()
        .get::<Caller>()
        .map(Caller::actor);
    let store = response
        .request()
        .app_data::<web::Data<dyn Store>>()
        .cloned();
    if let (Some(actor), Some(store)) = (actor, store) {
        let entry = AuditEntry {
            action: "request.refused".to_owned(),
            target,
            outcome: Outcome::Denied,
            detail: None,
        };
        if let Err(error) = store.audit(&actor, &entry).await {
            tracing::warn!(error = %error, "could not record a refused request in the audit log");
        }
    }
    Ok(response)
}
