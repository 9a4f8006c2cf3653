//! `twinhub openapi`: prints the OpenAPI document of the HTTP API (the source of
//! `openapi/openapi.json`).

use std::process::ExitCode;

/// Prints the document as JSON on stdout.
pub fn run() -> ExitCode {
    println!("{}", crate::openapi::document_json());
    ExitCode::SUCCESS
}
