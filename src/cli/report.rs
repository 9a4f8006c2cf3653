//! How commands report: issues as `file:line:col: message [code]` lines for people and CI logs,
//! as GitHub workflow annotations (`--format github`), or as one JSON summary (`--format json`)
//! for machines.

use serde::Serialize;

use crate::domain::batch::BatchError;
use crate::domain::issue::Issue;
use crate::repository::publish::PushError;

/// The output format of `push` and `validate`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Lines for people and CI logs: `file:line:col: message [code]`.
    #[default]
    Text,
    /// GitHub Actions annotations (`::error file=…,line=…,col=…::…`) plus the text summary.
    Github,
    /// One JSON document on stdout, nothing else.
    Json,
}

/// The machine summary of a `push` or `validate` run (`--format json`).
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// `ok`, `invalid`, `conflict`, `unauthorized` or `unavailable`.
    pub status: &'static str,
    pub exit_code: u8,
    pub files: usize,
    pub models: usize,
    /// DTMIs stored by this run (push), dependencies first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<Vec<String>>,
    /// DTMIs already stored identically (push).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unchanged: Option<Vec<String>>,
    pub issues: Vec<Issue>,
    /// A failure that is not about one model (network, credentials, limits).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Where an issue is: `file:line:col`, `file`, or the element it is about.
pub fn place(issue: &Issue) -> String {
    match (&issue.file, issue.line, issue.column) {
        (Some(file), Some(line), Some(column)) => format!("{file}:{line}:{column}"),
        (Some(file), _, _) => file.clone(),
        (None, Some(line), Some(column)) => format!("{line}:{column}"),
        _ => issue.element.clone().unwrap_or_else(|| "-".to_owned()),
    }
}

/// Prints issues in `format` (nothing for JSON: they go into the summary).
pub fn print_issues(format: Format, issues: &[Issue]) {
    for issue in issues {
        match format {
            Format::Json => {}
            Format::Text => eprintln!("{}: {} [{}]", place(issue), issue.message, issue.code),
            Format::Github => {
                let mut properties = Vec::new();
                if let Some(file) = &issue.file {
                    properties.push(format!("file={}", escape_property(file)));
                }
                if let Some(line) = issue.line {
                    properties.push(format!("line={line}"));
                }
                if let Some(column) = issue.column {
                    properties.push(format!("col={column}"));
                }
                properties.push(format!("title={}", escape_property(&issue.code)));
                println!(
                    "::error {}::{}",
                    properties.join(","),
                    escape_data(&issue.message)
                );
                eprintln!("{}: {} [{}]", place(issue), issue.message, issue.code);
            }
        }
    }
}

/// GitHub workflow command escaping of a message.
fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// GitHub workflow command escaping of a property value.
fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// The issues a refused push carries, each located in its file; `None` for failures that are
/// not about the models (database or internal errors).
pub fn issues_of(error: &PushError) -> Option<Vec<Issue>> {
    match error {
        PushError::Invalid(issues)
        | PushError::UnknownDependencies(issues)
        | PushError::Conflict(issues) => Some(issues.clone()),
        PushError::Cycle(_) => Some(vec![Issue::repository("cycle", error.to_string())]),
        PushError::Forbidden(_) => Some(vec![Issue::repository("forbidden", error.to_string())]),
        PushError::Batch(batch) => {
            let mut issue = Issue::new("twinhub:unreadableFile", batch.to_string());
            let origin = match batch {
                BatchError::InvalidJson {
                    origin,
                    line,
                    column,
                    message,
                } => {
                    issue.message = format!("not valid JSON: {message}");
                    issue.line = Some(*line);
                    issue.column = Some(*column);
                    Some(origin)
                }
                BatchError::Empty { origin }
                | BatchError::NotObjectOrArray { origin, .. }
                | BatchError::EmptyArray { origin } => Some(origin),
                _ => None,
            };
            issue.file = origin.and_then(|o| o.0.clone());
            Some(vec![issue])
        }
        PushError::Store(_) | PushError::Internal(_) => None,
    }
}

/// Prints the JSON summary on stdout.
pub fn print_summary(summary: &Summary) {
    match serde_json::to_string_pretty(summary) {
        Ok(text) => println!("{text}"),
        Err(error) => eprintln!("twinhub: cannot write the summary: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_annotations_escape_their_properties_and_data() {
        assert_eq!(escape_property("a:b,c"), "a%3Ab%2Cc");
        assert_eq!(escape_data("50%\nnext"), "50%25%0Anext");
    }

    #[test]
    fn places_prefer_file_line_and_column() {
        let mut issue = Issue::new("c", "m").about("dtmi:a:B;1");
        assert_eq!(place(&issue), "dtmi:a:B;1");
        issue.file = Some("x.json".to_owned());
        assert_eq!(place(&issue), "x.json");
        issue.line = Some(3);
        issue.column = Some(7);
        assert_eq!(place(&issue), "x.json:3:7");
    }
}
