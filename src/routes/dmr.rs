//! The Device Models Repository tree, exactly as existing clients expect it: model files
//! byte-exact under `/dtmi/…`, `.expanded.json` closures, `/metadata.json` and the index pages.
//! Anonymous, case-insensitive, with strong ETags, conditional requests, long-lived caching of
//! immutable files and precompressed gzip/brotli bodies.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};

use crate::auth::Caller;
use crate::authz::Authz;
use crate::domain::access::Visibility;
use crate::http::Site;
use crate::http::error::ApiError;
use crate::repository::resolution::{DmrFile, Resolution};
use crate::telemetry::metrics::RouteLabel;

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const PRIVATE: &str = "private, no-cache";

/// Registers the DMR routes (GET and HEAD).
pub fn configure(config: &mut web::ServiceConfig) {
    let get_or_head = || {
        web::route()
            .guard(actix_web::guard::Any(actix_web::guard::Get()).or(actix_web::guard::Head()))
    };
    // The model tree is a scope with a default service rather than a `{path:.*}` pattern: a
    // static prefix costs nothing to match, whereas the pattern ran a regex on every request
    // (a fifth of the CPU time under load).
    config
        .service(web::scope("/dtmi").default_service(web::to(model_file)))
        .route("/metadata.json", get_or_head().to(metadata))
        .route("/index.json", get_or_head().to(index))
        .route("/index.page.{number}.json", get_or_head().to(index_page));
}

/// A model file (`/dtmi/com/example/thermostat-1.json`) or its closure (`….expanded.json`).
#[utoipa::path(
    get,
    path = "/dtmi/{path}",
    tag = "dmr",
    params(("path" = String, Path, description = "DMR path of the model, e.g. `com/example/thermostat-1.json` or `com/example/thermostat-1.expanded.json`; matched case-insensitively")),
    responses(
        (status = 200, description = "The model exactly as pushed, or the expanded array (root first, then its dependency closure)", content_type = "application/json"),
        (status = 304, description = "Not modified (If-None-Match matched the ETag)"),
        (status = 404, description = "No such model, or not a model path", body = crate::http::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn model_file(
    request: HttpRequest,
    caller: Caller,
    resolution: web::Data<Resolution>,
    authz: web::Data<Authz>,
) -> Result<HttpResponse, ApiError> {
    request.extensions_mut().insert(RouteLabel("/dtmi/{path}"));
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            "Method not allowed",
            "the DMR tree is read-only: use GET or HEAD, and POST /api/v1/models to push models",
        ));
    }
    let full = request.path().trim_start_matches('/').to_lowercase();
    let scope = authz.read_scope(&caller);
    match resolution.file(&full).await? {
        // A file the caller may not read (or whose closure reaches a model it may not read)
        // is answered exactly as a missing one.
        Some(file) if file.members.iter().all(|m| scope.can_read(m)) => {
            let visibility = authz.visibility();
            let private = file
                .members
                .iter()
                .any(|m| visibility.of_dtmi(m) == Visibility::Private);
            Ok(respond(&request, &file, private))
        }
        _ => Err(ApiError::not_found(format!(
            "no model is stored at /{full}; model paths look like /dtmi/com/example/thermostat-1.json"
        ))),
    }
}

/// Repository metadata: features, model count, revision.
#[utoipa::path(get, path = "/metadata.json", tag = "dmr", responses((status = 200, description = "DMR metadata", content_type = "application/json")))]
pub async fn metadata(
    request: HttpRequest,
    caller: Caller,
    resolution: web::Data<Resolution>,
    authz: web::Data<Authz>,
) -> Result<HttpResponse, ApiError> {
    let file = resolution.metadata(&authz.read_scope(&caller)).await?;
    Ok(respond(
        &request,
        &file,
        listing_is_private(&authz, &caller),
    ))
}

/// The first page of the model index.
#[utoipa::path(get, path = "/index.json", tag = "dmr", responses((status = 200, description = "First index page", content_type = "application/json")))]
pub async fn index(
    request: HttpRequest,
    caller: Caller,
    resolution: web::Data<Resolution>,
    authz: web::Data<Authz>,
) -> Result<HttpResponse, ApiError> {
    listing_page(&request, &caller, &resolution, &authz, 0)
        .await?
        .ok_or_else(|| ApiError::not_found("the index is empty"))
}

/// Index page `number` as `caller` may see it; `None` past the end.
async fn listing_page(
    request: &HttpRequest,
    caller: &Caller,
    resolution: &Resolution,
    authz: &Authz,
    number: usize,
) -> Result<Option<HttpResponse>, ApiError> {
    let file = resolution
        .index_page(number, &authz.read_scope(caller))
        .await?;
    Ok(file.map(|f| respond(request, &f, listing_is_private(authz, caller))))
}

/// Further pages of the model index (`index.page.1.json`, …).
#[utoipa::path(
    get,
    path = "/index.page.{number}.json",
    tag = "dmr",
    params(("number" = u32, Path, description = "Page number, 1-based after index.json")),
    responses(
        (status = 200, description = "Index page", content_type = "application/json"),
        (status = 404, description = "No such page", body = crate::http::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn index_page(
    request: HttpRequest,
    caller: Caller,
    number: web::Path<String>,
    resolution: web::Data<Resolution>,
    authz: web::Data<Authz>,
) -> Result<HttpResponse, ApiError> {
    let text = number.into_inner();
    let page = text
        .parse::<usize>()
        .ok()
        .filter(|n| *n >= 1 && !text.starts_with('0'))
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "index.page.{text}.json is not an index page; pages are numbered 1, 2, …"
            ))
        })?;
    match listing_page(&request, &caller, &resolution, &authz, page).await? {
        Some(response) => Ok(response),
        None => Err(ApiError::not_found(format!(
            "index page {page} does not exist"
        ))),
    }
}

