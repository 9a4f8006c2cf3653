//! The OpenAPI contract, checked on every response the integration tests receive: each
//! [`TestApp`](crate::helpers::TestApp) is reached through a small proxy that forwards every
//! request to the real application and checks the answer against the document the
//! application serves (`/api/openapi.json`): the status must be documented for the
//! operation, the content type must be one the response documents (no body where it
//! documents none), and a JSON body must validate against the documented schema. Paths and
//! methods outside the document (pages, the docs UI) pass unchecked. A violation fails the
//! test that received it when its `TestApp` is dropped.
//!
//! With `TWINHUB_CONTRACT_LOG=FILE` set, each checked response appends a line
//! `METHOD PATH-TEMPLATE STATUS` to FILE, for counting coverage.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use futures_util::StreamExt;
use serde_json::Value;
use tokio::sync::OnceCell;

/// The document's operations, compiled once per test process (the document is static).
static CONTRACT: OnceCell<Arc<Contract>> = OnceCell::const_new();

/// What the document says about each operation's responses.
pub struct Contract {
    operations: Vec<Operation>,
}

struct Operation {
    method: String,
    template: String,
    segments: Vec<String>,
    /// Status (`"200"`, `"default"`) → media type → the body's validator (`None`: any body).
    responses: BTreeMap<String, BTreeMap<String, Option<jsonschema::Validator>>>,
}

impl Contract {
    /// Compiles every response schema of `document` (OpenAPI 3.1: JSON Schema 2020-12, with
    /// `$ref`s into `#/components`).
    pub fn compile(document: &Value) -> Contract {
        let components = document.get("components").cloned().unwrap_or(Value::Null);
        let mut operations = Vec::new();
        let paths = document["paths"]
            .as_object()
            .expect("the document has paths");
        for (template, item) in paths {
            let Some(item) = item.as_object() else {
                continue;
            };
            for (method, operation) in item {
                let Some(responses) = operation["responses"].as_object() else {
                    continue;
                };
                let mut compiled = BTreeMap::new();
                for (status, response) in responses {
                    let mut media = BTreeMap::new();
                    if let Some(content) = response["content"].as_object() {
                        for (media_type, body) in content {
                            let validator = body.get("schema").map(|schema| {
                                compile_schema(schema, &components).unwrap_or_else(|error| {
                                    panic!("{method} {template} {status}: the schema does not compile: {error}")
                                })
                            });
                            media.insert(media_type.to_ascii_lowercase(), validator);
                        }
                    }
                    compiled.insert(status.clone(), media);
                }
                operations.push(Operation {
                    method: method.to_ascii_uppercase(),
                    segments: template.split('/').map(str::to_owned).collect(),
                    template: template.clone(),
                    responses: compiled,
                });
            }
        }
        Contract { operations }
    }

    /// The operation serving `method path`: an exact segment match first, then one whose last
    /// whole-segment parameter takes the rest of the path (the DMR tree's `/dtmi/{path}`).
    fn operation(&self, method: &str, path: &str) -> Option<&Operation> {
        let segments: Vec<&str> = path.split('/').collect();
        let candidates = self.operations.iter().filter(|o| o.method == method);
        let exact = candidates
            .clone()
            .find(|o| o.segments.len() == segments.len() && segments_match(&o.segments, &segments));
        exact.or_else(|| {
            candidates.clone().find(|o| {
                let tail_param = o
                    .segments
                    .last()
                    .is_some_and(|s| s.starts_with('{') && s.ends_with('}'));
                tail_param
                    && segments.len() > o.segments.len()
                    && segments_match(
                        &o.segments[..o.segments.len() - 1],
                        &segments[..o.segments.len() - 1],
                    )
            })
        })
    }

