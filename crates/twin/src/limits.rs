//! Twin limits and the checks every incoming section value passes before it is applied.
//!
//! The defaults are IoT Hub's: desired and reported 32 KiB each, tags 8 KiB, nesting depth 10,
//! keys 1 KiB, string values 4 KiB, integers within ±2^52. Keys refuse what IoT Hub refuses:
//! control characters (C0 and C1), `.`, `$` and whitespace (the IoT Hub documentation), plus
//! `#`, which the hub reserves internally (IoT Edge's copy of the hub's validator refuses it
//! too); a leading `$` gets its own message because it marks hub-owned names. Section sizes are
//! computed as IoT Hub documents it: each key's and string's UTF-8 bytes (control characters not
//! counted), 8 bytes per number, 4 per boolean, objects and arrays as the sum of their parts;
//! `$version` and `$metadata` do not count.

use serde_json::{Map, Value};

use crate::error::{SectionKind, TwinError, push_token};

/// Largest integer magnitude a twin keeps (IoT Hub: -2^52 ..= 2^52 - 1).
const MAX_SAFE_INTEGER: i64 = 4_503_599_627_370_495;
const MIN_SAFE_INTEGER: i64 = -4_503_599_627_370_496;

/// Size and shape limits of a twin; [`TwinLimits::default`] gives IoT Hub's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TwinLimits {
    /// Largest `properties.desired`, in bytes as IoT Hub counts them.
    pub desired_bytes: usize,
    /// Largest `properties.reported`.
    pub reported_bytes: usize,
    /// Largest `tags`.
    pub tags_bytes: usize,
    /// Deepest nesting of objects and arrays below a section's root.
    pub max_depth: usize,
    /// Longest key, in UTF-8 bytes.
    pub max_key_bytes: usize,
    /// Longest string value, in UTF-8 bytes.
    pub max_string_bytes: usize,
}

impl Default for TwinLimits {
    fn default() -> Self {
        TwinLimits {
            desired_bytes: 32 * 1024,
            reported_bytes: 32 * 1024,
            tags_bytes: 8 * 1024,
            max_depth: 10,
            max_key_bytes: 1024,
            max_string_bytes: 4 * 1024,
        }
    }
}

impl TwinLimits {
    /// The size limit of one section.
    pub fn section_bytes(&self, section: SectionKind) -> usize {
        match section {
            SectionKind::Tags => self.tags_bytes,
            SectionKind::Desired => self.desired_bytes,
            SectionKind::Reported => self.reported_bytes,
        }
    }

    /// Checks keys, nesting, strings and integers of a section value (a patch or a whole
    /// section) without looking at its size.
    pub(crate) fn check_members(
        &self,
        section: SectionKind,
        members: &Map<String, Value>,
    ) -> Result<(), TwinError> {
        self.check_object(members, section.pointer(), 0, false)
    }

    fn check_object(
        &self,
        members: &Map<String, Value>,
        pointer: &str,
        level: usize,
        in_array: bool,
    ) -> Result<(), TwinError> {
        for (key, value) in members {
            let here = push_token(pointer, key);
            self.check_key(key, &here)?;
            self.check_value(value, &here, level, in_array)?;
        }
        Ok(())
    }

    fn check_key(&self, key: &str, pointer: &str) -> Result<(), TwinError> {
        if key.is_empty() {
            return Err(TwinError::EmptyKey {
                pointer: pointer.to_owned(),
            });
        }
        if key.starts_with('$') {
            return Err(TwinError::ReservedKey {
                pointer: pointer.to_owned(),
                key: key.to_owned(),
            });
        }
        if let Some(character) = key.chars().find(|c| is_forbidden_in_key(*c)) {
            return Err(TwinError::InvalidKeyCharacter {
                pointer: pointer.to_owned(),
                key: key.to_owned(),
                character,
            });
        }
        if key.len() > self.max_key_bytes {
            return Err(TwinError::KeyTooLong {
                pointer: pointer.to_owned(),
                bytes: key.len(),
                max: self.max_key_bytes,
            });
        }
        Ok(())
    }

