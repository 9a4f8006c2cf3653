//! `/api/v1/users…` and `/api/v1/grants…`: people and the roles they hold on namespaces.
//! Admins manage users; owners grant roles up to owner on their namespaces; the admin role is
//! granted only by admins. Users may change their own password.

use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{Caller, Principal, secrets};
use crate::authz::{Action, Authz, Target};
use crate::changes::Caches;
use crate::domain::access::{Grant, Namespace, NewUser, Role, Subject, User};
use crate::http::error::ApiError;
use crate::store::Store;
use crate::store::access::UserUpdate;

/// A user as shown (never the password hash).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    name: String,
    /// `local` for password accounts, else the OIDC issuer.
    source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    disabled: bool,
    created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_login_at: Option<DateTime<Utc>>,
}

impl From<User> for UserView {
    fn from(user: User) -> Self {
        Self {
            source: user.issuer.clone().unwrap_or_else(|| "local".to_owned()),
            name: user.name,
            email: user.email,
            disabled: user.disabled,
            created_at: user.created_at,
            last_login_at: user.last_login_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct UserList {
    items: Vec<UserView>,
}

/// A new local account.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserRequest {
    /// 1 to 64 letters, digits, `.`, `-`, `_` or `@`; unique regardless of case.
    pub(crate) name: String,
    /// At least 12 characters. Omit for an account that signs in only through OIDC.
    #[serde(default)]
    pub(crate) password: Option<String>,
    #[serde(default)]
    pub(crate) email: Option<String>,
    /// Grants to give at creation.
    #[serde(default)]
    pub(crate) grants: Vec<GrantSpec>,
}

/// A role on a namespace.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantSpec {
    pub(crate) role: Role,
    /// A DTMI prefix such as `dtmi:com:acme`, or `*` (admin only).
    pub(crate) namespace: String,
}

/// Changes to a user.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    #[serde(default)]
    pub(crate) password: Option<String>,
    /// Disabled users cannot sign in; their sessions end.
    #[serde(default)]
    pub(crate) disabled: Option<bool>,
    #[serde(default)]
    pub(crate) email: Option<String>,
}

/// A grant as shown.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GrantView {
    id: i64,
    /// `user:<name>` or `token:<id>`.
    subject: String,
    namespace: String,
    role: Role,
    created_by: String,
    created_at: DateTime<Utc>,
}

impl From<Grant> for GrantView {
    fn from(grant: Grant) -> Self {
        Self {
            id: grant.id,
            subject: grant.subject.key(),
            namespace: grant.namespace.to_string(),
            role: grant.role,
            created_by: grant.created_by,
            created_at: grant.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct GrantList {
    items: Vec<GrantView>,
}

/// A new grant to a user.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantRequest {
    pub(crate) user: String,
    pub(crate) role: Role,
    pub(crate) namespace: String,
}

fn validate_user_name(name: &str) -> Result<(), ApiError> {
    let valid = (1..=64).contains(&name.chars().count())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@'));
    if valid {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "invalid-user-name",
            format!("{name:?} is not a valid user name: use 1 to 64 letters, digits, . - _ or @"),
        ))
    }
}

async fn hash(password: String) -> Result<String, ApiError> {
    web::block(move || secrets::hash_password(&password))
        .await
        .map_err(ApiError::unexpected)?
        .map_err(|e| ApiError::bad_request("weak-password", e.to_string()))
}

fn parse_grant_namespace(role: Role, text: &str) -> Result<Namespace, ApiError> {
    let namespace = Namespace::parse(text)
        .map_err(|e| ApiError::bad_request("invalid-namespace", e.to_string()))?;
    match (role, namespace.is_everything()) {
        (Role::Admin, _) => Ok(Namespace::everything()),
        (_, true) => Err(ApiError::bad_request(
            "invalid-namespace",
            "only the admin role is granted on *; name a namespace such as dtmi:com:acme",
        )),
        _ => Ok(namespace),
    }
}

