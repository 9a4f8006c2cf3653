//! The home page: a search box, what was published lately, and how the repository divides by
//! namespace and DTDL version.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;

use super::search::{FacetLink, ModelRow};
use super::{Chrome, encode};
use crate::auth::Caller;
use crate::authz::Authz;
use crate::domain::model::SearchQuery;
use crate::http::Site;
use crate::repository::resolution::Resolution;
use crate::routes::pages::error::PageError;
use crate::store::Store;

#[derive(Deserialize)]
pub struct HomeParams {
    q: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "home.html")]
pub struct HomePage {
    chrome: Chrome,
    repository_name: String,
    model_count: i64,
    recent: Vec<ModelRow>,
    namespaces: Vec<FacetLink>,
    versions: Vec<FacetLink>,
}

pub async fn home(
    request: HttpRequest,
    caller: Caller,
    params: web::Query<HomeParams>,
    store: web::Data<dyn Store>,
    resolution: web::Data<Resolution>,
    authz: web::Data<Authz>,
    site: web::Data<Site>,
) -> Result<HttpResponse, PageError> {
    // Searches from older links and bookmarks of `/?q=` land on the search page.
    if let Some(q) = params.q.as_deref() {
        return Ok(super::see_other(&format!("/search?q={}", encode(q))));
    }
    // The read scope is this page's authorization: it lists only what the caller may read.
    let scope = authz.read_scope(&caller);
    let recent_query = SearchQuery {
        newest_first: true,
        limit: 10,
        ..SearchQuery::within(scope.clone())
    };
    let all = SearchQuery::within(scope.clone());
    // Independent reads on separate connections: the page waits for the slowest only.
    let (status, recent, counts) = tokio::try_join!(
        store.status(&scope),
        store.search(&recent_query),
        resolution.facet_counts(&all)
    )?;
    let links = |facet: &str, limit: usize| -> Vec<FacetLink> {
        counts
            .iter()
            .filter(|c| c.facet == facet)
            .take(limit)
            .map(|c| FacetLink::new(facet, &c.value, c.count, false, "/search?"))
            .collect()
    };
    let page = HomePage {
        chrome: Chrome::new(&request, &caller),
        repository_name: site.repository_name.clone(),
        model_count: status.model_count,
        recent: recent.items.into_iter().map(ModelRow::from).collect(),
        namespaces: links("namespace", 12),
        versions: links("dtdlVersion", 5),
    };
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(
            page.render()
                .map_err(crate::http::error::ApiError::unexpected)?,
        ))
}