/// Listings differ between callers once anything is private, except for anonymous callers.
fn listing_is_private(authz: &Authz, caller: &Caller) -> bool {
    !caller.principal.is_anonymous() && !authz.visibility().all_public()
}

/// Answers with `file`, honouring `If-None-Match` and `Accept-Encoding`. Files that hold or
/// list private models are marked `private`, so no shared cache hands them to someone else.
fn respond(request: &HttpRequest, file: &DmrFile, private: bool) -> HttpResponse {
    let encoding = negotiate(request);
    let etag = match encoding {
        Encoding::Identity => format!("\"{}\"", file.sha256),
        Encoding::Gzip => format!("\"{}-gzip\"", file.sha256),
        Encoding::Brotli => format!("\"{}-br\"", file.sha256),
    };
    let cache_control = if private {
        PRIVATE.to_owned()
    } else if file.immutable {
        IMMUTABLE.to_owned()
    } else {
        format!(
            "public, max-age={}",
            request
                .app_data::<web::Data<Site>>()
                .map_or(60, |site| site.listing_max_age_seconds)
        )
    };
    let not_modified = matches_etag(request, &file.sha256);
    let mut response = HttpResponse::build(if not_modified {
        StatusCode::NOT_MODIFIED
    } else {
        StatusCode::OK
    });
    response
        .insert_header((
            header::ETAG,
            HeaderValue::from_maybe_shared(etag.clone())
                .unwrap_or(HeaderValue::from_static("\"\"")),
        ))
        .insert_header((header::CACHE_CONTROL, cache_control))
        .insert_header((header::VARY, HeaderValue::from_static("Accept-Encoding")));
    if let Some(since) = file.deprecated_since {
        response.insert_header(("Deprecation", format!("@{}", since.timestamp())));
    }
    if let Some(state) = file.state {
        response.insert_header(("Twinhub-Model-State", state.as_str()));
    }
    if not_modified {
        return response.finish();
    }
    response.insert_header((
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    ));
    match encoding {
        Encoding::Identity => response.body(file.body.clone()),
        Encoding::Gzip => response
            .insert_header((header::CONTENT_ENCODING, HeaderValue::from_static("gzip")))
            .body(file.gzip()),
        Encoding::Brotli => response
            .insert_header((header::CONTENT_ENCODING, HeaderValue::from_static("br")))
            .body(file.brotli()),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Encoding {
    Identity,
    Gzip,
    Brotli,
}

/// Picks brotli, then gzip, when the client accepts them with a non-zero quality.
fn negotiate(request: &HttpRequest) -> Encoding {
    let Some(accept) = request
        .headers()
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
    else {
        return Encoding::Identity;
    };
    let mut best = (Encoding::Identity, 0.0_f32);
    for part in accept.split(',') {
        let mut pieces = part.trim().split(';');
        let name = pieces
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let quality = pieces
            .find_map(|p| p.trim().strip_prefix("q="))
            .and_then(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        let candidate = match name.as_str() {
            "br" => Encoding::Brotli,
            "gzip" | "x-gzip" => Encoding::Gzip,
            _ => continue,
        };
        let better = quality > best.1 || (quality == best.1 && candidate == Encoding::Brotli);
        if quality > 0.0 && better {
            best = (candidate, quality);
        }
    }
    best.0
}

/// Whether `If-None-Match` names any representation of this content (or is `*`).
fn matches_etag(request: &HttpRequest, sha256: &str) -> bool {
    request
        .headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| {
            if tag == "*" {
                return true;
            }
            let tag = tag.strip_prefix("W/").unwrap_or(tag).trim_matches('"');
            let base = tag
                .strip_suffix("-gzip")
                .or_else(|| tag.strip_suffix("-br"))
                .unwrap_or(tag);
            base == sha256
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn brotli_is_preferred_and_zero_quality_is_refused() {
        let with = |value: &str| {
            negotiate(
                &TestRequest::default()
                    .insert_header((header::ACCEPT_ENCODING, value))
                    .to_http_request(),
            )
        };
        assert_eq!(with("gzip, deflate, br"), Encoding::Brotli);
        assert_eq!(with("gzip"), Encoding::Gzip);
        assert_eq!(with("br;q=0, gzip;q=0.5"), Encoding::Gzip);
        assert_eq!(with("identity"), Encoding::Identity);
        assert_eq!(
            negotiate(&TestRequest::default().to_http_request()),
            Encoding::Identity
        );
    }

    #[test]
    fn any_representation_tag_of_the_content_matches() {
        let with = |value: &str| {
            matches_etag(
                &TestRequest::default()
                    .insert_header((header::IF_NONE_MATCH, value))
                    .to_http_request(),
                "abc",
            )
        };
        assert!(with("\"abc\""));
        assert!(with("\"zzz\", \"abc-gzip\""));
        assert!(with("W/\"abc-br\""));
        assert!(with("*"));
        assert!(!with("\"abd\""));
    }
}
