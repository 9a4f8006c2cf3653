//! The JSON API under `/api/v1`.

pub mod models;

use utoipa_actix_web::service_config::ServiceConfig;

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
        .service(models::delete_model);
}
