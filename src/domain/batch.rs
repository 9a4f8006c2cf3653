//! Turning pushed text into the model documents it carries. A push is one request body (one
//! interface object or an array of them) or a set of files (each an object or an array, as
//! `dmr-client import` accepts them). Every document keeps the exact text it was sent as and its
//! offset in its source, so error locations come out in the client's own lines and columns.

use std::fmt;

use serde_json::value::RawValue;

use super::issue::Issue;

/// Where a batch's documents came from: the request body, or one imported file.
#[derive(Clone, Debug)]
pub struct Source<'a> {
    /// The file's path for imports; `None` for the request body.
    pub name: Option<&'a str>,
    pub text: &'a str,
    /// Whether the source is an array (pointers then start with the element index).
    pub is_array: bool,
}

/// One model document of a push, as the exact text it was pushed as.
#[derive(Clone, Debug)]
pub struct BatchItem<'a> {
    /// Position in the batch, counting across all sources.
    pub index: usize,
    /// Index of the source in [`Batch::sources`].
    pub source: usize,
    /// Position within its source (0 for a single object).
    pub position: usize,
    /// The exact text of this document.
    pub text: &'a str,
    /// Byte offset of `text` in its source.
    pub offset: usize,
    /// The parsed document.
    pub value: serde_json::Value,
}

/// The documents of one push.
#[derive(Debug, Default)]
pub struct Batch<'a> {
    pub sources: Vec<Source<'a>>,
    pub items: Vec<BatchItem<'a>>,
}

/// Names the source of a problem in messages: "the request body" or "file x.json".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin(pub Option<String>);

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            None => f.write_str("the request body"),
            Some(name) => write!(f, "file {name}"),
        }
    }
}

/// Why pushed text could not be read as a batch.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error(
        "the request body is not UTF-8 (invalid byte at offset {offset}); send the model as UTF-8 JSON"
    )]
    NotUtf8 { offset: usize },
    #[error("{origin} is empty; send one interface object or an array of them")]
    Empty { origin: Origin },
    #[error("{origin} is not valid JSON: {message} (line {line}, column {column})")]
    InvalidJson {
        origin: Origin,
        message: String,
        line: usize,
        column: usize,
    },
    #[error("{origin} is a JSON {found}; send one interface object or an array of them")]
    NotObjectOrArray { origin: Origin, found: &'static str },
    #[error("{origin} is an empty array; send at least one interface")]
    EmptyArray { origin: Origin },
    #[error("the push holds no files; send at least one")]
    NoFiles,
    #[error(
        "the push holds {count} models, more than the limit of {max}; split it into smaller pushes"
    )]
    TooManyModels { count: usize, max: usize },
}

impl<'a> Batch<'a> {
    /// Reads a request body; a leading UTF-8 byte order mark is ignored.
    pub fn parse(bytes: &'a [u8], max_models: usize) -> Result<Batch<'a>, BatchError> {
        let body = std::str::from_utf8(bytes).map_err(|e| BatchError::NotUtf8 {
            offset: e.valid_up_to(),
        })?;
        let mut batch = Batch::default();
        batch.add_source(None, body, max_models)?;
        Ok(batch)
    }

    /// Reads imported files, each an interface object or an array of them, as one batch.
    pub fn from_files(
        files: &'a [(String, String)],
        max_models: usize,
    ) -> Result<Batch<'a>, BatchError> {
        if files.is_empty() {
            return Err(BatchError::NoFiles);
        }
        let mut batch = Batch::default();
        for (name, text) in files {
            batch.add_source(Some(name), text, max_models)?;
        }
        Ok(batch)
    }

