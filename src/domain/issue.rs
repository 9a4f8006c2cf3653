//! One problem found in pushed models, in the shape API clients receive it: a code, a message
//! a person can act on, and where the problem is (batch element, JSON pointer, line, column).

use serde::{Deserialize, Serialize};

/// A validation problem in a pushed model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Issue {
    /// `dtmi:dtdl:parsingError:<name>` for DTDL rules, `twinhub:<name>` for repository rules.
    pub code: String,
    /// What is wrong and how to fix it.
    pub message: String,
    /// The element the problem is about (its `@id`, or the identifier the parser generated).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub element: Option<String>,
    /// Index of the model in the push, counting across files (0 for a single object).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document: Option<usize>,
    /// For imports: the file the model came from; pointer, line and column are in that file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// RFC 6901 pointer into the request body (or the file).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    /// 1-based line in the request body (or the file).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// 1-based column in the request body (or the file).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
}

impl Issue {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            element: None,
            document: None,
            file: None,
            pointer: None,
            line: None,
            column: None,
        }
    }

    /// A repository rule (not a DTDL rule) was broken.
    pub fn repository(name: &str, message: impl Into<String>) -> Self {
        Self::new(format!("twinhub:{name}"), message)
    }

    pub fn at(mut self, pointer: impl Into<String>) -> Self {
        self.pointer = Some(pointer.into());
        self
    }

    pub fn about(mut self, element: impl Into<String>) -> Self {
        self.element = Some(element.into());
        self
    }

    pub fn position(mut self, line: usize, column: usize) -> Self {
        self.line = Some(line);
        self.column = Some(column);
        self
    }
}

impl From<&dtdl::ParsingError> for Issue {
    fn from(error: &dtdl::ParsingError) -> Self {
        let mut issue = Issue::new(error.validation_id.clone(), error.to_string());
        issue.element = error.primary_id.clone();
        if let Some(location) = &error.location {
            issue.pointer = Some(location.pointer.clone());
            issue.line = Some(location.line);
            issue.column = Some(location.column);
        }
        issue
    }
}
