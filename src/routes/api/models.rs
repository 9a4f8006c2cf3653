//! `/api/v1/models…`: push, search, read, lifecycle and delete of model versions. Each handler
//! parses its input, makes one authorization call when it writes, calls the domain or the
//! store, and answers; no SQL and no repository rules live here.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::parse_bounded;
use crate::auth::Caller;
use crate::authz::{Action, Authz, Target};
use crate::domain::access::PushAccess;
use crate::domain::batch::Batch;
use crate::domain::model::{ModelRecord, ModelState, Relation, SearchQuery};
use crate::http::Site;
use crate::http::body::{read_body, require_json};
use crate::http::error::ApiError;
use crate::repository::publish::{Publisher, PushError, PushPolicy, Rules};
use crate::repository::resolution::Resolution;
use crate::store::Store;

/// A stored model version, without its content.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModelSummary {
    /// The model's DTMI, in its original casing.
    dtmi: String,
    /// DTDL major version (2, 3 or 4).
    dtdl_version: u8,
    /// The model's displayName as written: a string or a language map.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<super::LocalizedText>)]
    display_name: Option<serde_json::Value>,
    /// The model's description as written: a string or a language map.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<super::LocalizedText>)]
    description: Option<serde_json::Value>,
    state: ModelState,
    /// SHA-256 of the stored bytes, hex.
    sha256: String,
    size_bytes: i64,
    pushed_by: String,
    pushed_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    state_changed_at: Option<DateTime<Utc>>,
    /// Repository conventions the model breaks, admitted by an admin's legacy import (absent
    /// when there are none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<crate::domain::issue::Issue>,
    links: ModelLinks,
}

/// Where to find a model.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModelLinks {
    #[serde(rename = "self")]
    self_link: String,
    /// The byte-exact model file in the DMR tree.
    dmr: String,
    /// The model and its dependency closure in the DMR tree.
    expanded: String,
}

impl From<ModelRecord> for ModelSummary {
    fn from(record: ModelRecord) -> Self {
        let (dmr, expanded) = match dtdl::Dtmi::parse(&record.dtmi) {
            Ok(dtmi) => (
                format!("/{}", dtmi.to_dmr_path()),
                format!("/{}", dtmi.to_dmr_expanded_path()),
            ),
            Err(_) => (String::new(), String::new()),
        };
        Self {
            links: ModelLinks {
                self_link: format!("/api/v1/models/{}", encode_dtmi(&record.dtmi)),
                dmr,
                expanded,
            },
            dtmi: record.dtmi,
            dtdl_version: record.dtdl_version,
            display_name: record.display_name,
            description: record.description,
            state: record.state,
            sha256: record.sha256,
            size_bytes: record.size_bytes,
            pushed_by: record.pushed_by,
            pushed_at: record.pushed_at,
            state_changed_at: record.state_changed_at,
            warnings: record.warnings,
        }
    }
}

/// A model version with its content.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModelDetail {
    #[serde(flatten)]
    summary: ModelSummary,
    /// The stored DTDL document (byte-exact at the `dmr` link).
    #[schema(value_type = Object)]
    content: serde_json::Value,
    /// With `expand=true`: the model and its whole dependency closure, root first.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    expanded: Option<Vec<serde_json::Value>>,
}

/// What a push did.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PushResponse {
    /// Models stored by this push, dependencies first.
    created: Vec<ModelSummary>,
    /// DTMIs that were already stored with identical content.
    unchanged: Vec<String>,
}

/// A page of models.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModelPage {
    items: Vec<ModelSummary>,
    page: u64,
    per_page: u64,
    /// Models matching the query in all.
    total: u64,
    links: PageLinks,
}

#[derive(Serialize, ToSchema)]
pub struct PageLinks {
    #[serde(rename = "self")]
    self_link: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prev: Option<String>,
}

/// A list of models (dependencies, dependents, versions).
#[derive(Serialize, ToSchema)]
pub struct ModelList {
    items: Vec<ModelSummary>,
}

