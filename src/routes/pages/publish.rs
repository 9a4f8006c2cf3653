//! Publishing from the browser: paste JSON or upload files (several, or a zip of them); the
//! push is checked exactly as the API checks it, problems are shown next to the offending
//! line, and a preview shows each new model's diff against its previous version before it is
//! published.

use std::io::Read;

use actix_multipart::Multipart;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use futures_util::StreamExt;

use super::{Chrome, check_form, model_path, see_other};
use crate::auth::Caller;
use crate::authz::Authz;
use crate::domain::batch::Batch;
use crate::domain::diff::Diff;
use crate::domain::issue::Issue;
use crate::http::Site;
use crate::http::error::ApiError;
use crate::repository::publish::{Publisher, PushError, Rules};
use crate::routes::pages::error::PageError;

/// The name a pasted document gets in messages.
const PASTED: &str = "pasted JSON";

/// One line of a submitted file, with the problems found on it.
pub struct Line {
    pub number: usize,
    pub text: String,
    pub issues: Vec<String>,
}

/// A submitted file as shown back: its lines when something in it is wrong.
pub struct SourceView {
    pub name: String,
    /// Sent again with the next submit (uploads; the pasted text travels in its textarea).
    pub carry: bool,
    pub content: String,
    pub lines: Vec<Line>,
}

/// The preview of one model.
pub struct PreviewView {
    pub dtmi: String,
    pub link: String,
    /// The page of the version it is compared with.
    pub from_link: String,
    pub unchanged: bool,
    pub diff: Option<Diff>,
}

#[derive(Template)]
#[template(path = "publish.html")]
pub struct PublishPage {
    chrome: Chrome,
    pasted: String,
    sources: Vec<SourceView>,
    problem: Option<String>,
    /// Problems without a line (e.g. about a whole push).
    general: Vec<String>,
    previews: Vec<PreviewView>,
    can_publish: bool,
}

impl PublishPage {
    fn empty(request: &HttpRequest, caller: &Caller) -> Self {
        Self {
            chrome: Chrome::new(request, caller),
            pasted: String::new(),
            sources: Vec::new(),
            problem: None,
            general: Vec::new(),
            previews: Vec::new(),
            can_publish: false,
        }
    }
}

pub async fn form(request: HttpRequest, caller: Caller) -> Result<HttpResponse, PageError> {
    if let Some(redirect) = super::sign_in_first(&request, &caller) {
        return Ok(redirect);
    }
    render(
        PublishPage::empty(&request, &caller),
        actix_web::http::StatusCode::OK,
    )
}

/// What the form sent: files by name, whether to publish or preview, and its CSRF token.
struct Submission {
    files: Vec<(String, String)>,
    publish: bool,
    csrf_token: String,
}

pub async fn submit(
    request: HttpRequest,
    caller: Caller,
    payload: Multipart,
    authz: web::Data<Authz>,
    publisher: web::Data<Publisher>,
    site: web::Data<Site>,
) -> Result<HttpResponse, PageError> {
    let submission = read_form(payload, site.max_body_bytes).await?;
    check_form(&caller, &submission.csrf_token)?;
    // Previews diff against stored versions, so they need the same rights as a push.
    let access = authz.push_access(&caller)?;
    let mut page = PublishPage::empty(&request, &caller);
    if submission.files.is_empty() {
        page.problem = Some("Nothing to publish: paste a model or choose files.".to_owned());
        return render(page, actix_web::http::StatusCode::BAD_REQUEST);
    }
    page.pasted = submission
        .files
        .iter()
        .find(|(name, _)| name == PASTED)
        .map(|(_, text)| text.clone())
        .unwrap_or_default();
    page.sources = submission
        .files
        .iter()
        .filter(|(name, _)| name != PASTED)
        .map(|(name, content)| SourceView {
            name: name.clone(),
            carry: true,
            content: content.clone(),
            lines: Vec::new(),
        })
        .collect();
    let batch = match Batch::from_files(&submission.files, publisher.policy().max_models) {
        Ok(batch) => batch,
        Err(error) => return refused(page, &submission.files, PushError::from(error)),
    };
    if submission.publish {
        let actor = caller.actor();
        return match publisher.push(batch, access, &actor, Rules::PUSH).await {
            Ok(outcome) => {
                if !outcome.created.is_empty() {
                    tracing::info!(models.created = outcome.created.len(), principal = %actor.name, "models published from a page");
                }
                // The last model stored is the one the others lead up to (dependencies first).
                let target = outcome
                    .created
                    .last()
                    .or(outcome.unchanged.first())
                    .map(|d| format!("{}?done=published", model_path(d)))
                    .unwrap_or_else(|| "/search".to_owned());
                Ok(see_other(&target))
            }
            Err(error) => refused(page, &submission.files, error),
        };
    }
    match publisher.preview(batch, access).await {
        Ok(items) => {
            page.can_publish = items.iter().any(|i| !i.unchanged);
            page.previews = items
                .into_iter()
                .map(|i| PreviewView {
                    link: model_path(&i.dtmi),
                    from_link: i
                        .diff
                        .as_ref()
                        .map(|d| model_path(&d.from))
                        .unwrap_or_default(),
                    dtmi: i.dtmi,
                    unchanged: i.unchanged,
                    diff: i.diff,
                })
                .collect();
            render(page, actix_web::http::StatusCode::OK)
        }
        Err(error) => refused(page, &submission.files, error),
    }
}