    fn add_source(
        &mut self,
        name: Option<&'a str>,
        text: &'a str,
        max_models: usize,
    ) -> Result<(), BatchError> {
        let origin = || Origin(name.map(str::to_owned));
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let source = self.sources.len();
        let is_array = match text.trim_start().chars().next() {
            None => return Err(BatchError::Empty { origin: origin() }),
            Some('[') => true,
            Some('{') => false,
            Some(_) => {
                // Let serde_json say what is wrong with a non-JSON text, with its position.
                let value: serde_json::Value =
                    serde_json::from_str(text).map_err(|e| json_error(origin(), text, 0, e))?;
                return Err(BatchError::NotObjectOrArray {
                    origin: origin(),
                    found: json_kind(&value),
                });
            }
        };
        let documents: Vec<(&'a str, usize)> = if is_array {
            let elements: Vec<&'a RawValue> =
                serde_json::from_str(text).map_err(|e| json_error(origin(), text, 0, e))?;
            if elements.is_empty() {
                return Err(BatchError::EmptyArray { origin: origin() });
            }
            elements
                .into_iter()
                .map(|raw| (raw.get(), offset_in(text, raw.get())))
                .collect()
        } else {
            vec![(text, 0)]
        };
        let count = self.items.len() + documents.len();
        if count > max_models {
            return Err(BatchError::TooManyModels {
                count,
                max: max_models,
            });
        }
        for (position, (document, offset)) in documents.into_iter().enumerate() {
            // Parsing each document fully also enforces the nesting limit, which the raw split
            // of an array does not.
            let value = serde_json::from_str(document)
                .map_err(|e| json_error(origin(), text, offset, e))?;
            self.items.push(BatchItem {
                index: self.items.len(),
                source,
                position,
                text: document,
                offset,
                value,
            });
        }
        self.sources.push(Source {
            name,
            text,
            is_array,
        });
        Ok(())
    }

    /// Rewrites an issue located inside item `index` to source coordinates: the pointer gains
    /// the array index, line/column become positions in the source, and imports name the file.
    pub fn locate(&self, index: usize, mut issue: Issue) -> Issue {
        let Some(item) = self.items.get(index) else {
            return issue;
        };
        let Some(source) = self.sources.get(item.source) else {
            return issue;
        };
        if source.is_array {
            issue.pointer = issue.pointer.map(|p| format!("/{}{p}", item.position));
        }
        issue.document = Some(index);
        issue.file = source.name.map(str::to_owned);
        if let (Some(line), Some(column)) = (issue.line, issue.column) {
            let (line, column) = source_position(source.text, item.offset, line, column);
            issue.line = Some(line);
            issue.column = Some(column);
        }
        issue
    }
}

/// A JSON error inside the document that starts at byte `offset` of `text`, in `text`'s
/// coordinates.
fn json_error(origin: Origin, text: &str, offset: usize, error: serde_json::Error) -> BatchError {
    let (line, column) = source_position(text, offset, error.line(), error.column());
    let message = error.to_string();
    // serde_json appends " at line L column C"; the position has its own fields.
    let message = match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message,
    };
    BatchError::InvalidJson {
        origin,
        message,
        line,
        column,
    }
}

