//! Turning a push body into the documents it carries: one interface object or an array of them,
//! each kept as the exact text it was sent as, with its offset in the body so that error
//! locations can be reported in the client's own line and column numbers.

use serde_json::value::RawValue;

use super::issue::Issue;

/// One model document of a push, as the exact text it was pushed as.
#[derive(Clone, Debug)]
pub struct BatchItem<'a> {
    /// Position in the batch (0 for a single-object push).
    pub index: usize,
    /// The exact text of this document.
    pub text: &'a str,
    /// Byte offset of `text` in the body.
    pub offset: usize,
    /// The parsed document.
    pub value: serde_json::Value,
}

/// A parsed push body.
#[derive(Debug)]
pub struct Batch<'a> {
    pub body: &'a str,
    /// Whether the body is an array (locations then start with the element index).
    pub is_array: bool,
    pub items: Vec<BatchItem<'a>>,
}

/// Why a body could not be read as a batch.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error(
        "the request body is not UTF-8 (invalid byte at offset {offset}); send the model as UTF-8 JSON"
    )]
    NotUtf8 { offset: usize },
    #[error("the request body is empty; send one interface object or an array of them")]
    Empty,
    #[error("the request body is not valid JSON: {message} (line {line}, column {column})")]
    InvalidJson {
        message: String,
        line: usize,
        column: usize,
    },
    #[error("the request body is a JSON {found}; send one interface object or an array of them")]
    NotObjectOrArray { found: &'static str },
    #[error("the batch is empty; send at least one interface")]
    EmptyArray,
    #[error(
        "the batch holds {count} models, more than the limit of {max}; split it into smaller pushes"
    )]
    TooManyModels { count: usize, max: usize },
}

impl<'a> Batch<'a> {
    /// Splits `bytes` into its documents; a leading UTF-8 byte order mark is ignored.
    pub fn parse(bytes: &'a [u8], max_models: usize) -> Result<Batch<'a>, BatchError> {
        let body = std::str::from_utf8(bytes).map_err(|e| BatchError::NotUtf8 {
            offset: e.valid_up_to(),
        })?;
        let body = body.strip_prefix('\u{feff}').unwrap_or(body);
        let trimmed = body.trim_start();
        let is_array = match trimmed.chars().next() {
            None => return Err(BatchError::Empty),
            Some('[') => true,
            Some('{') => false,
            Some(_) => {
                // Let serde_json say what is wrong with a non-JSON body, with its position.
                let value: serde_json::Value = serde_json::from_str(body).map_err(json_error)?;
                return Err(BatchError::NotObjectOrArray {
                    found: json_kind(&value),
                });
            }
        };
        let items = if is_array {
            let elements: Vec<&RawValue> = serde_json::from_str(body).map_err(json_error)?;
            if elements.is_empty() {
                return Err(BatchError::EmptyArray);
            }
            if elements.len() > max_models {
                return Err(BatchError::TooManyModels {
                    count: elements.len(),
                    max: max_models,
                });
            }
            elements
                .into_iter()
                .enumerate()
                .map(|(index, raw)| {
                    let offset = offset_in(body, raw.get());
                    // Parsing each element fully also enforces the nesting limit, which the
                    // raw split does not.
                    let value = serde_json::from_str(raw.get())
                        .map_err(|e| json_error_at(body, offset, e))?;
                    Ok(BatchItem {
                        index,
                        text: raw.get(),
                        offset,
                        value,
                    })
                })
                .collect::<Result<Vec<_>, BatchError>>()?
        } else {
            let value = serde_json::from_str(body).map_err(json_error)?;
            vec![BatchItem {
                index: 0,
                text: body,
                offset: 0,
                value,
            }]
        };
        Ok(Batch {
            body,
            is_array,
            items,
        })
    }

    /// Rewrites an issue located inside item `index` to body coordinates: the pointer gains the
    /// array index, and line/column become positions in the body.
    pub fn locate(&self, index: usize, mut issue: Issue) -> Issue {
        let Some(item) = self.items.get(index) else {
            return issue;
        };
        if self.is_array {
            issue.pointer = issue.pointer.map(|p| format!("/{index}{p}"));
        }
        issue.document = Some(index);
        if let (Some(line), Some(column)) = (issue.line, issue.column) {
            let (line, column) = body_position(self.body, item.offset, line, column);
            issue.line = Some(line);
            issue.column = Some(column);
        }
        issue
    }
}

fn json_error(error: serde_json::Error) -> BatchError {
    BatchError::InvalidJson {
        message: strip_position(&error.to_string()),
        line: error.line(),
        column: error.column(),
    }
}

/// A JSON error inside the element that starts at `offset`, in body coordinates.
fn json_error_at(body: &str, offset: usize, error: serde_json::Error) -> BatchError {
    let (line, column) = body_position(body, offset, error.line(), error.column());
    BatchError::InvalidJson {
        message: strip_position(&error.to_string()),
        line,
        column,
    }
}

/// Converts a 1-based line/column inside the text starting at byte `offset` of `body` into a
/// line/column of `body`.
fn body_position(body: &str, offset: usize, line: usize, column: usize) -> (usize, usize) {
    let before = &body[..offset.min(body.len())];
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

/// serde_json appends " at line L column C"; we report the position in separate fields.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
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
        assert!(batch.is_array);
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
            Err(BatchError::NotObjectOrArray { found: "number" })
        ));
        assert!(matches!(Batch::parse(b"  ", 10), Err(BatchError::Empty)));
        assert!(matches!(
            Batch::parse(b"[]", 10),
            Err(BatchError::EmptyArray)
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
}