    /// `level` is the nesting level of the container holding `value` (0 for the section).
    fn check_value(
        &self,
        value: &Value,
        pointer: &str,
        level: usize,
        in_array: bool,
    ) -> Result<(), TwinError> {
        match value {
            Value::Null if in_array => Err(TwinError::NullInArray {
                pointer: pointer.to_owned(),
            }),
            Value::Null | Value::Bool(_) => Ok(()),
            Value::Number(n) => {
                let in_range = match (n.as_i64(), n.as_u64()) {
                    (Some(i), _) => (MIN_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(&i),
                    (None, Some(_)) => false,
                    (None, None) => true,
                };
                if in_range {
                    Ok(())
                } else {
                    Err(TwinError::IntegerOutOfRange {
                        pointer: pointer.to_owned(),
                        value: n.to_string(),
                    })
                }
            }
            Value::String(s) if s.len() > self.max_string_bytes => Err(TwinError::StringTooLong {
                pointer: pointer.to_owned(),
                bytes: s.len(),
                max: self.max_string_bytes,
            }),
            Value::String(_) => Ok(()),
            Value::Object(members) => {
                self.check_level(level + 1, pointer)?;
                self.check_object(members, pointer, level + 1, in_array)
            }
            Value::Array(items) => {
                self.check_level(level + 1, pointer)?;
                for (i, item) in items.iter().enumerate() {
                    let here = push_token(pointer, &i.to_string());
                    if item.is_null() {
                        return Err(TwinError::NullInArray { pointer: here });
                    }
                    self.check_value(item, &here, level + 1, true)?;
                }
                Ok(())
            }
        }
    }

    fn check_level(&self, level: usize, pointer: &str) -> Result<(), TwinError> {
        if level > self.max_depth {
            Err(TwinError::TooDeep {
                pointer: pointer.to_owned(),
                max: self.max_depth,
            })
        } else {
            Ok(())
        }
    }

    /// Refuses a section that grew past its limit. A change that shrinks (or keeps) the size
    /// of a section already over a lowered limit is let through, as IoT Hub only refuses
    /// operations that would take a section over the limit.
    pub(crate) fn check_size(
        &self,
        section: SectionKind,
        before: &Map<String, Value>,
        after: &Map<String, Value>,
    ) -> Result<(), TwinError> {
        let max = self.section_bytes(section);
        let bytes = members_size(after);
        if bytes > max && bytes > members_size(before) {
            return Err(TwinError::TooLarge {
                section,
                bytes,
                max,
            });
        }
        Ok(())
    }
}

fn is_forbidden_in_key(c: char) -> bool {
    c.is_control() || c.is_whitespace() || matches!(c, '.' | '$' | '#')
}

/// The size of a section value as IoT Hub counts it.
pub fn members_size(members: &Map<String, Value>) -> usize {
    members
        .iter()
        .map(|(k, v)| text_size(k) + value_size(v))
        .sum()
}

fn value_size(value: &Value) -> usize {
    match value {
        Value::Null => 0,
        Value::Bool(_) => 4,
        Value::Number(_) => 8,
        Value::String(s) => text_size(s),
        Value::Array(items) => items.iter().map(value_size).sum(),
        Value::Object(members) => members_size(members),
    }
}

fn text_size(s: &str) -> usize {
    s.chars()
        .filter(|c| !c.is_control())
        .map(char::len_utf8)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::object as members;
    use serde_json::json;

    fn check(v: Value) -> Result<(), TwinError> {
        TwinLimits::default().check_members(SectionKind::Reported, &members(v))
    }

    #[test]
    fn keys_refuse_what_iot_hub_refuses() {
        for (key, bad) in [
            ("a.b", '.'),
            ("a b", ' '),
            ("a#b", '#'),
            ("a\u{1}", '\u{1}'),
        ] {
            match check(json!({ key: 1 })) {
                Err(TwinError::InvalidKeyCharacter { character, .. }) => assert_eq!(character, bad),
                other => panic!("{key}: {other:?}"),
            }
        }
        assert!(matches!(
            check(json!({"a$b": 1})),
            Err(TwinError::InvalidKeyCharacter { character: '$', .. })
        ));
        assert!(matches!(
            check(json!({"$x": 1})),
            Err(TwinError::ReservedKey { .. })
        ));
        assert!(matches!(
            check(json!({"": 1})),
            Err(TwinError::EmptyKey { .. })
        ));
        assert!(check(json!({"ü-_:;ok": {"__t": "c"}})).is_ok());
    }

    #[test]
    fn key_and_string_lengths_are_bounded_in_bytes() {
        let long_key = "k".repeat(1025);
        assert!(matches!(
            check(json!({ long_key: 1 })),
            Err(TwinError::KeyTooLong { bytes: 1025, .. })
        ));
        assert!(check(json!({ "k".repeat(1024): 1 })).is_ok());
        // 2049 two-byte characters: 4098 bytes.
        let long = "é".repeat(2049);
        match check(json!({"a": {"b": long}})) {
            Err(TwinError::StringTooLong { pointer, bytes, .. }) => {
                assert_eq!(pointer, "/properties/reported/a/b");
                assert_eq!(bytes, 4098);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn depth_ten_is_allowed_and_eleven_refused() {
        let mut ten = json!({"property": "value"});
        for _ in 0..9 {
            ten = json!({ "level": ten });
        }
        assert!(check(json!({ "top": ten.clone() })).is_ok());
        match check(json!({"top": {"extra": ten}})) {
            Err(TwinError::TooDeep { max: 10, pointer }) => assert!(pointer.ends_with("level")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn integers_beyond_two_to_the_52_are_refused() {
        assert!(check(json!({"n": 4_503_599_627_370_495_i64})).is_ok());
        assert!(check(json!({"n": -4_503_599_627_370_496_i64})).is_ok());
        assert!(matches!(
            check(json!({"n": 4_503_599_627_370_496_i64})),
            Err(TwinError::IntegerOutOfRange { .. })
        ));
        assert!(matches!(
            check(json!({"n": u64::MAX})),
            Err(TwinError::IntegerOutOfRange { .. })
        ));
        assert!(check(json!({"n": 1.0e300})).is_ok());
    }

    #[test]
    fn arrays_may_not_hold_null() {
        match check(json!({"a": [1, null]})) {
            Err(TwinError::NullInArray { pointer }) => {
                assert_eq!(pointer, "/properties/reported/a/1");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            check(json!({"a": [{"b": null}]})),
            Err(TwinError::NullInArray { .. })
        ));
        assert!(check(json!({"a": [{"b": 1}, [2, "x"]], "d": null})).is_ok());
    }

    #[test]
    fn sizes_count_as_iot_hub_documents() {
        // "ab"(2) + 8, "c"(1) + 4, "d"(1) + "é\n"(2 bytes; the newline is not counted),
        // "e"(1) + ("f"(1) + 8), "g"(1) + 8 + 8.
        let m = members(json!({"ab": 1, "c": true, "d": "é\n", "e": {"f": 2.5}, "g": [1, 2]}));
        assert_eq!(members_size(&m), 10 + 5 + 3 + 10 + 17);
    }

    #[test]
    fn size_limit_refuses_growth_only() {
        let limits = TwinLimits {
            tags_bytes: 10,
            ..TwinLimits::default()
        };
        let small = members(json!({"a": 1}));
        let big = members(json!({"a": "0123456789"}));
        assert!(matches!(
            limits.check_size(SectionKind::Tags, &small, &big),
            Err(TwinError::TooLarge {
                bytes: 11,
                max: 10,
                ..
            })
        ));
        let smaller = members(json!({"a": "012345678"}));
        assert!(limits.check_size(SectionKind::Tags, &big, &smaller).is_ok());
    }
}