/// Search filters and paging. Values arrive as text so that nonsense gets a precise error.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Case-insensitive text found in the DTMI, displayName or description.
    q: Option<String>,
    /// DTMI namespace, e.g. `com:example` or `dtmi:com:example` (whole segments).
    namespace: Option<String>,
    /// `published`, `deprecated` or `decommissioned`.
    state: Option<String>,
    /// Only the models this DTMI depends on, directly or not.
    #[serde(rename = "dependenciesFor")]
    #[param(rename = "dependenciesFor")]
    dependencies_for: Option<String>,
    /// Page number, from 1.
    page: Option<String>,
    /// Models per page, 1 to 500 (default 50).
    per_page: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DetailParams {
    /// `true` adds the dependency closure as `expanded`.
    expand: Option<String>,
}

/// The lifecycle change requested by `PATCH`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StateChange {
    /// `deprecated` or `decommissioned` (states only move forward).
    state: ModelState,
}

const MAX_PER_PAGE: u64 = 500;
const MAX_PAGE: u64 = 1_000_000;

/// Push one interface or an array of them, all or nothing.
#[utoipa::path(
    tag = "models",
    request_body(content = Object, description = "One DTDL Interface object or an array of them; every referenced DTMI must be in the array or already stored", content_type = "application/json"),
    responses(
        (status = 201, description = "Models were stored", body = PushResponse),
        (status = 200, description = "Every model was already stored with identical content", body = PushResponse),
        (status = 400, description = "The body is not JSON, not UTF-8, or not an object or array", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid admin token", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Conflicts with stored models (changed content, case collision, deleted DTMI, decommissioned dependency)", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body or batch over the limits", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Content-Type is not JSON", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid DTDL, unknown dependency or dependency cycle; `errors` lists each issue with its location", body = crate::http::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/models")]
pub async fn push_models(
    request: HttpRequest,
    caller: Caller,
    payload: web::Payload,
    store: web::Data<dyn Store>,
    authz: web::Data<Authz>,
    publisher: web::Data<Publisher>,
    site: web::Data<Site>,
) -> Result<HttpResponse, ApiError> {
    let access = authz.push_access(&caller)?;
    let body = json_body(&request, payload, &site).await?;
    let batch = Batch::parse(&body, publisher.policy().max_models).map_err(PushError::from)?;
    store_batch(
        store.get_ref(),
        &publisher,
        &caller,
        access,
        batch,
        Rules::PUSH,
    )
    .await
}

/// Files of an import: each an interface object or an array of them, as in a DMR folder.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct ImportRequest {
    files: Vec<ImportFile>,
    /// Admins only: admit models that break only the repository's conventions (nested `@id`s
    /// outside the root DTMI, as in older public models); each is stored with `warnings`.
    #[serde(default)]
    allow_legacy: bool,
}

/// One imported file.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportFile {
    /// The file's path, used in error locations (e.g. `dtmi/com/example/thermostat-1.json`).
    path: String,
    /// The file's exact text; a single model is stored as exactly this text.
    content: String,
}

