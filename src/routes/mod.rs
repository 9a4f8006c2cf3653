//! HTTP adapters, one file per resource: extract, call the domain or store, respond. No SQL and
//! no repository rules live here.

pub mod api;
pub mod dmr;
pub mod health;
pub mod pages;

use utoipa_actix_web::service_config::ServiceConfig;

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
