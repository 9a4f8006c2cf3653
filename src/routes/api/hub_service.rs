//! `/api/v1/hub/policies…` (the hub's shared access policies, admins only) and
//! `POST /api/v1/devices/query` (the IoT Hub query language over the registry, the same
//! runner as the service listener's `POST /devices/query`, paged with a `continuation`).

use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::authz::{Action, Authz, Target};
use crate::domain::policy::{KeySlot, Right, SharedAccessPolicy, check_policy_name};
use crate::http::error::ApiError;
use crate::service::policies::{connection_string, new_policy, regenerated};
use crate::service::query::{QueryRunError, run};
use crate::store::Store;
use crate::store::service::TwinQueryError;

/// Where back ends reach the service listener (for connection strings): the hub's first
/// host name and the listener's port, set once it is bound.
#[derive(Debug, Default)]
pub struct ServiceEndpoint(std::sync::OnceLock<(String, u16)>);

impl ServiceEndpoint {
    pub fn set(&self, host: String, port: u16) {
        // Bound once per process; a second call would name the same listener.
        let _ = self.0.set((host, port));
    }

    pub fn get(&self) -> Option<&(String, u16)> {
        self.0.get()
    }
}

/// A shared access policy with its keys.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyView {
    name: String,
    rights: Vec<Right>,
    primary_key: String,
    secondary_key: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<SharedAccessPolicy> for PolicyView {
    fn from(p: SharedAccessPolicy) -> Self {
        PolicyView {
            name: p.name,
            rights: p.rights,
            primary_key: p.primary_key,
            secondary_key: p.secondary_key,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct PolicyList {
    items: Vec<PolicyView>,
}

/// A new policy; keys are generated unless given (base64 of 16 to 64 bytes).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewPolicyRequest {
    /// 1 to 64 ASCII letters, digits, `.`, `-` or `_`; unique regardless of case.
    name: String,
    rights: Vec<Right>,
    #[serde(default)]
    primary_key: Option<String>,
    #[serde(default)]
    secondary_key: Option<String>,
}

/// New rights for a policy.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyPatch {
    rights: Vec<Right>,
}

/// Which key to replace with a fresh one.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegenerateRequest {
    key: KeySlot,
}

/// A ready service connection string.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionStringView {
    connection_string: String,
}

#[derive(Deserialize)]
pub struct ConnectionStringParams {
    /// `primary` (default) or `secondary`.
    key: Option<String>,
}

fn check_key(key: &Option<String>) -> Result<(), ApiError> {
    use base64::Engine as _;
    if let Some(key) = key {
        let ok = base64::engine::general_purpose::STANDARD
            .decode(key)
            .is_ok_and(|b| (16..=64).contains(&b.len()));
        if !ok {
            return Err(ApiError::bad_request(
                "invalid-key",
                "policy keys must be base64 of 16 to 64 bytes; omit them to have them generated",
            ));
        }
    }
    Ok(())
}

async fn existing(store: &dyn Store, name: &str) -> Result<SharedAccessPolicy, ApiError> {
    store.policy(name).await?.ok_or_else(|| {
        ApiError::not_found(format!(
            "no shared access policy {name:?}; GET /api/v1/hub/policies lists them"
        ))
    })
}

