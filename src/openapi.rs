//! The OpenAPI document root: info, tags, the bearer security scheme and the DMR paths (which
//! are registered as plain routes because they answer GET and HEAD). The API paths are
//! collected from the handlers themselves as they are registered.

use actix_web::App;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt;

use crate::routes;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "twinhub model repository",
        description = "Stores versioned DTDL models and serves them by DTMI. The `/dtmi/…`, `/metadata.json` and `/index*.json` routes follow the Device Models Repository convention, so existing IoT Plug and Play clients resolve from them unchanged. Writes need `Authorization: Bearer <admin token>`. Errors are RFC 9457 problem documents.",
        license(name = "MIT")
    ),
    paths(routes::dmr::model_file, routes::dmr::metadata, routes::dmr::index, routes::dmr::index_page),
    components(schemas(crate::http::error::Problem, crate::domain::issue::Issue)),
    tags(
        (name = "models", description = "Push, search, read and manage model versions"),
        (name = "dmr", description = "The Device Models Repository tree (anonymous, cacheable)"),
        (name = "operations", description = "Health, readiness and metrics"),
    ),
    modifiers(&BearerScheme)
)]
struct ApiDoc;

struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The admin token given with --admin-token"))
                    .build(),
            ),
        );
    }
}

/// The root document, before routes add their paths.
pub fn base() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The complete document, exactly as served at `/api/openapi.json`.
pub fn document() -> utoipa::openapi::OpenApi {
    let (_, api) = App::new()
        .into_utoipa_app()
        .openapi(base())
        .configure(routes::configure_documented)
        .split_for_parts();
    api
}

/// The complete document as pretty JSON, as `twinhub openapi` prints it.
pub fn document_json() -> String {
    document()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}
