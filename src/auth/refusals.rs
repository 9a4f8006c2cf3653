//! Records refused writes in the audit log: a signed-in caller (token or session) asking for a
//! change its roles do not allow. Anonymous refusals are not recorded, so that anyone on the
//! network cannot fill the log; failed logins are recorded where they happen.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, web};

use crate::domain::access::{Actor, AuditEntry, Outcome};
use crate::startup::AppState;

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
    let who = response
        .request()
        .extensions()
        .get::<super::Caller>()
        .map(|caller| caller.principal.name());
    let state = response
        .request()
        .app_data::<web::Data<AppState>>()
        .cloned();
    if let (Some(who), Some(state)) = (who, state) {
        let actor = Actor::new(who, state.auth.source(response.request()));
        let entry = AuditEntry {
            action: "request.refused".to_owned(),
            target,
            outcome: Outcome::Denied,
            detail: None,
        };
        if let Err(error) = state.store.audit(&actor, &entry).await {
            tracing::warn!(error = %error, "could not record a refused request in the audit log");
        }
    }
    Ok(response)
}