/// Import a set of files as one all-or-nothing push, keeping each single-model file's exact
/// bytes (`twinhub push DIR` uses this).
#[utoipa::path(
    tag = "models",
    request_body(content = ImportRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Models were stored", body = PushResponse),
        (status = 200, description = "Every model was already stored with identical content", body = PushResponse),
        (status = 400, description = "The body or a file is not JSON, or a file is not an object or array", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid admin token", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller may not push a model, or sent `allowLegacy` without the admin role", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Conflicts with stored models", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body or batch over the limits", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Content-Type is not JSON", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid DTDL, unknown dependency or dependency cycle; each issue names its file", body = crate::http::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/imports")]
pub async fn import_models(
    request: HttpRequest,
    caller: Caller,
    payload: web::Payload,
    store: web::Data<dyn Store>,
    authz: web::Data<Authz>,
    publisher: web::Data<Publisher>,
    site: web::Data<Site>,
) -> Result<HttpResponse, ApiError> {
    let access = authz.push_access(&caller)?;
    let body = json_body(&request, payload, &site).await?;
    let import: ImportRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            "invalid-body",
            format!(
                "the body must be {{\"files\": [{{\"path\": \"…\", \"content\": \"…\"}}]}}: {e}"
            ),
        )
    })?;
    let rules = if import.allow_legacy {
        if !authz.is_admin(&caller) {
            return Err(ApiError::forbidden(
                "allowLegacy admits models that break the repository's conventions and is for admins only; fix the models or ask an admin to import them",
            ));
        }
        Rules::LEGACY
    } else {
        Rules::PUSH
    };
    let files: Vec<(String, String)> = import
        .files
        .into_iter()
        .map(|f| (f.path, f.content))
        .collect();
    let batch =
        Batch::from_files(&files, publisher.policy().max_models).map_err(PushError::from)?;
    store_batch(store.get_ref(), &publisher, &caller, access, batch, rules).await
}

/// A push's JSON body, within the size limit.
async fn json_body(
    request: &HttpRequest,
    payload: web::Payload,
    site: &Site,
) -> Result<web::BytesMut, ApiError> {
    require_json(request)?;
    read_body(request, payload, site.max_body_bytes).await
}

/// Runs the push pipeline and answers with what it stored.
async fn store_batch(
    store: &dyn Store,
    publisher: &Publisher,
    caller: &Caller,
    access: Arc<dyn PushAccess>,
    batch: Batch<'_>,
    rules: Rules,
) -> Result<HttpResponse, ApiError> {
    let actor = caller.actor();
    let outcome = publisher.push(batch, access, &actor, rules).await?;
    if !outcome.created.is_empty() {
        tracing::info!(
            models.created = outcome.created.len(),
            models.unchanged = outcome.unchanged.len(),
            principal = %actor.name,
            "models pushed"
        );
    }
    let lowers: Vec<String> = outcome.created.iter().map(|d| d.to_lowercase()).collect();
    let mut records = store.records(&lowers).await?;
    let position = |dtmi: &str| outcome.created.iter().position(|c| c == dtmi);
    records.sort_by_key(|r| position(&r.dtmi));
    let status = if outcome.created.is_empty() {
        actix_web::http::StatusCode::OK
    } else {
        actix_web::http::StatusCode::CREATED
    };
    Ok(HttpResponse::build(status).json(PushResponse {
        created: records.into_iter().map(ModelSummary::from).collect(),
        unchanged: outcome.unchanged,
    }))
}

