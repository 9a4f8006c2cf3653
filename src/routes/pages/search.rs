//! The search page: text search with facets (namespace, DTDL version, state, capability kind,
//! semantic type, unit, component interface), paged. Facet counts come from the per-model
//! facet rows written at insert, so they stay fast with many models.

use actix_web::{HttpRequest, web};
use askama::Template;
use askama_web::WebTemplate;

use super::{Chrome, display_text, encode, model_path, page_number};
use crate::auth::Caller;
use crate::authz::Authz;
use crate::domain::model::{Facet, FacetKind, ModelRecord, ModelState, SearchQuery};
use crate::repository::resolution::Resolution;
use crate::routes::pages::error::PageError;
use crate::store::Store;

const PER_PAGE: u64 = 25;
/// Values shown per facet; the rest are reachable by narrowing the search.
const FACET_VALUES: usize = 12;

/// One model in a results table.
pub struct ModelRow {
    pub dtmi: String,
    pub link: String,
    pub name: String,
    pub description: String,
    pub state: &'static str,
    pub dtdl_version: u8,
    pub pushed_at: String,
    pub pushed_on: String,
}

impl From<ModelRecord> for ModelRow {
    fn from(record: ModelRecord) -> Self {
        ModelRow {
            name: display_text(record.display_name.as_ref()),
            description: display_text(record.description.as_ref()),
            link: model_path(&record.dtmi),
            state: record.state.as_str(),
            dtdl_version: record.dtdl_version,
            pushed_at: record.pushed_at.to_rfc3339(),
            pushed_on: record.pushed_at.format("%Y-%m-%d").to_string(),
            dtmi: record.dtmi,
        }
    }
}

/// A facet value with its count and the link that toggles it.
pub struct FacetLink {
    pub label: String,
    pub count: u64,
    pub active: bool,
    pub href: String,
}

impl FacetLink {
    /// A link adding `facet=value` to `base` (a URL ending in `?` or `&`).
    pub fn new(facet: &str, value: &str, count: u64, active: bool, base: &str) -> Self {
        let label = match facet {
            "dtdlVersion" => format!("DTDL v{value}"),
            _ => value.to_owned(),
        };
        Self {
            label,
            count,
            active,
            href: format!("{base}{}={}", facet, encode(value)),
        }
    }
}

/// One facet group in the sidebar.
pub struct FacetGroup {
    pub title: &'static str,
    pub links: Vec<FacetLink>,
}

#[derive(Template, WebTemplate)]
#[template(path = "search.html")]
pub struct SearchPage {
    chrome: Chrome,
    query: String,
    problem: Option<String>,
    rows: Vec<ModelRow>,
    groups: Vec<FacetGroup>,
    active: Vec<FacetLink>,
    first: u64,
    last: u64,
    total: u64,
    prev_link: Option<String>,
    next_link: Option<String>,
}

/// The filters of a search, read from repeated `name=value` pairs.
struct Filters {
    pairs: Vec<(String, String)>,
}

impl Filters {
    fn parse(query_string: &str) -> Self {
        let pairs = web::Query::<Vec<(String, String)>>::from_query(query_string)
            .map(|q| q.into_inner())
            .unwrap_or_default();
        Self { pairs }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn has(&self, name: &str, value: &str) -> bool {
        self.pairs.iter().any(|(k, v)| k == name && v == value)
    }

    /// The query string of these filters minus `page` (and minus one pair when toggling it
    /// off), ending in `&` so that one more pair can follow.
    fn base(&self, without: Option<(&str, &str)>) -> String {
        let mut out = String::from("/search?");
        for (k, v) in &self.pairs {
            if k == "page" || without.is_some_and(|(wk, wv)| wk == k && wv == v) {
                continue;
            }
            out.push_str(&format!("{}={}&", encode(k), encode(v)));
        }
        out
    }
}

pub async fn search(
    request: HttpRequest,
    caller: Caller,
    store: web::Data<dyn Store>,
    resolution: web::Data<Resolution>,
    authz: web::Data<Authz>,
) -> Result<SearchPage, PageError> {
    let filters = Filters::parse(request.query_string());
    let query = filters.get("q").unwrap_or_default().trim().to_owned();
    let (page, mut problem) = page_number(filters.get("page"));
    let mut search = SearchQuery {
        text: (!query.is_empty()).then(|| query.clone()),
        offset: (page - 1) * PER_PAGE,
        limit: PER_PAGE,
        // The read scope is this page's authorization: results and counts cover only what
        // the caller may read.
        ..SearchQuery::within(authz.read_scope(&caller))
    };
    let mut active = Vec::new();
    for (name, value) in &filters.pairs {
        let mut known = true;
        match name.as_str() {
            "q" | "page" => continue,
            "state" => match value.parse::<ModelState>() {
                Ok(s) => search.state = Some(s),
                Err(e) => {
                    problem = Some(e.to_string());
                    known = false;
                }
            },
            "dtdlVersion" => match value.parse::<u8>() {
                Ok(v) => search.dtdl_version = Some(v),
                Err(_) => {
                    problem = Some(format!(
                        "DTDL version {value:?} is not a number; use 2, 3 or 4"
                    ));
                    known = false;
                }
            },
            other => match FacetKind::parse(other) {
                Some(kind) => search.facets.push(Facet {
                    kind,
                    value: value.clone(),
                }),
                None => known = false,
            },
        }
        if known {
            let mut link = FacetLink::new(name, value, 0, true, "");
            link.href = filters.base(Some((name, value)));
            active.push(link);
        }
    }
    // Independent reads on separate connections: the page waits for the slower one only.
    let (found, counts) =
        tokio::try_join!(store.search(&search), resolution.facet_counts(&search))?;
    let base = filters.base(None);
    let groups = [
        ("Namespace", "namespace"),
        ("DTDL version", "dtdlVersion"),
        ("State", "state"),
        ("Capability", "capability"),
        ("Semantic type", "semanticType"),
        ("Unit", "unit"),
        ("Component interface", "component"),
    ]
    .into_iter()
    .map(|(title, facet)| FacetGroup {
        title,
        links: counts
            .iter()
            .filter(|c| c.facet == facet)
            .take(FACET_VALUES)
            .map(|c| {
                FacetLink::new(
                    facet,
                    &c.value,
                    c.count,
                    filters.has(facet, &c.value),
                    &base,
                )
            })
            .collect(),
    })
    .filter(|g| !g.links.is_empty())
    .collect();
    let shown = found.items.len() as u64;
    let link = |p: u64| format!("{base}page={p}");
    Ok(SearchPage {
        chrome: Chrome::new(&request, &caller),
        first: if shown == 0 {
            0
        } else {
            (page - 1) * PER_PAGE + 1
        },
        last: (page - 1) * PER_PAGE + shown,
        total: found.total,
        prev_link: (page > 1).then(|| link(page - 1)),
        next_link: (page * PER_PAGE < found.total).then(|| link(page + 1)),
        rows: found.items.into_iter().map(ModelRow::from).collect(),
        groups,
        active,
        query,
        problem,
    })
}
