//! Entity tags as IoT Hub writes them, and `If-Match` headers.
//!
//! IoT Hub's twin etags are the base64 of a 64-bit big-endian counter (`"AAAAAAAAAAc="` is 7);
//! twinhub does the same with a counter that moves whenever tags or desired properties change,
//! so clients that compare or echo etags see the familiar shape. `If-Match` takes `*`, one etag
//! or a comma-separated list, each quoted or not, weak (`W/`) or not (the comparison is the same:
//! twins have no weak representations).

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// An IoT Hub-style entity tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Etag(u64);

impl Etag {
    /// The etag of a counter value.
    pub fn from_counter(counter: u64) -> Etag {
        Etag(counter)
    }

    /// The counter the etag encodes.
    pub fn counter(&self) -> u64 {
        self.0
    }

    /// The value of an HTTP `ETag` header: the etag in double quotes.
    pub fn header_value(&self) -> String {
        format!("\"{self}\"")
    }
}

impl fmt::Display for Etag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&STANDARD.encode(self.0.to_be_bytes()))
    }
}

/// Text that is not an etag twinhub issued.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "'{text}' is not a twin etag; use the etag value of the twin as read (e.g. \"AAAAAAAAAAE=\")"
)]
pub struct EtagError {
    pub text: String,
}

impl FromStr for Etag {
    type Err = EtagError;

    /// Parses an etag, with or without its double quotes.
    fn from_str(s: &str) -> Result<Etag, EtagError> {
        let bare = unquote(s.trim());
        let bytes = STANDARD
            .decode(bare)
            .map_err(|_| EtagError { text: s.into() })?;
        let bytes: [u8; 8] = bytes.try_into().map_err(|_| EtagError { text: s.into() })?;
        Ok(Etag(u64::from_be_bytes(bytes)))
    }
}

/// A parsed `If-Match` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IfMatch {
    /// `*`: any current version.
    Any,
    /// The listed etags, as sent (without quotes and `W/`). They need not be etags twinhub
    /// issued: one that is not simply never matches.
    Tags(Vec<String>),
}

/// An `If-Match` header that cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "If-Match header '{header}' is not '*' or a list of etags; send the twin's etag as read, \
     e.g. If-Match: \"AAAAAAAAAAE=\", or '*' to update whatever the current version is"
)]
pub struct IfMatchError {
    pub header: String,
}

impl IfMatch {
    /// Reads an `If-Match` header value.
    pub fn parse(header: &str) -> Result<IfMatch, IfMatchError> {
        let err = || IfMatchError {
            header: header.to_owned(),
        };
        let mut tags = Vec::new();
        for item in header.split(',') {
            let item = item.trim();
            let item = item.strip_prefix("W/").unwrap_or(item);
            if item == "*" || item == "\"*\"" {
                return Ok(IfMatch::Any);
            }
            let quoted = item.len() >= 2 && item.starts_with('"') && item.ends_with('"');
            let bare = if quoted {
                &item[1..item.len() - 1]
            } else {
                item
            };
            if bare.is_empty() || bare.contains('"') || bare.chars().any(char::is_whitespace) {
                return Err(err());
            }
            tags.push(bare.to_owned());
        }
        Ok(IfMatch::Tags(tags))
    }

    /// Whether the precondition holds for a twin whose etag is `current`.
    pub fn matches(&self, current: &Etag) -> bool {
        match self {
            IfMatch::Any => true,
            IfMatch::Tags(tags) => {
                let current = current.to_string();
                tags.contains(&current)
            }
        }
    }
}

fn unquote(s: &str) -> &str {
    s.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_look_like_iot_hub_ones() {
        assert_eq!(Etag::from_counter(1).to_string(), "AAAAAAAAAAE=");
        assert_eq!(Etag::from_counter(7).to_string(), "AAAAAAAAAAc=");
        assert_eq!(Etag::from_counter(7).header_value(), "\"AAAAAAAAAAc=\"");
    }

    #[test]
    fn etags_parse_back_with_or_without_quotes() {
        for e in [0, 1, 255, u64::MAX] {
            let tag = Etag::from_counter(e);
            assert_eq!(tag.to_string().parse::<Etag>(), Ok(tag));
            assert_eq!(tag.header_value().parse::<Etag>(), Ok(tag));
        }
        assert!("AAAA".parse::<Etag>().is_err());
        assert!("not base64!".parse::<Etag>().is_err());
    }

    #[test]
    fn if_match_reads_star_lists_and_weak_tags() {
        assert_eq!(IfMatch::parse("*"), Ok(IfMatch::Any));
        assert_eq!(IfMatch::parse("\"*\""), Ok(IfMatch::Any));
        let current = Etag::from_counter(3);
        let list = IfMatch::parse("\"AAAAAAAAAAE=\", W/\"AAAAAAAAAAM=\"").expect("list");
        assert!(list.matches(&current));
        assert!(!list.matches(&Etag::from_counter(2)));
        assert!(
            IfMatch::parse("AAAAAAAAAAM=")
                .expect("bare")
                .matches(&current)
        );
        assert!(
            !IfMatch::parse("\"garbage\"")
                .expect("any text")
                .matches(&current)
        );
        assert!(IfMatch::parse("").is_err());
        assert!(IfMatch::parse("\"a\"b\"").is_err());
    }
}
