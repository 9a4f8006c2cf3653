//! A borrowed JSON tree for the parser: strings and member names point into the document
//! text unless they contain escapes, objects keep their members in order in a plain vector
//! (DTDL objects are small, so a scan beats hashing), and nothing is allocated for the many
//! short keys and terms of a model. serde_json's deserializer does the lexing and bounds the
//! nesting depth.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// A JSON number as read.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Num {
    I(i64),
    U(u64),
    F(f64),
}

impl Num {
    pub fn is_i64(&self) -> bool {
        match self {
            Num::I(_) => true,
            Num::U(u) => i64::try_from(*u).is_ok(),
            Num::F(_) => false,
        }
    }

    pub fn is_u64(&self) -> bool {
        matches!(self, Num::U(_)) || matches!(self, Num::I(i) if *i >= 0)
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Num::I(i) => Some(*i),
            Num::U(u) => i64::try_from(*u).ok(),
            Num::F(_) => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        Some(match self {
            Num::I(i) => *i as f64,
            Num::U(u) => *u as f64,
            Num::F(f) => *f,
        })
    }
}

/// A JSON value borrowing from the document text.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Json<'a> {
    Null,
    Bool(bool),
    Number(Num),
    String(Cow<'a, str>),
    Array(Vec<Json<'a>>),
    Object(Obj<'a>),
}

/// A JSON object: members in document order.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Obj<'a>(Vec<(Cow<'a, str>, Json<'a>)>);

impl<'a> Obj<'a> {
    pub fn get(&self, key: &str) -> Option<&Json<'a>> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.as_ref())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Json<'a>)> {
        self.0.iter().map(|(k, v)| (k.as_ref(), v))
    }
}

impl<'b, 'a> IntoIterator for &'b Obj<'a> {
    type Item = (&'b str, &'b Json<'a>);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'b, (Cow<'a, str>, Json<'a>)>,
        fn(&'b (Cow<'a, str>, Json<'a>)) -> (&'b str, &'b Json<'a>),
    >;

    fn into_iter(self) -> Self::IntoIter {
        fn pair<'b, 'a>(e: &'b (Cow<'a, str>, Json<'a>)) -> (&'b str, &'b Json<'a>) {
            (e.0.as_ref(), &e.1)
        }
        self.0.iter().map(pair)
    }
}

impl<'a> Json<'a> {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn is_number(&self) -> bool {
        matches!(self, Json::Number(_))
    }

    /// An owned serde_json value (for undefined extension properties kept in the model).
    pub fn to_value(&self) -> serde_json::Value {
        match self {
            Json::Null => serde_json::Value::Null,
            Json::Bool(b) => serde_json::Value::Bool(*b),
            Json::Number(Num::I(i)) => (*i).into(),
            Json::Number(Num::U(u)) => (*u).into(),
            Json::Number(Num::F(f)) => serde_json::Number::from_f64(*f)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
            Json::String(s) => serde_json::Value::String(s.to_string()),
            Json::Array(a) => serde_json::Value::Array(a.iter().map(Json::to_value).collect()),
            Json::Object(o) => serde_json::Value::Object(
                o.iter()
                    .map(|(k, v)| (k.to_owned(), v.to_value()))
                    .collect(),
            ),
        }
    }
}

impl fmt::Display for Json<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_value())
    }
}

/// A string that borrows from the input when it can.
struct CowStr<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for CowStr<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CowStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de> Deserialize<'de> for Json<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Json<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Json::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Json::Null)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Json::Bool(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Json::Number(Num::I(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Json::Number(Num::U(v)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Json::Number(Num::F(v)))
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Json::String(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Json::String(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Json::String(Cow::Owned(v)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Json::Array(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                // serde_json gives no size hint; most DTDL objects have up to eight members,
                // so starting there spares the regrowth steps from four.
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(8).min(64));
                while let Some(CowStr(key)) = map.next_key()? {
                    let value: Json<'de> = map.next_value()?;
                    members.push((key, value));
                }
                Ok(Json::Object(Obj(members)))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borrows_unescaped_strings_and_keeps_member_order() {
        let text = r#"{"b": "x", "a": ["y\n", 1, -2, 2.5, true, null]}"#;
        let v: Json<'_> = serde_json::from_str(text).expect("json");
        let Json::Object(o) = &v else {
            panic!("object")
        };
        assert_eq!(o.keys().collect::<Vec<_>>(), ["b", "a"]);
        assert!(matches!(o.get("b"), Some(Json::String(Cow::Borrowed("x")))));
        assert!(
            matches!(o.get("a"), Some(Json::Array(a)) if matches!(&a[0], Json::String(Cow::Owned(s)) if s == "y\n"))
        );
        assert_eq!(
            v.to_value(),
            serde_json::from_str::<serde_json::Value>(text).expect("json")
        );
    }
}
