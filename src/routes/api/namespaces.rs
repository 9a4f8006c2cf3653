//! `/api/v1/namespaces…`: namespace visibility and owners. Changing visibility is refused
//! when it would leave a public model depending on a private one, because the public model's
//! expanded file would reveal the private model.

use actix_web::{HttpRequest, get, put, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::authz::{Action, Authz, Target};
use crate::changes::Caches;
use crate::domain::access::{Namespace, Role, Subject, Visibility, VisibilityMap};
use crate::http::error::ApiError;
use crate::store::Store;

/// A namespace's settings.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceView {
    /// The DTMI prefix, lowercase (e.g. `dtmi:com:acme`).
    pub(crate) prefix: String,
    pub(crate) visibility: Visibility,
    /// Users holding the owner role on exactly this namespace.
    pub(crate) owners: Vec<String>,
    /// Whether the visibility is set on this namespace (false: inherited or the default).
    pub(crate) configured: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) updated_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) updated_at: Option<DateTime<Utc>>,
}

/// The namespaces the caller can see.
#[derive(Serialize, ToSchema)]
pub struct NamespaceList {
    items: Vec<NamespaceView>,
}

/// New settings of a namespace.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NamespaceUpdate {
    pub(crate) visibility: Visibility,
    /// User names that become the owners of exactly this namespace (replacing the current
    /// ones); omit to keep them.
    #[serde(default)]
    pub(crate) owners: Option<Vec<String>>,
}

fn parse_namespace(text: &str) -> Result<Namespace, ApiError> {
    let namespace = Namespace::parse(text)
        .map_err(|e| ApiError::bad_request("invalid-namespace", e.to_string()))?;
    if namespace.is_everything() {
        return Err(ApiError::bad_request(
            "invalid-namespace",
            "* is not a namespace of its own: set default_visibility in the configuration instead",
        ));
    }
    if namespace.is_hub() {
        return Err(ApiError::bad_request(
            "invalid-namespace",
            "hub is the device hub's scope, not a namespace of models: it has no visibility; grant roles on it with POST /api/v1/users/{name}/grants",
        ));
    }
    Ok(namespace)
}

/// Whether `caller` may learn about `namespace`: it is public, or the caller holds a role on
/// (or under) it.
fn visible(
    authz: &Authz,
    caller: &Caller,
    namespace: &Namespace,
    visibility: &VisibilityMap,
) -> bool {
    visibility.of_dtmi(namespace.as_str()) == Visibility::Public
        || authz
            .granted_namespaces(caller, Role::Reader)
            .iter()
            .any(|granted| granted.covers(namespace) || namespace.covers(granted))
}

async fn view(
    store: &dyn Store,
    authz: &Authz,
    namespace: &Namespace,
) -> Result<NamespaceView, ApiError> {
    let settings = store.namespaces().await?;
    let setting = settings.iter().find(|s| &s.prefix == namespace);
    let owners = store
        .grants()
        .await?
        .into_iter()
        .filter(|g| &g.namespace == namespace && g.role == Role::Owner)
        .filter_map(|g| match g.subject {
            Subject::User(name) => Some(name),
            Subject::Token(_) => None,
        })
        .collect();
    Ok(NamespaceView {
        prefix: namespace.to_string(),
        visibility: authz.visibility().of_dtmi(namespace.as_str()),
        owners,
        configured: setting.is_some(),
        updated_by: setting.map(|s| s.updated_by.clone()),
        updated_at: setting.map(|s| s.updated_at),
    })
}

/// Namespaces with settings that the caller can see: the public ones and those it holds a
/// role on.
#[utoipa::path(
    tag = "access",
    responses((status = 200, description = "Configured namespaces, by prefix", body = NamespaceList)),
)]
#[get("/namespaces")]
pub async fn list_namespaces(
    caller: Caller,
    store: web::Data<dyn Store>,
    authz: web::Data<Authz>,
) -> Result<web::Json<NamespaceList>, ApiError> {
    Ok(web::Json(NamespaceList {
        items: visible_namespaces(store.get_ref(), &authz, &caller).await?,
    }))
}

/// The configured namespaces the caller can see. Listing is open to everyone; private
/// namespaces are shown only to those with a role.
pub(crate) async fn visible_namespaces(
    store: &dyn Store,
    authz: &Authz,
    caller: &Caller,
) -> Result<Vec<NamespaceView>, ApiError> {
    let visibility = authz.visibility();
    let admin = authz.is_admin(caller);
    let mut items = Vec::new();
    for setting in store.namespaces().await? {
        if admin || visible(authz, caller, &setting.prefix, &visibility) {
            items.push(view(store, authz, &setting.prefix).await?);
        }
    }
    Ok(items)
}

