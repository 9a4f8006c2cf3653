//! Server-rendered HTML pages; each askama template struct sits beside its handler.

pub mod home;
pub mod login;

use actix_web::{HttpResponse, http::header};

/// Our stylesheet, compiled in so the binary serves it from any working directory.
const SITE_CSS: &str = include_str!("../../../static/site.css");

pub async fn site_css() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/css; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(SITE_CSS)
}
