//! `/api/v1/audit`: the audit log of every write and every failed login (admins only).

use actix_web::{get, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::authz::{Action, Authz, Target};
use crate::domain::access::AuditRecord;
use crate::http::error::ApiError;
use crate::store::Store;
use crate::store::access::AuditQuery;

/// Filters and paging of the audit log.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Only entries by this actor (exact).
    actor: Option<String>,
    /// Only this action, e.g. `models.push`, `tokens.create`, `login`.
    action: Option<String>,
    /// Page number, from 1.
    page: Option<String>,
    /// Entries per page, 1 to 500 [default: 100].
    per_page: Option<String>,
}

/// One page of the audit log.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditPage {
    items: Vec<AuditRecord>,
    page: u64,
    per_page: u64,
    total: u64,
}

/// The audit log, newest first: who did what, when, from where, and how it ended.
#[utoipa::path(
    tag = "access",
    params(AuditParams),
    responses(
        (status = 200, description = "Audit entries, newest first", body = AuditPage),
        (status = 400, description = "Bad paging value", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = crate::http::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = crate::http::error::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/audit")]
pub async fn audit_log(
    caller: Caller,
    params: web::Query<AuditParams>,
    store: web::Data<dyn Store>,
    authz: web::Data<Authz>,
) -> Result<web::Json<AuditPage>, ApiError> {
    let page = super::parse_bounded("page", params.page.as_deref(), 1, 1, 1_000_000)?;
    let per_page = super::parse_bounded("per_page", params.per_page.as_deref(), 100, 1, 500)?;
    let found = entries(
        store.get_ref(),
        &authz,
        &caller,
        AuditQuery {
            actor: params.actor.clone(),
            action: params.action.clone(),
            offset: (page - 1) * per_page,
            limit: per_page,
        },
    )
    .await?;
    Ok(web::Json(AuditPage {
        items: found.items,
        page,
        per_page,
        total: found.total,
    }))
}

/// Audit entries for an admin (the API's and the admin page's authorization step).
pub(crate) async fn entries(
    store: &dyn Store,
    authz: &Authz,
    caller: &Caller,
    query: AuditQuery,
) -> Result<crate::domain::model::Page<AuditRecord>, ApiError> {
    authz.require(caller, Action::Administer, &Target::Repository)?;
    Ok(store.audit_log(&query).await?)
}