/// Search models.
#[utoipa::path(
    tag = "models",
    params(SearchParams),
    responses(
        (status = 200, description = "One page of matching models, ordered by DTMI", body = ModelPage),
        (status = 400, description = "A filter or paging value is not valid", body = crate::http::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/models")]
pub async fn list_models(
    request: HttpRequest,
    caller: Caller,
    params: web::Query<SearchParams>,
    store: web::Data<dyn Store>,
    authz: web::Data<Authz>,
) -> Result<web::Json<ModelPage>, ApiError> {
    // Listing is open to everyone; what each caller sees is limited to what it may read.
    let scope = authz.read_scope(&caller);
    let params = params.into_inner();
    let page = parse_bounded("page", params.page.as_deref(), 1, 1, MAX_PAGE)?;
    let per_page = parse_bounded("per_page", params.per_page.as_deref(), 50, 1, MAX_PER_PAGE)?;
    let state_filter = params
        .state
        .as_deref()
        .map(|s| {
            s.parse::<ModelState>()
                .map_err(|e| ApiError::bad_request("invalid-parameter", format!("state: {e}")))
        })
        .transpose()?;
    let namespace_prefix = params
        .namespace
        .as_deref()
        .map(namespace_prefix)
        .transpose()?;
    let dependencies_of = match params.dependencies_for.as_deref() {
        Some(dtmi) => {
            let record = find_record(store.get_ref(), &authz, &caller, dtmi).await?;
            Some(record.id)
        }
        None => None,
    };
    let query = SearchQuery {
        text: params
            .q
            .filter(|q| !q.trim().is_empty())
            .map(|q| q.trim().to_owned()),
        namespace_prefix,
        state: state_filter,
        dependencies_of,
        offset: (page - 1) * per_page,
        limit: per_page,
        ..SearchQuery::within(scope)
    };
    let found = store.search(&query).await?;
    let link = |p: u64| page_link(&request, p, per_page);
    let links = PageLinks {
        self_link: link(page),
        next: (page * per_page < found.total).then(|| link(page + 1)),
        prev: (page > 1).then(|| link(page - 1)),
    };
    Ok(web::Json(ModelPage {
        items: found.items.into_iter().map(ModelSummary::from).collect(),
        page,
        per_page,
        total: found.total,
        links,
    }))
}

/// One model version with its content.
#[utoipa::path(
    tag = "models",
    params(("dtmi" = String, Path, description = "The model's DTMI (case-sensitive), e.g. `dtmi:com:example:Thermostat;1`"), DetailParams),
    responses(
        (status = 200, description = "The model", body = ModelDetail),
        (status = 400, description = "Not a DTMI", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not stored", body = crate::http::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/models/{dtmi}")]
pub async fn get_model(
    caller: Caller,
    path: web::Path<String>,
    params: web::Query<DetailParams>,
    store: web::Data<dyn Store>,
    authz: web::Data<Authz>,
) -> Result<web::Json<ModelDetail>, ApiError> {
    let dtmi = parse_dtmi(&path)?;
    authz.require(&caller, Action::Read, &Target::Model(dtmi.as_str()))?;
    let expand = match params.expand.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid-parameter",
                format!("expand must be true or false, not {other:?}"),
            ));
        }
    };
    let model = store
        .find(&dtmi.as_str().to_lowercase())
        .await?
        .filter(|m| m.record.dtmi == dtmi.as_str())
        .ok_or_else(|| ApiError::model_not_found(dtmi.as_str()))?;
    let content = parse_stored(&model.record.dtmi, &model.content)?;
    let expanded = if expand {
        let closure = store.closure(model.record.id).await?;
        // The closure of a readable model may reach into another private namespace.
        let scope = authz.read_scope(&caller);
        if !closure.iter().all(|m| scope.can_read(&m.record.dtmi)) {
            return Err(ApiError::model_not_found(dtmi.as_str()));
        }
        Some(
            closure
                .iter()
                .map(|m| parse_stored(&m.record.dtmi, &m.content))
                .collect::<Result<Vec<_>, _>>()?,
        )
    } else {
        None
    };
    Ok(web::Json(ModelDetail {
        summary: model.record.into(),
        content,
        expanded,
    }))
}

