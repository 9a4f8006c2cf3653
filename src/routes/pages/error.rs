//! Errors on HTML pages: the same statuses and wording as [`ApiError`], rendered as a
//! friendly page in the site's layout instead of problem+json, and the middleware that gives
//! error pages the signed-in caller's header.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};

use super::Chrome;
use crate::auth::{AuthError, Caller};
use crate::authz::Denied;
use crate::http::error::ApiError;
use crate::repository::inspect::InspectError;
use crate::repository::publish::PushError;
use crate::store::StoreError;

/// An error on an HTML page.
#[derive(Debug)]
pub struct PageError(pub ApiError);

/// Every error a page handler meets becomes a page the way it would become a problem.
macro_rules! page_error_from {
    ($($error:ty),*) => {$(
        impl From<$error> for PageError {
            fn from(error: $error) -> Self {
                Self(error.into())
            }
        }
    )*};
}

page_error_from!(
    ApiError,
    StoreError,
    PushError,
    InspectError,
    AuthError,
    Denied
);

impl fmt::Display for PageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(askama::Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    title: &'a str,
    detail: &'a str,
    request_id: Option<String>,
    chrome: Chrome,
}

/// What an error page said, kept on the response so that [`error_page_chrome`] can render it
/// again with the signed-in caller's header (`error_response` cannot see the request).
#[derive(Clone, Debug)]
struct RenderedErrorPage {
    status: u16,
    title: String,
    detail: String,
    request_id: Option<String>,
}

impl RenderedErrorPage {
    fn render(&self, chrome: Chrome) -> String {
        let page = ErrorPage {
            status: self.status,
            title: &self.title,
            detail: &self.detail,
            request_id: self.request_id.clone(),
            chrome,
        };
        askama::Template::render(&page).unwrap_or_else(|e| {
            tracing::error!(error = %e, "the error page did not render");
            format!("{} {}", self.status, self.title)
        })
    }
}

/// Middleware: error pages answered to a signed-in caller get the caller's header (name,
/// sign-out form) like every other page.
pub async fn error_page_chrome(
    request: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<
    actix_web::dev::ServiceResponse<
        actix_web::body::EitherBody<impl actix_web::body::MessageBody, String>,
    >,
    actix_web::Error,
> {
    use actix_web::HttpMessage;
    let response = next.call(request).await?;
    let rendered = response
        .response()
        .extensions()
        .get::<RenderedErrorPage>()
        .cloned();
    let caller = rendered
        .as_ref()
        .and_then(|_| response.request().extensions().get::<Caller>().cloned());
    let (Some(rendered), Some(caller)) = (rendered, caller) else {
        // Everything else (the DMR tree above all) passes through without re-boxing.
        return Ok(response.map_into_left_body());
    };
    let chrome = Chrome::new(response.request(), &caller);
    let body = rendered.render(chrome);
    Ok(response.map_body(|_, _| actix_web::body::EitherBody::right(body)))
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        self.0.status()
    }

    fn error_response(&self) -> HttpResponse {
        let error = &self.0;
        let request_id = error.log_unexpected("page failed unexpectedly");
        let title = match error.status() {
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::FORBIDDEN => "Not allowed",
            StatusCode::UNAUTHORIZED => "Sign-in required",
            _ => error.title(),
        };
        let rendered = RenderedErrorPage {
            status: error.status().as_u16(),
            title: title.to_owned(),
            detail: error.detail().to_owned(),
            request_id,
        };
        let body = rendered.render(Chrome::default());
        let mut response = HttpResponse::build(error.status())
            .insert_header((
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ))
            .body(body);
        response.extensions_mut().insert(rendered);
        response
    }
}