/// Whether `caller` may grant (or revoke) `role` on `namespace`: owners up to owner in their
/// namespaces, admins anything.
fn require_grant(
    authz: &Authz,
    caller: &Caller,
    role: Role,
    namespace: &Namespace,
) -> Result<(), ApiError> {
    let target = if role == Role::Admin {
        (Action::Administer, Target::Repository)
    } else {
        (Action::Grant, Target::Namespace(namespace))
    };
    Ok(authz.require(caller, target.0, &target.1)?)
}

/// Every user (admins only).
#[utoipa::path(
    tag = "access",
    responses(
        (status = 200, description = "Users by name", body = UserList),
        (status = 401, description = "Not signed in", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = crate::http::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/users")]
pub async fn list_users(
    caller: Caller,
    store: web::Data<dyn Store>,
    authz: web::Data<Authz>,
) -> Result<web::Json<UserList>, ApiError> {
    authz.require(&caller, Action::Administer, &Target::Repository)?;
    let users = store.users().await?;
    Ok(web::Json(UserList {
        items: users.into_iter().map(UserView::from).collect(),
    }))
}

/// Create a local account (admins only).
#[utoipa::path(
    tag = "access",
    request_body(content = NewUserRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The user", body = UserView),
        (status = 400, description = "Bad name, password or grant", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The name is taken", body = crate::http::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/users")]
pub async fn create_user(
    request: HttpRequest,
    caller: Caller,
    payload: web::Payload,
    store: web::Data<dyn Store>,
    authz: web::Data<Authz>,
    caches: web::Data<Caches>,
) -> Result<HttpResponse, ApiError> {
    let wanted: NewUserRequest = crate::http::body::json_request(
        &request,
        payload,
        64 * 1024,
        r#"{"name": "alice", "password": "at least 12 characters", "grants": [{"role": "publisher", "namespace": "dtmi:com:acme"}]}"#,
    )
    .await?;
    let user = add_user(store.get_ref(), &authz, &caches, &caller, wanted).await?;
    Ok(HttpResponse::Created().json(UserView::from(user)))
}

/// Creates a local account with its grants (admins only; the API's and the admin page's
/// authorization step).
pub(crate) async fn add_user(
    store: &dyn Store,
    authz: &Authz,
    caches: &Caches,
    caller: &Caller,
    wanted: NewUserRequest,
) -> Result<User, ApiError> {
    authz.require(caller, Action::Administer, &Target::Repository)?;
    validate_user_name(&wanted.name)?;
    let grants = wanted
        .grants
        .iter()
        .map(|g| Ok((parse_grant_namespace(g.role, &g.namespace)?, g.role)))
        .collect::<Result<Vec<_>, ApiError>>()?;
    let password_hash = match wanted.password {
        Some(password) => Some(hash(password).await?),
        None => None,
    };
    let user = store
        .create_user(
            &NewUser {
                name: wanted.name,
                password_hash,
                issuer: None,
                subject: None,
                email: wanted.email,
            },
            &grants,
            &caller.actor(),
        )
        .await?;
    caches.access_changed().await?;
    Ok(user)
}

/// One user: admins see anyone, users themselves.
#[utoipa::path(
    tag = "access",
    params(("name" = String, Path, description = "User name")),
    responses(
        (status = 200, description = "The user", body = UserView),
        (status = 401, description = "Not signed in", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user among those the caller may see", body = crate::http::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/users/{name}")]
pub async fn get_user(
    caller: Caller,
    path: web::Path<String>,
    store: web::Data<dyn Store>,
    authz: web::Data<Authz>,
) -> Result<web::Json<UserView>, ApiError> {
    require_self_or_admin(&authz, &caller, &path)?;
    let user = store
        .user_by_name(&path)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("user {} does not exist", path.as_str())))?;
    Ok(web::Json(user.into()))
}