/// Shows why a push was refused: each issue beside its line, the rest above.
fn refused(
    mut page: PublishPage,
    files: &[(String, String)],
    error: PushError,
) -> Result<HttpResponse, PageError> {
    let error = ApiError::from(error);
    if error.status().is_server_error() {
        return Err(error.into());
    }
    let status = error.status();
    page.problem = Some(error.detail().to_owned());
    let issues: Vec<Issue> = error.errors().to_vec();
    let mut placed = vec![false; issues.len()];
    page.sources = files
        .iter()
        .map(|(name, content)| {
            let lines = content
                .lines()
                .enumerate()
                .map(|(i, text)| {
                    let number = i + 1;
                    let on_line: Vec<String> = issues
                        .iter()
                        .enumerate()
                        .filter(|(_, issue)| {
                            issue.line == Some(number)
                                && issue.file.as_deref().unwrap_or(PASTED) == name
                        })
                        .map(|(k, issue)| {
                            placed[k] = true;
                            describe(issue)
                        })
                        .collect();
                    Line {
                        number,
                        text: text.to_owned(),
                        issues: on_line,
                    }
                })
                .collect();
            SourceView {
                carry: name != PASTED,
                name: name.clone(),
                content: content.clone(),
                lines,
            }
        })
        .collect();
    page.general = issues
        .iter()
        .zip(placed)
        .filter(|(_, placed)| !placed)
        .map(|(issue, _)| describe(issue))
        .collect();
    if page.general.is_empty() && issues.is_empty() {
        page.general.push(error.detail().to_owned());
    }
    render(page, status)
}

fn describe(issue: &Issue) -> String {
    let mut text = issue.message.clone();
    if let Some(column) = issue.column {
        text = format!("column {column}: {text}");
    }
    format!("{text} [{}]", issue.code)
}

fn render(
    page: PublishPage,
    status: actix_web::http::StatusCode,
) -> Result<HttpResponse, PageError> {
    let body = page.render().map_err(ApiError::unexpected)?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body))
}

/// Reads the multipart form: `content` (pasted text), `files` (uploads; `.zip` files are
/// unpacked to their `.json` entries), `file:NAME` (files carried over from a preview) and
/// `action` (`preview` or `publish`). The whole form is limited to `limit` bytes.
async fn read_form(mut payload: Multipart, limit: usize) -> Result<Submission, ApiError> {
    let mut files = Vec::new();
    let mut publish = false;
    let mut csrf_token = String::new();
    let mut total = 0usize;
    while let Some(field) = payload.next().await {
        let mut field = field.map_err(|e| {
            ApiError::bad_request("invalid-form", format!("the form could not be read: {e}"))
        })?;
        let name = field.name().unwrap_or_default().to_owned();
        let filename = field
            .content_disposition()
            .and_then(|d| d.get_filename())
            .map(str::to_owned);
        let mut bytes = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|e| {
                ApiError::bad_request("invalid-form", format!("the form could not be read: {e}"))
            })?;
            total += chunk.len();
            if total > limit {
                return Err(ApiError::payload_too_large(limit));
            }
            bytes.extend_from_slice(&chunk);
        }
        let text = |bytes: Vec<u8>, what: &str| {
            String::from_utf8(bytes).map_err(|_| {
                ApiError::bad_request(
                    "invalid-form",
                    format!("{what} is not UTF-8 text; models are JSON files"),
                )
            })
        };
        match name.as_str() {
            "action" => publish = bytes == b"publish",
            "csrf_token" => csrf_token = String::from_utf8_lossy(&bytes).into_owned(),
            "content" => {
                let content = text(bytes, "the pasted text")?;
                if !content.trim().is_empty() {
                    files.push((PASTED.to_owned(), content));
                }
            }
            "files" => {
                let Some(filename) = filename.filter(|f| !f.is_empty()) else {
                    continue;
                };
                if bytes.is_empty() {
                    continue;
                }
                if filename.to_ascii_lowercase().ends_with(".zip") {
                    files.extend(unzip(&filename, bytes, limit)?);
                } else {
                    files.push((filename.clone(), text(bytes, &filename)?));
                }
            }
            carried if carried.starts_with("file:") => {
                let filename = carried.trim_start_matches("file:").to_owned();
                let content = text(bytes, &filename)?;
                files.push((filename, content));
            }
            _ => {}
        }
    }
    Ok(Submission {
        files,
        publish,
        csrf_token,
    })
}

/// The `.json` entries of a zip file, named `archive.zip/path/in/archive.json`.
fn unzip(name: &str, bytes: Vec<u8>, limit: usize) -> Result<Vec<(String, String)>, ApiError> {
    let bad = |detail: String| ApiError::bad_request("invalid-zip", detail);
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| bad(format!("{name} is not a readable zip file: {e}")))?;
    let mut files = Vec::new();
    let mut total = 0u64;
    for i in 0..archive.len() {
        let mut entry = archive
            .by_index(i)
            .map_err(|e| bad(format!("{name}: entry {i} cannot be read: {e}")))?;
        let path = entry
            .name()
            .map_err(|e| bad(format!("{name}: entry {i} has an unreadable name: {e}")))?
            .into_owned();
        if !entry.is_file() || !path.to_ascii_lowercase().ends_with(".json") {
            continue;
        }
        let entry_name = format!("{name}/{path}");
        // The declared size can lie: read at most what is left of the limit, plus one byte.
        let room = (limit as u64).saturating_sub(total);
        let mut text = String::new();
        (&mut entry)
            .take(room + 1)
            .read_to_string(&mut text)
            .map_err(|e| bad(format!("{entry_name} is not UTF-8 text: {e}")))?;
        total += text.len() as u64;
        if total > limit as u64 {
            return Err(ApiError::payload_too_large(limit));
        }
        files.push((entry_name, text));
    }
    if files.is_empty() {
        return Err(bad(format!("{name} holds no .json files")));
    }
    Ok(files)
}
