//! HTTP adapters, one file per resource: extract, call the domain or store, respond. No SQL and
//! no repository rules live here. Handlers take `web::Data<…>` of the pieces they use (see
//! `startup::Services`); every API route is registered through the OpenAPI router
//! ([`configure_documented`]) so that nothing is missing from the document.

pub mod api;
pub mod dmr;
pub mod health;
pub mod pages;

use actix_web::{HttpRequest, HttpResponse, web};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::http::error::ApiError;

/// Registers every documented route (API and operations) through utoipa, so the OpenAPI
/// document is complete by construction.
pub fn configure_documented(config: &mut ServiceConfig) {
    config
        .service(health::healthz)
        .service(health::readyz)
        .service(health::metrics)
        // DMR files are compressed ahead of time (see `dmr.rs`); the API is compressed on the fly.
        .service(
            utoipa_actix_web::scope("/api/v1")
                .wrap(actix_web::middleware::Compress::default())
                .configure(api::configure),
        );
}

/// Registers the routes outside the OpenAPI document: the DMR tree (its own contract) and
/// the HTML pages.
pub fn configure_undocumented(config: &mut web::ServiceConfig) {
    config.configure(dmr::configure).configure(pages::configure);
}

/// What answers paths nothing is served at: browsers get the friendly page, API clients the
/// problem document.
pub async fn not_found(request: HttpRequest) -> HttpResponse {
    let error = ApiError::not_found(format!(
        "nothing is served at {}; see /api/docs/ for the API and /dtmi/… for models",
        request.path()
    ));
    let wants_html = request
        .headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    if wants_html {
        actix_web::ResponseError::error_response(&pages::error::PageError(error))
    } else {
        actix_web::ResponseError::error_response(&error)
    }
}
