//! The OpenAPI document root: info, tags, the bearer security scheme and the DMR paths (which
//! are registered as plain routes because they answer GET and HEAD). The API paths are
//! collected from the handlers themselves as they are registered; [`complete`] then adds the
//! responses that the shared layers give on any operation (bad credentials, CSRF refusals,
//! unparsable parameters, body limits), so the document says everything a client can get.

use actix_web::App;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
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
    components(schemas(crate::http::error::Problem, crate::domain::issue::Issue, routes::api::LocalizedText)),
    tags(
        (name = "models", description = "Push, search, read and manage model versions"),
        (name = "dmr", description = "The Device Models Repository tree (anonymous, cacheable)"),
        (name = "operations", description = "Health, readiness and metrics"),
        (name = "devices", description = "The device hub: devices and modules, twins, digital twins, commands and cloud-to-device messages (grants on the scope hub)"),
                (name = "hub", description = "The hub's shared access policies, device queries and message routing: routes, their test, endpoints (grants on the scope hub)"),
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

/// Operations that answer without looking at credentials.
const UNAUTHENTICATED: &[&str] = &["healthz", "readyz"];

/// Adds to every operation the responses the shared layers can give it, where its handler does
/// not document them already: 401 for a malformed, unknown, expired or revoked bearer token
/// (refused on every authenticated route, reads included); 403 for a cookie-authenticated
/// write without the session's CSRF token; 400 for a path or query parameter that does not
/// parse; 413 and 415 for request bodies over the limit or not sent as JSON.
pub fn complete(mut api: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    for item in api.paths.paths.values_mut() {
        let writes = [
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ];
        for operation in writes.into_iter().flatten() {
            complete_operation(operation, true);
        }
        for operation in [&mut item.get, &mut item.head].into_iter().flatten() {
            complete_operation(operation, false);
        }
    }
    api
}

fn complete_operation(operation: &mut Operation, writes: bool) {
    let authenticates = !operation
        .operation_id
        .as_deref()
        .is_some_and(|id| UNAUTHENTICATED.contains(&id));
    if authenticates {
        add_problem(
            operation,
            "401",
            "The bearer token is malformed, unknown, expired or revoked, or the operation needs a signed-in caller",
        );
    }
    if authenticates && writes {
        add_problem(
            operation,
            "403",
            "Refused: the caller lacks the right, or a cookie-authenticated write did not send the session's CSRF token in x-csrf-token",
        );
    }
    if operation.parameters.as_ref().is_some_and(|p| !p.is_empty()) {
        add_problem(
            operation,
            "400",
            "A path or query parameter is not valid; `detail` names it",
        );
    }
    if operation.request_body.is_some() {
        add_problem(operation, "413", "The body is over the size limit");
        add_problem(
            operation,
            "415",
            "The body is not sent as JSON (Content-Type: application/json)",
        );
    }
}

fn add_problem(operation: &mut Operation, status: &str, description: &str) {
    operation
        .responses
        .responses
        .entry(status.to_owned())
        .or_insert_with(|| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/problem+json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                )
                .build()
                .into()
        });
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
    complete(api)
}

/// The complete document as pretty JSON, as `twinhub openapi` prints it.
pub fn document_json() -> String {
    document()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}