/// The models this model references directly.
#[utoipa::path(
    tag = "models",
    params(("dtmi" = String, Path, description = "The model's DTMI")),
    responses(
        (status = 200, description = "Direct dependencies, ordered by DTMI", body = ModelList),
        (status = 404, description = "Not stored", body = crate::http::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/models/{dtmi}/dependencies")]
pub async fn get_dependencies(
    caller: Caller,
    path: web::Path<String>,
    store: web::Data<dyn Store>,
    authz: web::Data<Authz>,
) -> Result<web::Json<ModelList>, ApiError> {
    related(
        store.get_ref(),
        &authz,
        &caller,
        &path,
        Relation::Dependencies,
    )
    .await
}

/// The models that reference this model directly.
#[utoipa::path(
    tag = "models",
    params(("dtmi" = String, Path, description = "The model's DTMI")),
    responses(
        (status = 200, description = "Direct dependents, ordered by DTMI", body = ModelList),
        (status = 404, description = "Not stored", body = crate::http::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/models/{dtmi}/dependents")]
pub async fn get_dependents(
    caller: Caller,
    path: web::Path<String>,
    store: web::Data<dyn Store>,
    authz: web::Data<Authz>,
) -> Result<web::Json<ModelList>, ApiError> {
    related(
        store.get_ref(),
        &authz,
        &caller,
        &path,
        Relation::Dependents,
    )
    .await
}

async fn related(
    store: &dyn Store,
    authz: &Authz,
    caller: &Caller,
    dtmi: &str,
    relation: Relation,
) -> Result<web::Json<ModelList>, ApiError> {
    let record = find_record(store, authz, caller, dtmi).await?;
    let items = store.related(record.id, relation).await?;
    let scope = authz.read_scope(caller);
    Ok(web::Json(ModelList {
        items: items
            .into_iter()
            .filter(|m| scope.can_read(&m.dtmi))
            .map(ModelSummary::from)
            .collect(),
    }))
}

/// Every stored version of the DTMI (its version part is ignored).
#[utoipa::path(
    tag = "models",
    params(("dtmi" = String, Path, description = "A DTMI with or without version, e.g. `dtmi:com:example:Thermostat`")),
    responses(
        (status = 200, description = "Versions, oldest first", body = ModelList),
        (status = 400, description = "Not a DTMI", body = crate::http::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/models/{dtmi}/versions")]
pub async fn get_versions(
    caller: Caller,
    path: web::Path<String>,
    store: web::Data<dyn Store>,
    authz: web::Data<Authz>,
) -> Result<web::Json<ModelList>, ApiError> {
    let dtmi = parse_dtmi(&path)?;
    // All versions share a namespace: a caller who cannot read one sees an empty list, the
    // same as for a DTMI with no versions at all.
    let scope = authz.read_scope(&caller);
    let items = store.versions(&dtmi.versionless().to_lowercase()).await?;
    Ok(web::Json(ModelList {
        items: items
            .into_iter()
            .filter(|m| scope.can_read(&m.dtmi))
            .map(ModelSummary::from)
            .collect(),
    }))
}

/// What changed between two model versions (or any two interfaces), each change with its
/// element path and a verdict: additive, semantic (unit or semantic type), cosmetic (display
/// name, description, comment), breaking for devices, breaking for solutions, or both.
#[utoipa::path(
    tag = "models",
    params(
        ("dtmi" = String, Path, description = "The old model's DTMI, e.g. `dtmi:com:example:Thermostat;1`"),
        ("other" = String, Path, description = "The new model's DTMI, e.g. `dtmi:com:example:Thermostat;2`"),
    ),
    responses(
        (status = 200, description = "The changes from the first model to the second, grouped as added, removed and changed", body = crate::domain::diff::Diff),
        (status = 400, description = "Not a DTMI", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "One of the models is not stored", body = crate::http::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/models/{dtmi}/diff/{other}")]
pub async fn get_diff(
    caller: Caller,
    path: web::Path<(String, String)>,
    store: web::Data<dyn Store>,
    authz: web::Data<Authz>,
    policy: web::Data<PushPolicy>,
) -> Result<web::Json<crate::domain::diff::Diff>, ApiError> {
    let (from, to) = path.into_inner();
    Ok(web::Json(
        diff_models(store.get_ref(), &authz, &policy, &caller, &from, &to).await?,
    ))
}

/// Loads two stored models the caller may read and diffs them (shared by the API and the
/// diff page). The authorization: reading both models.
pub async fn diff_models(
    store: &dyn Store,
    authz: &Authz,
    policy: &PushPolicy,
    caller: &Caller,
    from: &str,
    to: &str,
) -> Result<crate::domain::diff::Diff, ApiError> {
    let (from, to) = (parse_dtmi(from)?, parse_dtmi(to)?);
    for dtmi in [&from, &to] {
        authz.require(caller, Action::Read, &Target::Model(dtmi.as_str()))?;
    }
    let load = |dtmi: dtdl::Dtmi| async move {
        crate::repository::inspect::load(store, dtmi.as_str(), &policy.parsing)
            .await?
            .ok_or_else(|| ApiError::model_not_found(dtmi.as_str()))
    };
    let old = load(from).await?;
    let new = load(to).await?;
    match (old.root(), new.root()) {
        (Some(a), Some(b)) => Ok(crate::domain::diff::diff(a, b)),
        _ => Err(ApiError::unexpected(format!(
            "stored model {} or {} has no root interface",
            old.record.dtmi, new.record.dtmi
        ))),
    }
}

/// Move a model forward in its lifecycle.
#[utoipa::path(
    tag = "models",
    params(("dtmi" = String, Path, description = "The model's DTMI")),
    request_body(content = StateChange, content_type = "application/json"),
    responses(
        (status = 200, description = "The model in its new state", body = ModelSummary),
        (status = 400, description = "Body is not a valid state change", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid admin token", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not stored", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The transition goes backwards or stays put", body = crate::http::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[patch("/models/{dtmi}")]
pub async fn patch_model(
    request: HttpRequest,
    caller: Caller,
    path: web::Path<String>,
    payload: web::Payload,
    store: web::Data<dyn Store>,
    resolution: web::Data<Resolution>,
    authz: web::Data<Authz>,
) -> Result<web::Json<ModelSummary>, ApiError> {
    let dtmi = parse_dtmi(&path)?;
    require_json(&request)?;
    let body = read_body(&request, payload, 64 * 1024).await?;
    let change: StateChange = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            "invalid-body",
            format!("the body must be {{\"state\": \"deprecated\"}} or {{\"state\": \"decommissioned\"}}: {e}"),
        )
    })?;
    let action = match change.state {
        ModelState::Decommissioned => Action::Decommission,
        ModelState::Deprecated | ModelState::Published => Action::Deprecate,
    };
    authz.require(&caller, action, &Target::Model(dtmi.as_str()))?;
    let record = store
        .set_state(dtmi.as_str(), change.state, &caller.actor())
        .await?;
    resolution.apply(&crate::domain::model::Change::StateChanged {
        dtmi_lower: dtmi.as_str().to_lowercase(),
    });
    tracing::info!(model.dtmi = %dtmi, model.state = %change.state, principal = %caller.principal.name(), "model state changed");
    Ok(web::Json(record.into()))
}

/// Delete a model version; refused while other models depend on it. A tombstone keeps the DTMI
/// from returning with different content.
#[utoipa::path(
    tag = "models",
    params(("dtmi" = String, Path, description = "The model's DTMI")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No valid admin token", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not stored", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Other models depend on it; `dependents` lists them", body = crate::http::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[delete("/models/{dtmi}")]
pub async fn delete_model(
    caller: Caller,
    path: web::Path<String>,
    store: web::Data<dyn Store>,
    resolution: web::Data<Resolution>,
    authz: web::Data<Authz>,
) -> Result<HttpResponse, ApiError> {
    let dtmi = parse_dtmi(&path)?;
    authz.require(&caller, Action::Delete, &Target::Model(dtmi.as_str()))?;
    store
        .delete(dtmi.as_str(), &caller.actor())
        .await
        .map_err(|error| hide_unreadable_dependents(&authz, &caller, error))?;
    resolution.apply(&crate::domain::model::Change::Deleted {
        dtmi_lower: dtmi.as_str().to_lowercase(),
    });
    tracing::info!(model.dtmi = %dtmi, principal = %caller.principal.name(), "model deleted");
    Ok(HttpResponse::NoContent().finish())
}

pub fn parse_dtmi(text: &str) -> Result<dtdl::Dtmi, ApiError> {
    dtdl::Dtmi::parse(text).map_err(|e| {
        ApiError::bad_request(
            "invalid-dtmi",
            format!(
                "{text:?} is not a valid DTMI: {e}; DTMIs look like dtmi:com:example:Thermostat;1"
            ),
        )
    })
}

/// A refused delete names the dependents; those the caller may not read are only counted.
fn hide_unreadable_dependents(
    authz: &Authz,
    caller: &Caller,
    error: crate::store::StoreError,
) -> ApiError {
    match error {
        crate::store::StoreError::HasDependents { dtmi, dependents } => {
            let total = dependents.len();
            let scope = authz.read_scope(caller);
            let mut visible: Vec<String> = dependents
                .into_iter()
                .filter(|d| scope.can_read(d))
                .collect();
            let hidden = total - visible.len();
            if hidden > 0 {
                visible.push(format!("{hidden} model(s) you cannot see"));
            }
            crate::store::StoreError::HasDependents {
                dtmi,
                dependents: visible,
            }
            .into()
        }
        other => other.into(),
    }
}

/// The stored record of a DTMI the caller may read (404 otherwise).
async fn find_record(
    store: &dyn Store,
    authz: &Authz,
    caller: &Caller,
    text: &str,
) -> Result<ModelRecord, ApiError> {
    let dtmi = parse_dtmi(text)?;
    authz.require(caller, Action::Read, &Target::Model(dtmi.as_str()))?;
    store
        .records(&[dtmi.as_str().to_lowercase()])
        .await?
        .into_iter()
        .find(|r| r.dtmi == dtmi.as_str())
        .ok_or_else(|| ApiError::model_not_found(dtmi.as_str()))
}

fn parse_stored(dtmi: &str, content: &[u8]) -> Result<serde_json::Value, ApiError> {
    serde_json::from_slice(content)
        .map_err(|e| ApiError::unexpected(format!("stored model {dtmi} is not JSON: {e}")))
}

/// `com:example`, `dtmi:com:example` or `dtmi:com:example:` → `dtmi:com:example:`.
fn namespace_prefix(namespace: &str) -> Result<String, ApiError> {
    let trimmed = namespace.trim().trim_end_matches(':');
    let bare = trimmed.strip_prefix("dtmi:").unwrap_or(trimmed);
    let valid = !bare.is_empty()
        && bare.split(':').all(|segment| {
            segment
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && segment
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
    if !valid {
        return Err(ApiError::bad_request(
            "invalid-parameter",
            format!("namespace {namespace:?} is not a DTMI namespace; write it like com:example"),
        ));
    }
    Ok(format!("dtmi:{}:", bare.to_lowercase()))
}

fn page_link(request: &HttpRequest, page: u64, per_page: u64) -> String {
    let mut pairs: Vec<(String, String)> = url_pairs(request.query_string())
        .into_iter()
        .filter(|(k, _)| k != "page" && k != "per_page")
        .collect();
    pairs.push(("page".to_owned(), page.to_string()));
    pairs.push(("per_page".to_owned(), per_page.to_string()));
    let query: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode_component(k), encode_component(v)))
        .collect();
    format!("{}?{}", request.path(), query.join("&"))
}

fn url_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (decode(k), decode(v))
        })
        .collect()
}

fn encode_component(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn encode_dtmi(dtmi: &str) -> String {
    // `:` is fine in a path segment; `;` and `#` are escaped so that any client keeps them.
    dtmi.replace(';', "%3B").replace('#', "%23")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_are_normalised_to_whole_segment_prefixes() {
        assert_eq!(
            namespace_prefix("com:Example").ok().as_deref(),
            Some("dtmi:com:example:")
        );
        assert_eq!(
            namespace_prefix("dtmi:com:example:").ok().as_deref(),
            Some("dtmi:com:example:")
        );
        assert!(namespace_prefix("com/example").is_err());
        assert!(namespace_prefix("").is_err());
        assert!(namespace_prefix("com:9x").is_err());
    }

    #[test]
    fn paging_values_outside_their_range_are_refused() {
        assert_eq!(parse_bounded("page", None, 1, 1, 10).ok(), Some(1));
        assert_eq!(parse_bounded("page", Some("3"), 1, 1, 10).ok(), Some(3));
        for bad in ["0", "-1", "abc", "11", "1e3", "99999999999999999999999"] {
            assert!(parse_bounded("page", Some(bad), 1, 1, 10).is_err(), "{bad}");
        }
    }
}