/// Converts a 1-based line/column inside the document starting at byte `offset` of `text` into
/// a line/column of `text`.
fn source_position(text: &str, offset: usize, line: usize, column: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let start_line = before.matches('\n').count() + 1;
    let start_column = before
        .rsplit_once('\n')
        .map_or(before, |(_, last)| last)
        .chars()
        .count()
        + 1;
    if line <= 1 {
        (start_line, start_column + column.saturating_sub(1))
    } else {
        (start_line + line - 1, column)
    }
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

/// Byte offset of `part`, a slice borrowed from `whole`, within `whole`.
fn offset_in(whole: &str, part: &str) -> usize {
    (part.as_ptr() as usize).saturating_sub(whole.as_ptr() as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_array_keeps_each_element_text_exactly() {
        let body = "[ {\"a\":1} ,\n  {\"b\" : [1, 2]}\n]";
        let batch = Batch::parse(body.as_bytes(), 10).expect("valid batch");
        assert!(batch.sources[0].is_array);
        let texts: Vec<&str> = batch.items.iter().map(|i| i.text).collect();
        assert_eq!(texts, ["{\"a\":1}", "{\"b\" : [1, 2]}"]);
        assert_eq!(batch.items[1].offset, body.find("{\"b\"").expect("present"));
    }

    #[test]
    fn a_single_object_is_kept_whole_without_its_byte_order_mark() {
        let body = "\u{feff}{\"a\": 1}\n";
        let batch = Batch::parse(body.as_bytes(), 10).expect("valid");
        assert_eq!(batch.items.len(), 1);
        assert_eq!(batch.items[0].text, "{\"a\": 1}\n");
    }

    #[test]
    fn invalid_json_reports_line_and_column() {
        let error = Batch::parse(b"{\n  \"a\": 1,\n  oops\n}", 10).expect_err("invalid");
        match error {
            BatchError::InvalidJson { line, column, .. } => assert_eq!((line, column), (3, 3)),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn bodies_that_are_not_models_are_refused_with_their_kind() {
        assert!(matches!(
            Batch::parse(b"42", 10),
            Err(BatchError::NotObjectOrArray {
                found: "number",
                ..
            })
        ));
        assert!(matches!(
            Batch::parse(b"  ", 10),
            Err(BatchError::Empty { .. })
        ));
        assert!(matches!(
            Batch::parse(b"[]", 10),
            Err(BatchError::EmptyArray { .. })
        ));
        assert!(matches!(
            Batch::parse(&[0xff, 0xfe], 10),
            Err(BatchError::NotUtf8 { offset: 0 })
        ));
        assert!(matches!(
            Batch::parse(b"[{},{},{}]", 2),
            Err(BatchError::TooManyModels { count: 3, max: 2 })
        ));
    }

    #[test]
    fn deep_nesting_is_refused_without_exhausting_the_stack() {
        let depth = 100_000;
        let body = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let error = Batch::parse(body.as_bytes(), 10).expect_err("too deep");
        assert!(error.to_string().contains("recursion limit"), "{error}");
    }

    #[test]
    fn issues_inside_an_element_are_moved_to_body_coordinates() {
        let body = "[\n  {\"a\": 1},\n  {\n    \"b\": 2\n  }\n]";
        let batch = Batch::parse(body.as_bytes(), 10).expect("valid");
        let issue = Issue {
            pointer: Some("/b".to_owned()),
            line: Some(2),
            column: Some(5),
            ..Issue::new("code", "message")
        };
        let located = batch.locate(1, issue);
        assert_eq!(located.pointer.as_deref(), Some("/1/b"));
        assert_eq!((located.line, located.column), (Some(4), Some(5)));
        let first_line = batch.locate(
            0,
            Issue {
                line: Some(1),
                column: Some(2),
                ..Issue::new("code", "message")
            },
        );
        assert_eq!((first_line.line, first_line.column), (Some(2), Some(4)));
    }

    #[test]
    fn imported_files_keep_their_bytes_and_name_themselves_in_issues() {
        let files = vec![
            ("a.json".to_owned(), "{\"a\": 1}\n".to_owned()),
            (
                "many.json".to_owned(),
                "[\n  {\"b\": 1},\n  {\"c\": 2}\n]\n".to_owned(),
            ),
        ];
        let batch = Batch::from_files(&files, 10).expect("valid files");
        let texts: Vec<&str> = batch.items.iter().map(|i| i.text).collect();
        assert_eq!(texts, ["{\"a\": 1}\n", "{\"b\": 1}", "{\"c\": 2}"]);
        let issue = batch.locate(
            2,
            Issue {
                pointer: Some("/c".to_owned()),
                line: Some(1),
                column: Some(2),
                ..Issue::new("code", "message")
            },
        );
        assert_eq!(issue.file.as_deref(), Some("many.json"));
        assert_eq!(issue.pointer.as_deref(), Some("/1/c"));
        assert_eq!((issue.line, issue.column), (Some(3), Some(4)));
        let error =
            Batch::from_files(&[("bad.json".to_owned(), "{".to_owned())], 10).expect_err("invalid");
        assert!(
            error
                .to_string()
                .starts_with("file bad.json is not valid JSON"),
            "{error}"
        );
    }
}