/// One namespace's visibility and owners.
#[utoipa::path(
    tag = "access",
    params(("prefix" = String, Path, description = "DTMI prefix, e.g. `dtmi:com:acme`")),
    responses(
        (status = 200, description = "The namespace", body = NamespaceView),
        (status = 400, description = "Not a namespace prefix", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Private, and the caller holds no role on it", body = crate::http::error::Problem, content_type = "application/problem+json"),
    ),
)]
#[get("/namespaces/{prefix}")]
pub async fn get_namespace(
    caller: Caller,
    path: web::Path<String>,
    store: web::Data<dyn Store>,
    authz: web::Data<Authz>,
) -> Result<web::Json<NamespaceView>, ApiError> {
    let namespace = parse_namespace(&path)?;
    let visibility = authz.visibility();
    if !(authz.is_admin(&caller) || visible(&authz, &caller, &namespace, &visibility)) {
        return Err(ApiError::not_found(format!(
            "namespace {namespace} does not exist"
        )));
    }
    Ok(web::Json(view(store.get_ref(), &authz, &namespace).await?))
}

/// Set a namespace's visibility (and optionally its owners). Needs the owner role on it.
#[utoipa::path(
    tag = "access",
    params(("prefix" = String, Path, description = "DTMI prefix, e.g. `dtmi:com:acme`")),
    request_body(content = NamespaceUpdate, content_type = "application/json"),
    responses(
        (status = 200, description = "The namespace as now set", body = NamespaceView),
        (status = 400, description = "Not a namespace, an unknown owner, or a bad body", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an owner of the namespace", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "A public model would depend on a private one", body = crate::http::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[put("/namespaces/{prefix}")]
pub async fn put_namespace(
    request: HttpRequest,
    caller: Caller,
    path: web::Path<String>,
    payload: web::Payload,
    store: web::Data<dyn Store>,
    authz: web::Data<Authz>,
    caches: web::Data<Caches>,
) -> Result<web::Json<NamespaceView>, ApiError> {
    let update: NamespaceUpdate = crate::http::body::json_request(
        &request,
        payload,
        64 * 1024,
        r#"{"visibility": "private", "owners": ["alice"]}"#,
    )
    .await?;
    Ok(web::Json(
        set_namespace(store.get_ref(), &authz, &caches, &caller, &path, &update).await?,
    ))
}

/// Sets a namespace's visibility and owners, for an owner of it (the one authorization step
/// of the API and the admin page).
pub(crate) async fn set_namespace(
    store: &dyn Store,
    authz: &Authz,
    caches: &Caches,
    caller: &Caller,
    prefix: &str,
    update: &NamespaceUpdate,
) -> Result<NamespaceView, ApiError> {
    let namespace = parse_namespace(prefix)?;
    authz.require(
        caller,
        Action::ManageNamespace,
        &Target::Namespace(&namespace),
    )?;
    apply_update(store, authz, caches, caller, &namespace, update).await
}

/// Applies an authorized namespace update.
async fn apply_update(
    store: &dyn Store,
    authz: &Authz,
    caches: &Caches,
    caller: &Caller,
    namespace: &Namespace,
    update: &NamespaceUpdate,
) -> Result<NamespaceView, ApiError> {
    let owners = match &update.owners {
        Some(names) => {
            let mut subjects = Vec::with_capacity(names.len());
            for name in names {
                let user = store.user_by_name(name).await?.ok_or_else(|| {
                    ApiError::bad_request(
                        "unknown-user",
                        format!("owner {name:?} is not a user; create the user first"),
                    )
                })?;
                subjects.push(Subject::User(user.name));
            }
            Some(subjects)
        }
        None => None,
    };
    check_no_public_to_private(store, authz, namespace, update.visibility).await?;
    store
        .set_namespace(
            namespace,
            update.visibility,
            owners.as_deref(),
            &caller.actor(),
        )
        .await?;
    caches.access_changed().await?;
    tracing::info!(namespace = %namespace, visibility = update.visibility.as_str(), principal = %caller.principal.name(), "namespace changed");
    view(store, authz, namespace).await
}

/// Refuses a visibility change after which a public model would depend on a private one.
async fn check_no_public_to_private(
    store: &dyn Store,
    authz: &Authz,
    namespace: &Namespace,
    visibility: Visibility,
) -> Result<(), ApiError> {
    let current = authz.visibility();
    let mut settings: Vec<(Namespace, Visibility)> = current
        .settings()
        .iter()
        .filter(|(prefix, _)| prefix != namespace)
        .cloned()
        .collect();
    settings.push((namespace.clone(), visibility));
    let next = VisibilityMap::new(current.default_visibility(), settings);
    let edges = store.dependency_edges_touching(namespace).await?;
    let broken: Vec<String> = edges
        .iter()
        .filter(|(dependent, dependency)| {
            next.of_dtmi(dependent) == Visibility::Public
                && next.of_dtmi(dependency) == Visibility::Private
        })
        .map(|(dependent, dependency)| format!("{dependent} → {dependency}"))
        .collect();
    if broken.is_empty() {
        return Ok(());
    }
    Err(ApiError::new(
        actix_web::http::StatusCode::CONFLICT,
        "public-depends-on-private",
        "Public model would depend on a private one",
        format!(
            "making {namespace} {} would leave public models depending on private ones ({}); their expanded files would reveal them. Change the visibility of both namespaces together, or move the models",
            visibility.as_str(),
            broken.join(", ")
        ),
    ))
}
