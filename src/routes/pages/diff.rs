//! The diff page: the changes between two models (usually two versions of one interface),
//! grouped as added, removed and changed, each with its path and verdict.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;

use super::{Chrome, escape_dtmi, model_path};
use crate::auth::Caller;
use crate::authz::Authz;
use crate::domain::diff::{Change, Diff};
use crate::http::error::ApiError;
use crate::repository::publish::PushPolicy;
use crate::routes::api::models::diff_models;
use crate::routes::pages::error::PageError;
use crate::store::Store;

#[derive(Template, WebTemplate)]
#[template(path = "diff.html")]
pub struct DiffPage {
    chrome: Chrome,
    diff: Diff,
    from_link: String,
    to_link: String,
    api_link: String,
    swap_link: String,
}

impl DiffPage {
    fn sections(&self) -> [(&'static str, &Vec<Change>); 3] {
        [
            ("Added", &self.diff.added),
            ("Removed", &self.diff.removed),
            ("Changed", &self.diff.changed),
        ]
    }
}

pub async fn diff(
    request: HttpRequest,
    caller: Caller,
    path: web::Path<(String, String)>,
    store: web::Data<dyn Store>,
    authz: web::Data<Authz>,
    policy: web::Data<PushPolicy>,
) -> Result<DiffPage, PageError> {
    let (from, to) = path.into_inner();
    let diff = diff_models(store.get_ref(), &authz, &policy, &caller, &from, &to)
        .await
        .map_err(|e| {
            if e.status() == actix_web::http::StatusCode::BAD_REQUEST {
                ApiError::not_found(e.detail().to_owned())
            } else {
                e
            }
        })?;
    Ok(DiffPage {
        chrome: Chrome::new(&request, &caller),
        from_link: model_path(&diff.from),
        to_link: model_path(&diff.to),
        api_link: format!(
            "/api/v1/models/{}/diff/{}",
            escape_dtmi(&diff.from),
            escape_dtmi(&diff.to)
        ),
        swap_link: format!(
            "/models/{}/diff/{}",
            escape_dtmi(&diff.to),
            escape_dtmi(&diff.from)
        ),
        diff,
    })
}

#[derive(Deserialize)]
pub struct Pick {
    from: String,
    to: String,
}

/// The "compare with" form of the model page (a plain GET form, so it works without script).
pub async fn pick(params: web::Query<Pick>) -> HttpResponse {
    super::see_other(&format!(
        "/models/{}/diff/{}",
        escape_dtmi(params.from.trim()),
        escape_dtmi(params.to.trim())
    ))
}
