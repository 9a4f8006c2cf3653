//! Lifecycle from the browser: deprecate, decommission or delete a model after a confirmation
//! page that lists the models depending on it.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;

use super::search::ModelRow;
use super::{Chrome, model_path, page_caller, see_other};
use crate::domain::model::{Change, ModelState, Relation};
use crate::error::{ApiError, PageError};
use crate::routes::api::models::parse_dtmi;
use crate::startup::AppState;

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

    fn done(self) -> &'static str {
        match self {
            Self::Deprecate => "deprecated",
            Self::Decommission => "decommissioned",
            Self::Delete => "deleted",
        }
    }
}

#[derive(Deserialize)]
pub struct ActionForm {
    action: Action,
}

#[derive(Template, WebTemplate)]
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
    path: web::Path<String>,
    params: web::Query<ActionForm>,
    state: web::Data<AppState>,
) -> Result<ConfirmPage, PageError> {
    let record = find(&state, &path).await?;
    let dependents = state.store.related(record.id, Relation::Dependents).await?;
    let action = params.action;
    let blocked = match action {
        Action::Delete if !dependents.is_empty() => Some(format!(
            "{} cannot be deleted while {} model(s) depend on it. Delete those first, or decommission it instead.",
            record.dtmi,
            dependents.len()
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
    Ok(ConfirmPage {
        chrome: Chrome::for_request(&request),
        row: ModelRow::from(record),
        action: action.as_str(),
        dependents: dependents.into_iter().map(ModelRow::from).collect(),
        blocked,
    })
}

pub async fn apply(
    request: HttpRequest,
    path: web::Path<String>,
    form: web::Form<ActionForm>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let principal = page_caller(&state, &request)?;
    let record = find(&state, &path).await?;
    let dtmi = record.dtmi;
    let action = form.action;
    match action {
        Action::Deprecate | Action::Decommission => {
            let next = if action == Action::Deprecate {
                ModelState::Deprecated
            } else {
                ModelState::Decommissioned
            };
            state.store.set_state(&dtmi, next, &principal.name).await?;
            state.resolution.apply(&Change::StateChanged {
                dtmi_lower: dtmi.to_lowercase(),
            });
        }
        Action::Delete => {
            state.store.delete(&dtmi, &principal.name).await?;
            state.resolution.apply(&Change::Deleted {
                dtmi_lower: dtmi.to_lowercase(),
            });
        }
    }
    tracing::info!(model.dtmi = %dtmi, action = action.as_str(), principal = %principal.name, "model lifecycle changed from a page");
    let target = if action == Action::Delete {
        "/search?done=deleted".to_owned()
    } else {
        format!("{}?done={}", model_path(&dtmi), action.done())
    };
    Ok(see_other(&target))
}

async fn find(state: &AppState, text: &str) -> Result<crate::domain::model::ModelRecord, ApiError> {
    let dtmi = parse_dtmi(text).map_err(|e| ApiError::not_found(e.detail().to_owned()))?;
    state
        .store
        .records(&[dtmi.as_str().to_lowercase()])
        .await?
        .into_iter()
        .find(|r| r.dtmi == dtmi.as_str())
        .ok_or_else(|| ApiError::model_not_found(dtmi.as_str()))
}