/// Every shared access policy with its keys (admins only).
#[utoipa::path(
    tag = "hub",
    responses(
        (status = 200, description = "Policies by name", body = PolicyList),
        (status = 401, description = "Not signed in", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = crate::http::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/hub/policies")]
pub async fn list_policies(
    caller: Caller,
    store: web::Data<dyn Store>,
    authz: web::Data<Authz>,
) -> Result<web::Json<PolicyList>, ApiError> {
    authz.require(&caller, Action::Administer, &Target::Repository)?;
    let policies = store.policies().await?;
    Ok(web::Json(PolicyList {
        items: policies.into_iter().map(PolicyView::from).collect(),
    }))
}

/// Create a shared access policy (admins only).
#[utoipa::path(
    tag = "hub",
    request_body(content = NewPolicyRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The policy", body = PolicyView),
        (status = 400, description = "Bad name, right or key", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The name is taken", body = crate::http::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/hub/policies")]
pub async fn create_policy(
    request: HttpRequest,
    caller: Caller,
    payload: web::Payload,
    store: web::Data<dyn Store>,
    authz: web::Data<Authz>,
) -> Result<HttpResponse, ApiError> {
    authz.require(&caller, Action::Administer, &Target::Repository)?;
    let wanted: NewPolicyRequest = crate::http::body::json_request(
        &request,
        payload,
        16 * 1024,
        r#"{"name": "my-backend", "rights": ["RegistryRead", "ServiceConnect"]}"#,
    )
    .await?;
    check_policy_name(&wanted.name)
        .map_err(|e| ApiError::bad_request("invalid-policy-name", e.to_string()))?;
    check_key(&wanted.primary_key)?;
    check_key(&wanted.secondary_key)?;
    let policy = new_policy(
        &wanted.name,
        &wanted.rights,
        wanted.primary_key,
        wanted.secondary_key,
    );
    store.create_policy(&policy, &caller.actor()).await?;
    Ok(HttpResponse::Created().json(PolicyView::from(policy)))
}

/// One shared access policy (admins only).
#[utoipa::path(
    tag = "hub",
    params(("name" = String, Path, description = "Policy name")),
    responses(
        (status = 200, description = "The policy", body = PolicyView),
        (status = 401, description = "Not signed in", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such policy", body = crate::http::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/hub/policies/{name}")]
pub async fn get_policy(
    caller: Caller,
    name: web::Path<String>,
    store: web::Data<dyn Store>,
    authz: web::Data<Authz>,
) -> Result<web::Json<PolicyView>, ApiError> {
    authz.require(&caller, Action::Administer, &Target::Repository)?;
    Ok(web::Json(existing(store.as_ref(), &name).await?.into()))
}

/// Change a policy's rights (admins only).
#[utoipa::path(
    tag = "hub",
    params(("name" = String, Path, description = "Policy name")),
    request_body(content = PolicyPatch, content_type = "application/json"),
    responses(
        (status = 200, description = "The policy", body = PolicyView),
        (status = 400, description = "Bad right", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such policy", body = crate::http::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[patch("/hub/policies/{name}")]
pub async fn patch_policy(
    request: HttpRequest,
    caller: Caller,
    name: web::Path<String>,
    payload: web::Payload,
    store: web::Data<dyn Store>,
    authz: web::Data<Authz>,
) -> Result<web::Json<PolicyView>, ApiError> {
    authz.require(&caller, Action::Administer, &Target::Repository)?;
    let wanted: PolicyPatch = crate::http::body::json_request(
        &request,
        payload,
        16 * 1024,
        r#"{"rights": ["RegistryRead"]}"#,
    )
    .await?;
    let mut policy = existing(store.as_ref(), &name).await?;
    policy.rights = crate::domain::policy::normalized(&wanted.rights);
    policy.updated_at = Utc::now();
    store.update_policy(&policy, &caller.actor()).await?;
    Ok(web::Json(policy.into()))
}

/// Replace one or both keys of a policy with fresh ones (admins only). Tokens signed with a
/// replaced key stop working at once.
#[utoipa::path(
    tag = "hub",
    params(("name" = String, Path, description = "Policy name")),
    request_body(content = RegenerateRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The policy with its new keys", body = PolicyView),
        (status = 401, description = "Not signed in", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such policy", body = crate::http::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/hub/policies/{name}/regenerate")]
pub async fn regenerate_policy(
    request: HttpRequest,
    caller: Caller,
    name: web::Path<String>,
    payload: web::Payload,
    store: web::Data<dyn Store>,
    authz: web::Data<Authz>,
) -> Result<web::Json<PolicyView>, ApiError> {
    authz.require(&caller, Action::Administer, &Target::Repository)?;
    let wanted: RegenerateRequest =
        crate::http::body::json_request(&request, payload, 1024, r#"{"key": "primary"}"#).await?;
    let policy = regenerated(existing(store.as_ref(), &name).await?, wanted.key);
    store.update_policy(&policy, &caller.actor()).await?;
    Ok(web::Json(policy.into()))
}

/// Delete a shared access policy (admins only).
#[utoipa::path(
    tag = "hub",
    params(("name" = String, Path, description = "Policy name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not signed in", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such policy", body = crate::http::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[delete("/hub/policies/{name}")]
pub async fn delete_policy(
    caller: Caller,
    name: web::Path<String>,
    store: web::Data<dyn Store>,
    authz: web::Data<Authz>,
) -> Result<HttpResponse, ApiError> {
    authz.require(&caller, Action::Administer, &Target::Repository)?;
    if store.delete_policy(&name, &caller.actor()).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::not_found(format!(
            "no shared access policy {:?}",
            name.as_str()
        )))
    }
}

/// The service connection string of a policy, for the Azure IoT service SDKs (admins only).
#[utoipa::path(
    tag = "hub",
    params(
        ("name" = String, Path, description = "Policy name"),
        ("key" = Option<String>, Query, description = "`primary` (default) or `secondary`"),
    ),
    responses(
        (status = 200, description = "The connection string", body = ConnectionStringView),
        (status = 400, description = "Bad key choice", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such policy, or the service listener is off", body = crate::http::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/hub/policies/{name}/connection-string")]
pub async fn policy_connection_string(
    caller: Caller,
    name: web::Path<String>,
    params: web::Query<ConnectionStringParams>,
    store: web::Data<dyn Store>,
    authz: web::Data<Authz>,
    endpoint: web::Data<ServiceEndpoint>,
) -> Result<web::Json<ConnectionStringView>, ApiError> {
    authz.require(&caller, Action::Administer, &Target::Repository)?;
    let secondary = match params.key.as_deref() {
        None | Some("primary") => false,
        Some("secondary") => true,
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid-parameter",
                format!("key must be primary or secondary, not {other:?}"),
            ));
        }
    };
    let policy = existing(store.as_ref(), &name).await?;
    let Some((host, port)) = endpoint.get() else {
        return Err(ApiError::not_found(
            "the service listener is off (--no-service); start twinhub serve with it to get a connection string",
        ));
    };
    Ok(web::Json(ConnectionStringView {
        connection_string: connection_string(host, *port, &policy, secondary),
    }))
}

/// A device query.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DeviceQueryRequest {
    /// IoT Hub query language, e.g. `SELECT * FROM devices WHERE tags.site = 'plant-1'`.
    query: String,
    /// The `continuation` of the previous page.
    #[serde(default)]
    continuation: Option<String>,
    /// Items per page, 1 to 1000 (default 100).
    #[serde(default)]
    page_size: Option<usize>,
}

/// One page of query results.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeviceQueryPage {
    /// Twins (`SELECT *`), projections or groups.
    #[schema(value_type = Vec<Object>)]
    items: Vec<serde_json::Value>,
    /// `Twin` for whole twins, `Raw` for projections and aggregates.
    item_type: String,
    /// Pass it back to get the next page; absent on the last one.
    #[serde(skip_serializing_if = "Option::is_none")]
    continuation: Option<String>,
}

