//! Errors in query and condition texts, each with its byte offset and its line and column (both
//! 1-based, columns counted in characters), worded "what was expected at line L, column C:
//! what was found", plus how to fix it where that is not obvious.

use std::fmt;

/// A query or routing condition that cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{kind} at line {line}, column {column}{}", found_suffix(.found))]
pub struct QueryError {
    /// Byte offset into the text.
    pub offset: usize,
    pub line: usize,
    pub column: usize,
    pub kind: QueryErrorKind,
    /// What is at that place (`"end of input"`, `"'FROM'"`, …), when it helps.
    pub found: Option<String>,
}

fn found_suffix(found: &Option<String>) -> String {
    match found {
        Some(f) => format!(": found {f}"),
        None => String::new(),
    }
}

/// What is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueryErrorKind {
    /// Something else was expected here, e.g. "expected FROM".
    Expected(String),
    /// A string literal without its closing quote.
    UnterminatedString,
    /// A backslash escape the language does not have.
    BadEscape(String),
    /// A number that cannot be read.
    BadNumber(String),
    /// A character that starts no token.
    UnexpectedCharacter(char),
    /// A field the documents do not have.
    UnknownField { name: String, hint: String },
    /// A function the language does not have (in this context).
    UnknownFunction { name: String, known: String },
    /// A function called with the wrong number or kind of arguments.
    BadArguments { function: String, expected: String },
    /// A construct the language (or this subset of it) does not support.
    Unsupported(String),
    /// The text is longer than the language allows.
    TooLong { max: usize },
}

impl fmt::Display for QueryErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueryErrorKind::Expected(what) => write!(f, "expected {what}"),
            QueryErrorKind::UnterminatedString => {
                f.write_str("string literal is not closed; end it with the quote it began with")
            }
            QueryErrorKind::BadEscape(e) => write!(
                f,
                "escape '{e}' is not one of \\', \\\", \\\\, \\/, \\b, \\f, \\n, \\r, \\t or \\uXXXX"
            ),
            QueryErrorKind::BadNumber(n) => write!(f, "'{n}' is not a number"),
            QueryErrorKind::UnexpectedCharacter(c) => write!(f, "unexpected character '{c}'"),
            QueryErrorKind::UnknownField { name, hint } => {
                write!(f, "unknown field '{name}'; {hint}")
            }
            QueryErrorKind::UnknownFunction { name, known } => {
                write!(f, "unknown function '{name}' (functions here: {known})")
            }
            QueryErrorKind::BadArguments { function, expected } => {
                write!(f, "{function} takes {expected}")
            }
            QueryErrorKind::Unsupported(what) => write!(f, "{what}"),
            QueryErrorKind::TooLong { max } => {
                write!(f, "the text is longer than the {max} characters allowed")
            }
        }
    }
}

impl QueryError {
    pub(crate) fn at(
        text: &str,
        offset: usize,
        kind: QueryErrorKind,
        found: Option<String>,
    ) -> Self {
        let offset = offset.min(text.len());
        let before = text.get(..offset).unwrap_or(text);
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        QueryError {
            offset,
            line,
            column,
            kind,
            found,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_lines_and_character_columns() {
        let text = "SELECT *\nFROM dévices x";
        let e = QueryError::at(
            text,
            text.find('x').unwrap_or(0),
            QueryErrorKind::Expected("WHERE".into()),
            Some("'x'".into()),
        );
        assert_eq!((e.line, e.column), (2, 14));
        assert_eq!(
            e.to_string(),
            "expected WHERE at line 2, column 14: found 'x'"
        );
    }
}
