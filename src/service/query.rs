//! Device queries (`SELECT … FROM devices | devices.modules …`) over the registry, paged with
//! continuation tokens: `POST /devices/query` on the service listener (`x-ms-continuation`,
//! `x-ms-max-item-count` in and `x-ms-continuation`, `x-ms-item-type` out), and the runner
//! our API's `POST /api/v1/devices/query` shares. The query runs as SQL in the store; this
//! module parses it, builds the twin documents of the page and projects them.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, post, web};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use twinhub_query::{DeviceQuery, QueryError, Select};

use super::documents::twin_document;
use super::error::HubApiError;
use super::{ServiceState, json_body};
use crate::domain::policy::Right;
use crate::store::Store;
use crate::store::service::{TwinQueryError, TwinQueryPage, TwinQueryRows};

/// Items per page when the caller does not say (IoT Hub's default).
pub const DEFAULT_PAGE: usize = 100;
/// Most items per page.
pub const MAX_PAGE: usize = 1000;
/// Longest query text accepted.
const MAX_QUERY_BODY: usize = 64 * 1024;

/// One page of results.
#[derive(Debug)]
pub struct QueryOutput {
    pub items: Vec<Value>,
    /// Where the next page starts, when there is one.
    pub continuation: Option<String>,
    /// `Twin` for whole twins, `Raw` for projections and aggregates (IoT Hub's item types).
    pub item_type: &'static str,
}

/// Why a query was refused.
#[derive(Debug, thiserror::Error)]
pub enum QueryRunError {
    #[error("the query is invalid: {0}")]
    Syntax(#[from] QueryError),
    #[error("the continuation token is not one this hub issued for a query")]
    BadContinuation,
    #[error("page size must be from 1 to {MAX_PAGE}, not {0}")]
    BadPageSize(usize),
    #[error(transparent)]
    Run(#[from] TwinQueryError),
}

#[derive(Serialize, Deserialize)]
struct Continuation {
    /// Continue after this (device id, module id).
    after: (String, String),
    /// What is left of `TOP n`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    remaining: Option<u64>,
}

fn decode_continuation(token: &str) -> Result<Continuation, QueryRunError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(token.trim())
        .map_err(|_| QueryRunError::BadContinuation)?;
    serde_json::from_slice(&bytes).map_err(|_| QueryRunError::BadContinuation)
}

fn encode_continuation(c: &Continuation) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(c).unwrap_or_default())
}

/// Runs one page of `text`.
pub async fn run(
    store: &dyn Store,
    text: &str,
    continuation: Option<&str>,
    page_size: Option<usize>,
) -> Result<QueryOutput, QueryRunError> {
    let query = DeviceQuery::parse(text)?;
    let page_size = page_size.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&page_size) {
        return Err(QueryRunError::BadPageSize(page_size));
    }
    let resumed = continuation.map(decode_continuation).transpose()?;
    if query.is_aggregate() {
        let rows = store.query_twins(&query, &TwinQueryPage::default()).await?;
        let groups = match rows {
            TwinQueryRows::Groups(groups) => groups,
            TwinQueryRows::Twins { .. } => Vec::new(),
        };
        return Ok(QueryOutput {
            items: query.rows_from_groups(groups),
            continuation: None,
            item_type: "Raw",
        });
    }
    let remaining = resumed.as_ref().and_then(|c| c.remaining).or(query.top);
    let limit = remaining.map_or(page_size, |r| {
        page_size.min(usize::try_from(r).unwrap_or(usize::MAX))
    });
    if limit == 0 {
        return Ok(QueryOutput {
            items: Vec::new(),
            continuation: None,
            item_type: item_type(&query),
        });
    }
    let page = TwinQueryPage {
        after: resumed.map(|c| c.after),
        limit,
    };
    let (twins, next) = match store.query_twins(&query, &page).await? {
        TwinQueryRows::Twins { twins, next } => (twins, next),
        TwinQueryRows::Groups(_) => (Vec::new(), None),
    };
    let items: Vec<Value> = twins
        .iter()
        .map(|m| query.project(&twin_document(&m.identity, &m.twin, m.c2d_count)))
        .collect();
    let left = remaining.map(|r| r.saturating_sub(items.len() as u64));
    let continuation = match (next, left) {
        (_, Some(0)) | (None, _) => None,
        (Some(after), left) => Some(encode_continuation(&Continuation {
            after,
            remaining: left,
        })),
    };
    Ok(QueryOutput {
        items,
        continuation,
        item_type: item_type(&query),
    })
}

fn item_type(query: &DeviceQuery) -> &'static str {
    match query.select {
        Select::All => "Twin",
        Select::Items(_) => "Raw",
    }
}

impl From<QueryRunError> for HubApiError {
    fn from(error: QueryRunError) -> Self {
        match error {
            QueryRunError::Run(e) => e.into(),
            other => HubApiError::argument_invalid(other.to_string()),
        }
    }
}

#[derive(Deserialize)]
struct QueryBody {
    query: String,
}

fn header<'r>(request: &'r HttpRequest, name: &str) -> Option<&'r str> {
    request.headers().get(name).and_then(|v| v.to_str().ok())
}

#[post("/devices/query")]
pub async fn query_devices(
    request: HttpRequest,
    state: web::Data<ServiceState>,
    payload: web::Payload,
) -> Result<HttpResponse, HubApiError> {
    state
        .authorize(&request, &[Right::RegistryRead, Right::ServiceConnect])
        .await?;
    let body = json_body(&request, payload, MAX_QUERY_BODY).await?;
    let body: QueryBody = serde_json::from_value(body).map_err(|_| {
        HubApiError::argument_invalid("the body must be {\"query\": \"SELECT * FROM devices ...\"}")
    })?;
    let page_size = header(&request, "x-ms-max-item-count")
        .map(|v| {
            v.trim().parse::<usize>().map_err(|_| {
                HubApiError::argument_invalid("x-ms-max-item-count must be a whole number")
            })
        })
        .transpose()?;
    let output = run(
        state.store.as_ref(),
        &body.query,
        header(&request, "x-ms-continuation").filter(|c| !c.is_empty()),
        page_size,
    )
    .await?;
    let mut response = HttpResponse::build(StatusCode::OK);
    response
        .content_type("application/json; charset=utf-8")
        .insert_header(("x-ms-item-type", output.item_type));
    if let Some(token) = &output.continuation {
        response.insert_header(("x-ms-continuation", token.as_str()));
    }
    Ok(response.body(Value::Array(output.items).to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuations_round_trip_and_foreign_ones_are_refused() {
        let token = encode_continuation(&Continuation {
            after: ("dev-1".into(), String::new()),
            remaining: Some(5),
        });
        let back = decode_continuation(&token).expect("decodes");
        assert_eq!(back.after, ("dev-1".to_owned(), String::new()));
        assert_eq!(back.remaining, Some(5));
        assert!(matches!(
            decode_continuation("not-a-token"),
            Err(QueryRunError::BadContinuation)
        ));
    }
}
