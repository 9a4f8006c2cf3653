//! The JSON API under `/api/v1`.

pub mod audit;
pub mod devices;
pub mod hub_service;
pub mod models;
pub mod namespaces;
pub mod routing;
pub mod tokens;
pub mod users;

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::http::error::ApiError;

pub fn configure(config: &mut ServiceConfig) {
    config
        .service(models::push_models)
        .service(models::import_models)
        .service(models::list_models)
        .service(models::get_dependencies)
        .service(models::get_dependents)
        .service(models::get_versions)
        .service(models::get_diff)
        .service(models::get_model)
        .service(models::patch_model)
        .service(models::delete_model)
        .service(namespaces::list_namespaces)
        .service(namespaces::get_namespace)
        .service(namespaces::put_namespace)
        .service(tokens::create_token)
        .service(tokens::list_tokens)
        .service(tokens::revoke_token)
        .service(users::list_users)
        .service(users::create_user)
        .service(users::get_user)
        .service(users::patch_user)
        .service(users::delete_user)
        .service(users::list_grants)
        .service(users::create_grant)
        .service(users::delete_grant)
        .service(audit::audit_log)
        .service(devices::create_device)
        .service(devices::list_devices)
        .service(devices::get_device)
        .service(devices::patch_device)
        .service(devices::delete_device)
        .service(devices::create_module)
        .service(devices::list_modules)
        .service(devices::get_module)
        .service(devices::patch_module)
        .service(devices::delete_module)
        .service(devices::get_twin)
        .service(devices::patch_twin)
        .service(devices::put_twin)
        .service(devices::get_module_twin)
        .service(devices::patch_module_twin)
        .service(devices::put_module_twin)
        .service(devices::get_digital_twin)
        .service(devices::patch_digital_twin)
        .service(devices::invoke_command)
        .service(devices::invoke_component_command)
        .service(devices::invoke_module_command)
        .service(devices::send_message)
        .service(hub_service::list_policies)
        .service(hub_service::create_policy)
        .service(hub_service::get_policy)
        .service(hub_service::patch_policy)
        .service(hub_service::delete_policy)
        .service(hub_service::regenerate_policy)
        .service(hub_service::policy_connection_string)
        .service(hub_service::query_devices)
        .service(routing::device_telemetry)
        .service(routing::list_routes)
        .service(routing::test_condition)
        .service(routing::put_route)
        .service(routing::delete_route)
        .service(routing::test_route)
        .service(routing::list_endpoints);
}

/// A whole-number query parameter within bounds, `default` when absent.
pub(crate) fn parse_bounded(
    name: &str,
    value: Option<&str>,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, ApiError> {
    let Some(text) = value else {
        return Ok(default);
    };
    match text.trim().parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(ApiError::bad_request(
            "invalid-parameter",
            format!("{name} must be a whole number from {min} to {max}, not {text:?}"),
        )),
    }
}

/// A DTDL text property as written in the model: a string, or a language map from language
/// code to string (`{"en": "Thermostat", "de": "Thermostat"}`). Used for `displayName` and
/// `description`.
pub struct LocalizedText;

impl PartialSchema for LocalizedText {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::String))
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Object)
                    .additional_properties(Some(ObjectBuilder::new().schema_type(Type::String))),
            )
            .description(Some(
                "A string, or a language map from language code to string",
            ))
            .into()
    }
}

impl ToSchema for LocalizedText {}