    /// Checks one response; `Ok(None)` when the document does not describe the operation.
    pub fn check(
        &self,
        method: &str,
        path: &str,
        status: u16,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Option<String>, String> {
        let Some(operation) = self.operation(method, path) else {
            return Ok(None);
        };
        let label = format!("{method} {}", operation.template);
        let status_key = status.to_string();
        let class_key = format!("{}XX", status / 100);
        let Some(media) = operation
            .responses
            .get(&status_key)
            .or_else(|| operation.responses.get(&class_key))
            .or_else(|| operation.responses.get("default"))
        else {
            return Err(format!(
                "{label} answered {status}, which the document does not list (it lists {:?}) for {method} {path}",
                operation.responses.keys().collect::<Vec<_>>()
            ));
        };
        if media.is_empty() {
            if !body.is_empty() {
                return Err(format!(
                    "{label} {status} documents no body, but {} bytes came ({content_type:?}) for {path}",
                    body.len()
                ));
            }
            return Ok(Some(format!("{label} {status}")));
        }
        let essence = content_type
            .and_then(|ct| ct.split(';').next())
            .map(|ct| ct.trim().to_ascii_lowercase())
            .unwrap_or_default();
        let Some(validator) = media.get(&essence) else {
            return Err(format!(
                "{label} {status} came as {essence:?}, but the document lists {:?} for {path}",
                media.keys().collect::<Vec<_>>()
            ));
        };
        if essence == "application/json" || essence.ends_with("+json") {
            let value: Value = serde_json::from_slice(body).map_err(|error| {
                format!("{label} {status} is declared JSON but does not parse ({error}) for {path}")
            })?;
            if let Some(validator) = validator {
                let errors: Vec<String> = validator
                    .iter_errors(&value)
                    .take(5)
                    .map(|e| format!("{} at {}", e, e.instance_path()))
                    .collect();
                if !errors.is_empty() {
                    return Err(format!(
                        "{label} {status} does not match its schema for {path}: {}",
                        errors.join("; ")
                    ));
                }
            }
        }
        Ok(Some(format!("{label} {status}")))
    }
}

/// A validator for one response schema: the schema with the document's `components` beside
/// it, so that `#/components/schemas/…` references resolve inside it.
fn compile_schema(schema: &Value, components: &Value) -> Result<jsonschema::Validator, String> {
    let mut root = match schema {
        Value::Object(map) => map.clone(),
        other => return Err(format!("not a schema object: {other}")),
    };
    root.insert("components".to_owned(), components.clone());
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .build(&Value::Object(root))
        .map_err(|e| e.to_string())
}

/// Whether each template segment matches: literals exactly, `{param}` anything non-empty,
/// and a parameter inside a segment (`index.page.{number}.json`) by its literal prefix and
/// suffix.
fn segments_match(template: &[String], path: &[&str]) -> bool {
    template.iter().zip(path).all(|(pattern, segment)| {
        match (pattern.find('{'), pattern.rfind('}')) {
            (Some(open), Some(close)) if open < close => {
                let (prefix, suffix) = (&pattern[..open], &pattern[close + 1..]);
                segment.len() > prefix.len() + suffix.len()
                    && segment.starts_with(prefix)
                    && segment.ends_with(suffix)
            }
            _ => pattern == segment,
        }
    })
}

/// Responses checked and contract violations seen by one proxy.
#[derive(Default)]
pub struct Findings {
    pub checked: Vec<String>,
    pub violations: Vec<String>,
}

/// A running proxy in front of one application.
pub struct ContractProxy {
    pub address: String,
    findings: Arc<Mutex<Findings>>,
}

impl ContractProxy {
    /// Starts a proxy to the application at `target` (`http://127.0.0.1:PORT`).
    pub async fn start(target: String) -> ContractProxy {
        let contract = CONTRACT
            .get_or_init(|| async {
                let client = reqwest::Client::new();
                let document: Value = client
                    .get(format!("{target}/api/openapi.json"))
                    .send()
                    .await
                    .expect("fetch the served OpenAPI document")
                    .json()
                    .await
                    .expect("the served document is JSON");
                Arc::new(Contract::compile(&document))
            })
            .await
            .clone();
        let findings = Arc::new(Mutex::new(Findings::default()));
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the contract proxy");
        let address = format!("http://{}", listener.local_addr().expect("proxy address"));
        let shared = (target, contract, findings.clone());
        let server = HttpServer::new(move || {
            let (target, contract, findings) = shared.clone();
            // One client per worker: its connections belong to that worker's runtime.
            let client = reqwest::Client::builder()
                .no_gzip()
                .no_brotli()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("proxy client");
            App::new()
                .app_data(web::Data::new(Forward {
                    target,
                    client,
                    contract,
                    findings,
                }))
                .default_service(web::to(forward))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
        tokio::spawn(server);
        ContractProxy { address, findings }
    }

    /// Fails the test (when it has not failed already) if any response broke the contract,
    /// and logs what was checked when `TWINHUB_CONTRACT_LOG` names a file.
    pub fn finish(&self) {
        let findings = match self.findings.lock() {
            Ok(mut findings) => std::mem::take(&mut *findings),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        };
        if let Some(path) = std::env::var_os("TWINHUB_CONTRACT_LOG")
            && let Ok(mut file) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
        {
            let lines: String = findings.checked.iter().map(|l| format!("{l}\n")).collect();
            let _ = file.write_all(lines.as_bytes());
        }
        if !findings.violations.is_empty() && !std::thread::panicking() {
            panic!(
                "responses that break the OpenAPI document:\n{}",
                findings.violations.join("\n")
            );
        }
    }
}

struct Forward {
    target: String,
    client: reqwest::Client,
    contract: Arc<Contract>,
    findings: Arc<Mutex<Findings>>,
}

/// Headers that belong to one connection, not to the message.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "proxy-connection",
    "content-length",
];

async fn forward(
    request: HttpRequest,
    mut payload: web::Payload,
    proxy: web::Data<Forward>,
) -> HttpResponse {
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        match chunk {
            Ok(chunk) => body.extend_from_slice(&chunk),
            Err(error) => return HttpResponse::BadGateway().body(format!("proxy: {error}")),
        }
    }
    let path_and_query = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let method = reqwest::Method::from_bytes(request.method().as_str().as_bytes())
        .unwrap_or(reqwest::Method::GET);
    let mut outgoing = proxy
        .client
        .request(method, format!("{}{path_and_query}", proxy.target));
    for (name, value) in request.headers() {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            outgoing = outgoing.header(name.as_str(), value.as_bytes());
        }
    }
    let answer = match outgoing.body(body).send().await {
        Ok(answer) => answer,
        Err(error) => return HttpResponse::BadGateway().body(format!("proxy: {error}")),
    };
    let status = answer.status();
    let headers = answer.headers().clone();
    let bytes = match answer.bytes().await {
        Ok(bytes) => bytes,
        Err(error) => return HttpResponse::BadGateway().body(format!("proxy: {error}")),
    };
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok());
    let decoded = decode(
        headers
            .get("content-encoding")
            .and_then(|v| v.to_str().ok()),
        &bytes,
    );
    let outcome = match decoded {
        Ok(decoded) => proxy.contract.check(
            request.method().as_str(),
            request.path(),
            status.as_u16(),
            content_type,
            &decoded,
        ),
        Err(error) => Err(format!("{} {}: {error}", request.method(), request.path())),
    };
    if let Ok(mut findings) = proxy.findings.lock() {
        match outcome {
            Ok(Some(checked)) => findings.checked.push(checked),
            Ok(None) => {}
            Err(violation) => findings.violations.push(violation),
        }
    }
    let mut response = HttpResponse::build(
        actix_web::http::StatusCode::from_u16(status.as_u16())
            .unwrap_or(actix_web::http::StatusCode::BAD_GATEWAY),
    );
    for (name, value) in &headers {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            response.append_header((name.as_str(), value.as_bytes()));
        }
    }
    response.body(bytes)
}

