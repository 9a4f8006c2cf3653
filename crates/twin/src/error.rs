//! Why a twin change was refused. Every [`TwinError`] names the place in the twin (an RFC 6901
//! pointer from the twin document's root, e.g. `/properties/reported/thermostat1/x`), what was
//! wrong and how to fix it; the wording lives here, in `Display`.

use std::fmt;

/// The three writable sections of a twin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SectionKind {
    Tags,
    Desired,
    Reported,
}

impl SectionKind {
    /// The section's pointer from the root of the REST twin document.
    pub fn pointer(self) -> &'static str {
        match self {
            SectionKind::Tags => "/tags",
            SectionKind::Desired => "/properties/desired",
            SectionKind::Reported => "/properties/reported",
        }
    }
}

impl fmt::Display for SectionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SectionKind::Tags => "tags",
            SectionKind::Desired => "properties.desired",
            SectionKind::Reported => "properties.reported",
        })
    }
}

/// A refused twin change. Nothing of the twin changed when one is returned.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TwinError {
    #[error(
        "{section} must be a JSON object, not {found}; send an object such as {{\"name\": value}}"
    )]
    NotAnObject {
        section: SectionKind,
        found: &'static str,
    },
    #[error(
        "key '{key}' at {pointer} is reserved: names starting with '$' belong to the hub \
         ($metadata, $version); rename the key"
    )]
    ReservedKey { pointer: String, key: String },
    #[error(
        "key '{key}' at {pointer} contains {}, which twin keys may not contain \
         (no '.', '$', '#', whitespace or control characters); rename the key",
        describe_char(*character)
    )]
    InvalidKeyCharacter {
        pointer: String,
        key: String,
        character: char,
    },
    #[error("the empty key at {pointer} is not allowed; give the property a name")]
    EmptyKey { pointer: String },
    #[error(
        "key at {pointer} is {bytes} bytes long; twin keys may be at most {max} bytes (UTF-8), \
         shorten it"
    )]
    KeyTooLong {
        pointer: String,
        bytes: usize,
        max: usize,
    },
    #[error(
        "string at {pointer} is {bytes} bytes long; twin strings may be at most {max} bytes \
         (UTF-8), shorten it or split it over several properties"
    )]
    StringTooLong {
        pointer: String,
        bytes: usize,
        max: usize,
    },
    #[error(
        "value at {pointer} nests deeper than {max} levels, the most a twin section allows; \
         flatten the structure"
    )]
    TooDeep { pointer: String, max: usize },
    #[error(
        "integer {value} at {pointer} is outside the range twins store exactly \
         (-4503599627370496 to 4503599627370495); send a smaller number or a string"
    )]
    IntegerOutOfRange { pointer: String, value: String },
    #[error("array at {pointer} contains null, which twins do not store in arrays; remove it")]
    NullInArray { pointer: String },
    #[error(
        "{section} would be {bytes} bytes after this change, over its limit of {max} bytes; \
         remove or shorten properties (keys and string values count their UTF-8 bytes, numbers 8 \
         and booleans 4)"
    )]
    TooLarge {
        section: SectionKind,
        bytes: usize,
        max: usize,
    },
    #[error(
        "a digital twin patch must be a JSON Patch array such as \
         [{{\"op\": \"add\", \"path\": \"/component/property\", \"value\": 21}}], not {found}"
    )]
    NotAPatchDocument { found: &'static str },
    /// A digital-twin JSON Patch could not be turned into a desired-properties patch.
    #[error("digital twin patch operation {index}: {reason}")]
    DigitalTwinPatch { index: usize, reason: String },
}

fn describe_char(c: char) -> String {
    if c.is_control() {
        format!("the control character U+{:04X}", u32::from(c))
    } else if c.is_whitespace() {
        format!("whitespace (U+{:04X})", u32::from(c))
    } else {
        format!("'{c}'")
    }
}

/// Appends one RFC 6901 reference token to `pointer`.
pub(crate) fn push_token(pointer: &str, token: &str) -> String {
    let mut out = String::with_capacity(pointer.len() + token.len() + 1);
    out.push_str(pointer);
    out.push('/');
    for c in token.chars() {
        match c {
            '~' => out.push_str("~0"),
            '/' => out.push_str("~1"),
            c => out.push(c),
        }
    }
    out
}

/// The JSON kind of a value, for messages.
pub(crate) fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_tokens_are_escaped() {
        assert_eq!(push_token("/tags", "a/b~c"), "/tags/a~1b~0c");
    }

    #[test]
    fn invalid_key_messages_name_the_character() {
        let e = TwinError::InvalidKeyCharacter {
            pointer: "/tags/a b".into(),
            key: "a b".into(),
            character: ' ',
        };
        assert!(e.to_string().contains("whitespace (U+0020)"), "{e}");
        let e = TwinError::InvalidKeyCharacter {
            pointer: "/tags/a.b".into(),
            key: "a.b".into(),
            character: '.',
        };
        assert!(e.to_string().contains("contains '.'"), "{e}");
    }
}