/// The authorization call of per-user routes: the user themselves, or an admin. Anyone else
/// gets 404, so user names cannot be probed.
fn require_self_or_admin(authz: &Authz, caller: &Caller, name: &str) -> Result<(), ApiError> {
    authz.require_signed_in(caller)?;
    let is_self =
        matches!(&caller.principal, Principal::User(user) if user.name.eq_ignore_ascii_case(name));
    if is_self || authz.is_admin(caller) {
        Ok(())
    } else {
        Err(ApiError::not_found(format!("user {name} does not exist")))
    }
}

/// Change a password, e-mail or disable an account. Users change their own password and
/// e-mail; only admins disable accounts.
#[utoipa::path(
    tag = "access",
    params(("name" = String, Path, description = "User name")),
    request_body(content = UserPatch, content_type = "application/json"),
    responses(
        (status = 200, description = "The user", body = UserView),
        (status = 400, description = "Weak password or bad body", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only admins disable accounts", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user among those the caller may see", body = crate::http::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[patch("/users/{name}")]
pub async fn patch_user(
    request: HttpRequest,
    caller: Caller,
    path: web::Path<String>,
    payload: web::Payload,
    store: web::Data<dyn Store>,
    authz: web::Data<Authz>,
    caches: web::Data<Caches>,
) -> Result<web::Json<UserView>, ApiError> {
    let patch: UserPatch = crate::http::body::json_request(
        &request,
        payload,
        64 * 1024,
        r#"{"password": "a new password", "disabled": false}"#,
    )
    .await?;
    let user = update_user(store.get_ref(), &authz, &caches, &caller, &path, patch).await?;
    Ok(web::Json(user.into()))
}

/// Changes a user: the user themselves (password, e-mail) or an admin (also disabling). The
/// authorization step of the API and the admin page.
pub(crate) async fn update_user(
    store: &dyn Store,
    authz: &Authz,
    caches: &Caches,
    caller: &Caller,
    name: &str,
    patch: UserPatch,
) -> Result<User, ApiError> {
    require_self_or_admin(authz, caller, name)?;
    if patch.disabled.is_some() && !authz.is_admin(caller) {
        return Err(ApiError::forbidden(
            "only admins disable or enable accounts",
        ));
    }
    let password_hash = match patch.password {
        Some(password) => Some(hash(password).await?),
        None => None,
    };
    let user = store
        .update_user(
            name,
            &UserUpdate {
                password_hash,
                disabled: patch.disabled,
                email: patch.email,
            },
            &caller.actor(),
        )
        .await?;
    caches.access_changed().await?;
    Ok(user)
}

/// Delete a user with their grants and sessions (admins only).
#[utoipa::path(
    tag = "access",
    params(("name" = String, Path, description = "User name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not signed in", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = crate::http::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[delete("/users/{name}")]
pub async fn delete_user(
    caller: Caller,
    path: web::Path<String>,
    store: web::Data<dyn Store>,
    authz: web::Data<Authz>,
    caches: web::Data<Caches>,
) -> Result<HttpResponse, ApiError> {
    authz.require(&caller, Action::Administer, &Target::Repository)?;
    store.delete_user(&path, &caller.actor()).await?;
    caches.access_changed().await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Grants: admins see all; others see the grants on namespaces they own and their own.
#[utoipa::path(
    tag = "access",
    responses(
        (status = 200, description = "Grants in creation order", body = GrantList),
        (status = 401, description = "Not signed in", body = crate::http::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/grants")]
pub async fn list_grants(
    caller: Caller,
    store: web::Data<dyn Store>,
    authz: web::Data<Authz>,
) -> Result<web::Json<GrantList>, ApiError> {
    Ok(web::Json(GrantList {
        items: visible_grants(store.get_ref(), &authz, &caller)
            .await?
            .into_iter()
            .map(GrantView::from)
            .collect(),
    }))
}

/// The grants the caller may see: those on namespaces it owns, and its own.
pub(crate) async fn visible_grants(
    store: &dyn Store,
    authz: &Authz,
    caller: &Caller,
) -> Result<Vec<Grant>, ApiError> {
    authz.require_signed_in(caller)?;
    let owned = authz.granted_namespaces(caller, Role::Owner);
    let own_subject = caller.principal.subject_key();
    let grants = store.grants().await?;
    Ok(grants
        .into_iter()
        .filter(|g| {
            owned.iter().any(|ns| ns.covers(&g.namespace)) || Some(g.subject.key()) == own_subject
        })
        .collect())
}

/// Grant a user a role on a namespace: owners up to owner on theirs, admins anything.
#[utoipa::path(
    tag = "access",
    request_body(content = GrantRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The grant", body = GrantView),
        (status = 400, description = "Unknown user, bad role or namespace", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller may not grant this role here", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The user already holds this role here", body = crate::http::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/grants")]
pub async fn create_grant(
    request: HttpRequest,
    caller: Caller,
    payload: web::Payload,
    store: web::Data<dyn Store>,
    authz: web::Data<Authz>,
    caches: web::Data<Caches>,
) -> Result<HttpResponse, ApiError> {
    let wanted: GrantRequest = crate::http::body::json_request(
        &request,
        payload,
        64 * 1024,
        r#"{"user": "alice", "role": "publisher", "namespace": "dtmi:com:acme"}"#,
    )
    .await?;
    let grant = add_grant(store.get_ref(), &authz, &caches, &caller, &wanted).await?;
    Ok(HttpResponse::Created().json(GrantView::from(grant)))
}

/// Grants a role, within the caller's own rights (the API's and the admin page's
/// authorization step).
pub(crate) async fn add_grant(
    store: &dyn Store,
    authz: &Authz,
    caches: &Caches,
    caller: &Caller,
    wanted: &GrantRequest,
) -> Result<Grant, ApiError> {
    authz.require_signed_in(caller)?;
    let namespace = parse_grant_namespace(wanted.role, &wanted.namespace)?;
    require_grant(authz, caller, wanted.role, &namespace)?;
    let user = store.user_by_name(&wanted.user).await?.ok_or_else(|| {
        ApiError::bad_request(
            "unknown-user",
            format!("{:?} is not a user; create the user first", wanted.user),
        )
    })?;
    let grant = store
        .add_grant(
            &Subject::User(user.name),
            &namespace,
            wanted.role,
            &caller.actor(),
        )
        .await?;
    caches.access_changed().await?;
    Ok(grant)
}

/// Revoke a grant: owners on their namespaces (not admin grants), admins any.
#[utoipa::path(
    tag = "access",
    params(("id" = i64, Path, description = "The grant's id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "Not signed in", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller may not revoke this grant", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such grant", body = crate::http::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[delete("/grants/{id}")]
pub async fn delete_grant(
    caller: Caller,
    path: web::Path<i64>,
    store: web::Data<dyn Store>,
    authz: web::Data<Authz>,
    caches: web::Data<Caches>,
) -> Result<HttpResponse, ApiError> {
    remove_grant(store.get_ref(), &authz, &caches, &caller, path.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Revokes a grant the caller may revoke.
pub(crate) async fn remove_grant(
    store: &dyn Store,
    authz: &Authz,
    caches: &Caches,
    caller: &Caller,
    id: i64,
) -> Result<(), ApiError> {
    authz.require_signed_in(caller)?;
    let grant = store
        .grants()
        .await?
        .into_iter()
        .find(|g| g.id == id)
        .ok_or_else(|| ApiError::not_found(format!("grant {id} does not exist")))?;
    require_grant(authz, caller, grant.role, &grant.namespace)?;
    store.remove_grant(id, &caller.actor()).await?;
    caches.access_changed().await?;
    Ok(())
}
