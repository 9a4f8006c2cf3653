//! The home page: what the repository holds, and a search over it.

use actix_web::{HttpRequest, web};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;

use crate::auth::Caller;
use crate::domain::model::{ModelRecord, SearchQuery};
use crate::error::ApiError;
use crate::startup::AppState;

const PER_PAGE: u64 = 50;

#[derive(Deserialize)]
pub struct HomeParams {
    q: Option<String>,
    page: Option<String>,
}

/// One model in the results table.
pub struct Row {
    dtmi: String,
    name: String,
    state: &'static str,
    dtdl_version: u8,
    pushed_at: String,
    pushed_on: String,
    dmr_link: String,
}

impl From<ModelRecord> for Row {
    fn from(record: ModelRecord) -> Self {
        Row {
            name: display_text(record.display_name.as_ref()),
            dmr_link: dtdl::Dtmi::parse(&record.dtmi)
                .map(|d| format!("/{}", d.to_dmr_path()))
                .unwrap_or_default(),
            state: record.state.as_str(),
            dtdl_version: record.dtdl_version,
            pushed_at: record.pushed_at.to_rfc3339(),
            pushed_on: record.pushed_at.format("%Y-%m-%d").to_string(),
            dtmi: record.dtmi,
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "home.html")]
pub struct HomePage {
    repository_name: String,
    model_count: i64,
    revision: i64,
    query: String,
    problem: Option<String>,
    rows: Vec<Row>,
    first: u64,
    last: u64,
    total: u64,
    prev_link: Option<String>,
    next_link: Option<String>,
}

pub async fn home(
    request: HttpRequest,
    caller: Caller,
    params: web::Query<HomeParams>,
    state: web::Data<AppState>,
) -> Result<HomePage, ApiError> {
    let scope = state.authz.read_scope(&caller);
    let status = state.store.status(&scope).await?;
    let query = params.q.clone().unwrap_or_default().trim().to_owned();
    let (page, problem) = match params.page.as_deref().map(str::parse::<u64>) {
        None => (1, None),
        Some(Ok(n)) if (1..=1_000_000).contains(&n) => (n, None),
        Some(_) => (
            1,
            Some("That page number is not valid; showing the first page.".to_owned()),
        ),
    };
    let found = state
        .store
        .search(&SearchQuery {
            text: (!query.is_empty()).then(|| query.clone()),
            namespace_prefix: None,
            state: None,
            dependencies_of: None,
            scope,
            offset: (page - 1) * PER_PAGE,
            limit: PER_PAGE,
        })
        .await?;
    let shown = found.items.len() as u64;
    let link = |p: u64| {
        let q = percent_encoding::utf8_percent_encode(&query, percent_encoding::NON_ALPHANUMERIC);
        format!("{}?q={q}&page={p}", request.path())
    };
    Ok(HomePage {
        repository_name: state.settings.repository_name.clone(),
        model_count: status.model_count,
        revision: status.revision,
        first: if shown == 0 {
            0
        } else {
            (page - 1) * PER_PAGE + 1
        },
        last: (page - 1) * PER_PAGE + shown,
        total: found.total,
        prev_link: (page > 1).then(|| link(page - 1)),
        next_link: (page * PER_PAGE < found.total).then(|| link(page + 1)),
        rows: found.items.into_iter().map(Row::from).collect(),
        query,
        problem,
    })
}

/// A displayName as text: the string itself, or the English (else first) entry of a language map.
fn display_text(value: Option<&serde_json::Value>) -> String {
    match value {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Object(map)) => map
            .iter()
            .find(|(lang, _)| lang.starts_with("en"))
            .or_else(|| map.iter().next())
            .and_then(|(_, v)| v.as_str())
            .unwrap_or_default()
            .to_owned(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_prefer_english_in_language_maps() {
        assert_eq!(
            display_text(Some(&serde_json::json!("Thermostat"))),
            "Thermostat"
        );
        assert_eq!(
            display_text(Some(
                &serde_json::json!({"de": "Thermostat DE", "en-US": "Thermostat"})
            )),
            "Thermostat"
        );
        assert_eq!(
            display_text(Some(&serde_json::json!({"fr": "Thermostat FR"}))),
            "Thermostat FR"
        );
        assert_eq!(display_text(None), "");
    }
}