/// The body as sent before content coding (the API compresses when asked to).
fn decode(encoding: Option<&str>, bytes: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    match encoding.map(str::trim) {
        None | Some("identity") => return Ok(bytes.to_vec()),
        Some("gzip") => flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .map_err(|e| format!("gzip body does not decode: {e}"))?,
        Some("br") => brotli::Decompressor::new(bytes, 4096)
            .read_to_end(&mut out)
            .map_err(|e| format!("brotli body does not decode: {e}"))?,
        Some(other) => return Err(format!("unexpected content encoding {other:?}")),
    };
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Contract {
        Contract::compile(&serde_json::json!({
            "paths": {
                "/items/{id}": {"get": {"responses": {
                    "200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Item"}}}},
                    "304": {"description": "not modified"}
                }}},
                "/tree/{path}": {"get": {"responses": {"200": {"content": {"application/json": {}}}}}},
                "/index.page.{n}.json": {"get": {"responses": {"200": {"content": {"text/plain": {}}}}}}
            },
            "components": {"schemas": {"Item": {"type": "object", "required": ["name"],
                "properties": {"name": {"type": "string"}}}}}
        }))
    }

    #[test]
    fn the_checker_catches_each_kind_of_drift() {
        let contract = tiny();
        let ok = contract.check(
            "GET",
            "/items/7",
            200,
            Some("application/json"),
            br#"{"name": "a"}"#,
        );
        assert_eq!(ok, Ok(Some("GET /items/{id} 200".to_owned())));
        let wrong_schema = contract.check(
            "GET",
            "/items/7",
            200,
            Some("application/json"),
            br#"{"name": 1}"#,
        );
        assert!(wrong_schema.is_err(), "{wrong_schema:?}");
        let wrong_status = contract.check(
            "GET",
            "/items/7",
            404,
            Some("application/problem+json"),
            b"{}",
        );
        assert!(wrong_status.is_err());
        let wrong_type = contract.check("GET", "/items/7", 200, Some("text/html"), b"<p>");
        assert!(wrong_type.is_err());
        let unexpected_body = contract.check("GET", "/items/7", 304, None, b"x");
        assert!(unexpected_body.is_err());
        assert_eq!(contract.check("GET", "/pages/7", 500, None, b""), Ok(None));
        assert_eq!(contract.check("PUT", "/items/7", 500, None, b""), Ok(None));
        assert!(matches!(
            contract.check(
                "GET",
                "/tree/a/b/c.json",
                200,
                Some("application/json"),
                b"[]"
            ),
            Ok(Some(_))
        ));
        assert!(matches!(
            contract.check("GET", "/index.page.2.json", 200, Some("text/plain"), b"x"),
            Ok(Some(_))
        ));
    }
}
