//! The namespace browser: DTMI namespaces as a tree (`dtmi:com` → `dtmi:com:example`), each
//! level with its child namespaces, how many models lie below them, and the models it holds.

use std::collections::BTreeMap;

use actix_web::{HttpRequest, web};
use askama::Template;
use askama_web::WebTemplate;

use super::search::ModelRow;
use super::{Chrome, page_number};
use crate::auth::Caller;
use crate::authz::Authz;
use crate::domain::model::{Facet, FacetKind, SearchQuery};
use crate::http::error::ApiError;
use crate::routes::pages::error::PageError;
use crate::store::Store;

const PER_PAGE: u64 = 50;

/// A child namespace and the number of models at or below it.
pub struct Child {
    name: String,
    path: String,
    count: u64,
}

/// One step of the breadcrumb.
pub struct Crumb {
    label: String,
    path: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "namespaces.html")]
pub struct NamespacePage {
    chrome: Chrome,
    namespace: Option<String>,
    crumbs: Vec<Crumb>,
    children: Vec<Child>,
    rows: Vec<ModelRow>,
    total: u64,
    next_link: Option<String>,
    prev_link: Option<String>,
}

pub async fn root(
    request: HttpRequest,
    caller: Caller,
    store: web::Data<dyn Store>,
    authz: web::Data<Authz>,
) -> Result<NamespacePage, PageError> {
    render(&request, &caller, store.get_ref(), &authz, None).await
}

pub async fn namespace(
    request: HttpRequest,
    caller: Caller,
    path: web::Path<String>,
    store: web::Data<dyn Store>,
    authz: web::Data<Authz>,
) -> Result<NamespacePage, PageError> {
    let namespace = path.into_inner().trim_end_matches(':').to_lowercase();
    let valid = namespace.starts_with("dtmi")
        && namespace
            .split(':')
            .all(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
    if !valid {
        return Err(ApiError::not_found(format!(
            "{namespace:?} is not a DTMI namespace; namespaces look like dtmi:com:example"
        ))
        .into());
    }
    render(&request, &caller, store.get_ref(), &authz, Some(namespace)).await
}

async fn render(
    request: &HttpRequest,
    caller: &Caller,
    store: &dyn Store,
    authz: &Authz,
    namespace: Option<String>,
) -> Result<NamespacePage, PageError> {
    // The read scope is this page's authorization: the tree shows only readable models, and
    // a namespace holding nothing readable is not found.
    let scope = authz.read_scope(caller);
    let prefix = match &namespace {
        Some(ns) => format!("{ns}:"),
        None => "dtmi:".to_owned(),
    };
    let counts = store.namespace_counts(&prefix, &scope).await?;
    let mut children: BTreeMap<String, u64> = BTreeMap::new();
    for (full, count) in &counts {
        let Some(rest) = full.strip_prefix(&prefix) else {
            continue;
        };
        let segment = rest.split(':').next().unwrap_or(rest);
        *children.entry(format!("{prefix}{segment}")).or_default() += count;
    }
    let (page, _) = page_number(
        web::Query::<BTreeMap<String, String>>::from_query(request.query_string())
            .ok()
            .and_then(|q| q.get("page").cloned())
            .as_deref(),
    );
    let (rows, total) = match &namespace {
        Some(ns) => {
            let found = store
                .search(&SearchQuery {
                    facets: vec![Facet {
                        kind: FacetKind::Namespace,
                        value: ns.clone(),
                    }],
                    offset: (page - 1) * PER_PAGE,
                    limit: PER_PAGE,
                    ..SearchQuery::within(scope.clone())
                })
                .await?;
            (found.items, found.total)
        }
        None => (Vec::new(), 0),
    };
    if namespace.is_some() && children.is_empty() && total == 0 {
        return Err(ApiError::not_found(format!(
            "no model is stored under {}",
            namespace.as_deref().unwrap_or_default()
        ))
        .into());
    }
    let mut crumbs = Vec::new();
    if let Some(ns) = &namespace {
        let mut path = String::new();
        for segment in ns.split(':') {
            if !path.is_empty() {
                path.push(':');
            }
            path.push_str(segment);
            if path != "dtmi" {
                crumbs.push(Crumb {
                    label: segment.to_owned(),
                    path: format!("/namespaces/{path}"),
                });
            }
        }
    }
    let here = request.path().to_owned();
    Ok(NamespacePage {
        chrome: Chrome::new(request, caller),
        crumbs,
        children: children
            .into_iter()
            .map(|(name, count)| Child {
                path: format!("/namespaces/{name}"),
                name,
                count,
            })
            .collect(),
        next_link: (page * PER_PAGE < total).then(|| format!("{here}?page={}", page + 1)),
        prev_link: (page > 1).then(|| format!("{here}?page={}", page - 1)),
        rows: rows.into_iter().map(ModelRow::from).collect(),
        total,
        namespace,
    })
}
