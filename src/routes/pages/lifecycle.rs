//! Lifecycle from the browser: deprecate, decommission or delete a model after a confirmation
//! page that lists the models depending on it.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::search::ModelRow;
use super::{Chrome, check_form, model_path, see_other};
use crate::auth::Caller;
use crate::authz::{Action as Right, Authz, Target};
use crate::domain::model::{Change, ModelState, Relation};
use crate::http::error::ApiError;
use crate::repository::resolution::Resolution;
use crate::routes::api::models::parse_dtmi;
use crate::routes::pages::error::PageError;
use crate::store::Store;

/// What the confirmation is for.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Deprecate,
    Decommission,
    Delete,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Self::Deprecate => "deprecate",
            Self::Decommission => "decommission",
            Self::Delete => "delete",
        }
    }

    /// The right the action needs.
    fn right(self) -> Right {
        match self {
            Self::Deprecate => Right::Deprecate,
            Self::Decommission => Right::Decommission,
            Self::Delete => Right::Delete,
        }
    }

    fn done(self) -> &'static str {
        match self {
            Self::Deprecate => "deprecated",
            Self::Decommission => "decommissioned",
            Self::Delete => "deleted",
        }
    }
}

#[derive(Deserialize)]
pub struct ActionQuery {
    action: Action,
}

#[derive(Deserialize)]
pub struct ActionForm {
    action: Action,
    #[serde(default)]
    csrf_token: String,
}

#[derive(Template)]
#[template(path = "lifecycle.html")]
pub struct ConfirmPage {
    chrome: Chrome,
    row: ModelRow,
    action: &'static str,
    dependents: Vec<ModelRow>,
    /// Why the action cannot be taken, when it cannot.
    blocked: Option<String>,
}

pub async fn confirm(
    request: HttpRequest,
    caller: Caller,
    path: web::Path<String>,
    params: web::Query<ActionQuery>,
    store: web::Data<dyn Store>,
    authz: web::Data<Authz>,
) -> Result<HttpResponse, PageError> {
    if let Some(redirect) = super::sign_in_first(&request, &caller) {
        return Ok(redirect);
    }
    let action = params.action;
    let dtmi = parse_dtmi(&path).map_err(|e| ApiError::not_found(e.detail().to_owned()))?;
    authz.require(&caller, action.right(), &Target::Model(dtmi.as_str()))?;
    let record = find(store.get_ref(), dtmi.as_str()).await?;
    let scope = authz.read_scope(&caller);
    // Dependents the caller cannot read still block a delete; they are counted, not named.
    let all_dependents = store.related(record.id, Relation::Dependents).await?;
    let hidden = all_dependents
        .iter()
        .filter(|d| !scope.can_read(&d.dtmi))
        .count();
    let dependents: Vec<_> = all_dependents
        .iter()
        .filter(|d| scope.can_read(&d.dtmi))
        .cloned()
        .collect();
    let blocked = match action {
        Action::Delete if !all_dependents.is_empty() => Some(format!(
            "{} cannot be deleted while {} model(s) depend on it{}. Delete those first, or decommission it instead.",
            record.dtmi,
            all_dependents.len(),
            if hidden > 0 {
                format!(" ({hidden} of them in namespaces you cannot read)")
            } else {
                String::new()
            }
        )),
        Action::Deprecate if record.state != ModelState::Published => Some(format!(
            "{} is already {}; states only move forward.",
            record.dtmi, record.state
        )),
        Action::Decommission if record.state == ModelState::Decommissioned => {
            Some(format!("{} is already decommissioned.", record.dtmi))
        }
        _ => None,
    };
    let page = ConfirmPage {
        chrome: Chrome::new(&request, &caller),
        row: ModelRow::from(record),
        action: action.as_str(),
        dependents: dependents.into_iter().map(ModelRow::from).collect(),
        blocked,
    };
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(askama::Template::render(&page).map_err(ApiError::unexpected)?))
}

pub async fn apply(
    caller: Caller,
    path: web::Path<String>,
    form: web::Form<ActionForm>,
    store: web::Data<dyn Store>,
    resolution: web::Data<Resolution>,
    authz: web::Data<Authz>,
) -> Result<HttpResponse, PageError> {
    check_form(&caller, &form.csrf_token)?;
    let action = form.action;
    let dtmi = parse_dtmi(&path).map_err(|e| ApiError::not_found(e.detail().to_owned()))?;
    authz.require(&caller, action.right(), &Target::Model(dtmi.as_str()))?;
    let dtmi = find(store.get_ref(), dtmi.as_str()).await?.dtmi;
    let actor = caller.actor();
    match action {
        Action::Deprecate | Action::Decommission => {
            let next = if action == Action::Deprecate {
                ModelState::Deprecated
            } else {
                ModelState::Decommissioned
            };
            store.set_state(&dtmi, next, &actor).await?;
            resolution.apply(&Change::StateChanged {
                dtmi_lower: dtmi.to_lowercase(),
            });
        }
        Action::Delete => {
            store.delete(&dtmi, &actor).await?;
            resolution.apply(&Change::Deleted {
                dtmi_lower: dtmi.to_lowercase(),
            });
        }
    }
    tracing::info!(model.dtmi = %dtmi, action = action.as_str(), principal = %actor.name, "model lifecycle changed from a page");
    let target = if action == Action::Delete {
        "/search?done=deleted".to_owned()
    } else {
        format!("{}?done={}", model_path(&dtmi), action.done())
    };
    Ok(see_other(&target))
}

async fn find(
    store: &dyn Store,
    dtmi: &str,
) -> Result<crate::domain::model::ModelRecord, ApiError> {
    store
        .records(&[dtmi.to_lowercase()])
        .await?
        .into_iter()
        .find(|r| r.dtmi == dtmi)
        .ok_or_else(|| ApiError::model_not_found(dtmi))
}