impl From<QueryRunError> for ApiError {
    fn from(error: QueryRunError) -> Self {
        match error {
            QueryRunError::Run(TwinQueryError::Store(e)) => e.into(),
            other => ApiError::bad_request("invalid-query", other.to_string()),
        }
    }
}

/// Query device or module twins with the IoT Hub query language (hub readers).
#[utoipa::path(
    tag = "hub",
    request_body(content = DeviceQueryRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "One page of results", body = DeviceQueryPage),
        (status = 400, description = "The query is malformed (with its position) or uses what cannot be queried", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "No hub read access", body = crate::http::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/devices/query")]
pub async fn query_devices(
    request: HttpRequest,
    caller: Caller,
    payload: web::Payload,
    store: web::Data<dyn Store>,
    authz: web::Data<Authz>,
) -> Result<web::Json<DeviceQueryPage>, ApiError> {
    authz.require(&caller, Action::Read, &Target::Hub)?;
    let wanted: DeviceQueryRequest = crate::http::body::json_request(
        &request,
        payload,
        64 * 1024,
        r#"{"query": "SELECT * FROM devices WHERE tags.site = 'plant-1'", "pageSize": 100}"#,
    )
    .await?;
    let output = run(
        store.as_ref(),
        &wanted.query,
        wanted.continuation.as_deref(),
        wanted.page_size,
    )
    .await?;
    Ok(web::Json(DeviceQueryPage {
        items: output.items,
        item_type: output.item_type.to_owned(),
        continuation: output.continuation,
    }))
}
