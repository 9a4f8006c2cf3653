//! Operations endpoints: liveness, readiness (the database answers) and Prometheus metrics.

use actix_web::http::header::ContentType;
use actix_web::{HttpResponse, get, web};
use serde::Serialize;

use crate::auth::Caller;
use crate::authz::Authz;
use crate::http::error::ApiError;
use crate::store::Store;
use crate::telemetry::metrics::Metrics;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok` when the check passed.
    status: &'static str,
}

/// Liveness: the process answers HTTP.
#[utoipa::path(tag = "operations", responses((status = 200, description = "The process is alive", body = Health)))]
#[get("/healthz")]
pub async fn healthz() -> web::Json<Health> {
    web::Json(Health { status: "ok" })
}

/// Readiness: the database answers.
#[utoipa::path(
    tag = "operations",
    responses(
        (status = 200, description = "Ready to serve", body = Health),
        (status = 503, description = "The database does not answer", body = crate::http::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/readyz")]
pub async fn readyz(store: web::Data<dyn Store>) -> Result<web::Json<Health>, ApiError> {
    store.ping().await.map_err(|error| {
        tracing::warn!(error = %error, "readiness check failed");
        ApiError::new(
            actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
            "not-ready",
            "Not ready",
            "the database does not answer; check that it is running and reachable",
        )
    })?;
    Ok(web::Json(Health { status: "ok" }))
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(tag = "operations", responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain")))]
#[get("/metrics")]
pub async fn metrics(
    caller: Caller,
    store: web::Data<dyn Store>,
    authz: web::Data<Authz>,
    metrics: web::Data<Metrics>,
) -> Result<HttpResponse, ApiError> {
    // The model count is what the caller could list: private models are not counted for
    // anonymous scrapers.
    let status = store.status(&authz.read_scope(&caller)).await?;
    Ok(HttpResponse::Ok()
        .content_type(ContentType(
            "text/plain; version=0.0.4; charset=utf-8"
                .parse()
                .map_err(ApiError::unexpected)?,
        ))
        .body(metrics.render(status.model_count)))
}
