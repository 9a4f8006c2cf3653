//! Digital Twin Modeling Identifiers (DTMIs): parsing, accessors, ordering and the mapping
//! between DTMIs and paths in a DMR (device model repository) folder tree.
//!
//! The syntax is the generic one of the DTMI specification (version optional, one- or two-part,
//! system segments starting with `_`, optional fragment). Stricter per-DTDL-version rules for
//! element identifiers are applied by the parser, not here.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Longest DTMI accepted at all (system DTMIs); user DTMIs are limited to 2048 characters.
const MAX_LENGTH: usize = 4096;
/// Longest user (non-system) DTMI.
const MAX_USER_LENGTH: usize = 2048;

/// Why a string is not a DTMI.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DtmiError {
    #[error("a DTMI must start with the scheme `dtmi:`")]
    Scheme,
    #[error(
        "a DTMI path segment must be non-empty, start with a letter or `_`, contain only letters, digits and `_`, and not end with `_`"
    )]
    Segment,
    #[error(
        "a DTMI fragment must start with a letter or `_`, contain only letters, digits and `_`, and not end with `_`"
    )]
    Fragment,
    #[error(
        "a DTMI version must be `;N` or `;N.M` with N of 1 to 9 digits and M of 1 to 6 digits, neither starting with 0"
    )]
    Version,
    #[error(
        "a DTMI may be at most {MAX_USER_LENGTH} characters long ({MAX_LENGTH} for system DTMIs)"
    )]
    TooLong,
}

/// A syntactically valid DTMI, e.g. `dtmi:com:example:Thermostat;1`.
///
/// Equality and hashing are case-sensitive on the full text. Ordering sorts by versionless
/// identifier, then numerically by version (versionless first), then by the full text, so it is
/// consistent with equality.
#[derive(Clone)]
pub struct Dtmi {
    text: Box<str>,
    /// Byte offset of `;` (or end of path when there is no version).
    path_end: u32,
    /// Byte offset of `#` (or the text length when there is no fragment).
    fragment_start: u32,
    major: u32,
    minor: u32,
    /// The versionless form when it is not a substring of `text` (version and fragment both
    /// present, e.g. `dtmi:a:b;1#f` → `dtmi:a:b#f`); rare, so boxed separately.
    versionless_with_fragment: Option<Box<str>>,
}

impl Dtmi {
    /// Parses and validates a DTMI.
    pub fn parse(s: &str) -> Result<Dtmi, DtmiError> {
        let parts = scan(s)?;
        let versionless_with_fragment = (parts.has_fragment && parts.has_version).then(|| {
            format!("{}{}", &s[..parts.path_end], &s[parts.fragment_start..]).into_boxed_str()
        });
        Ok(Dtmi {
            text: s.into(),
            path_end: offset(parts.path_end),
            fragment_start: offset(parts.fragment_start),
            major: parts.major,
            minor: parts.minor,
            versionless_with_fragment,
        })
    }

    /// Whether `s` is a syntactically valid DTMI (without building one).
    pub fn is_valid(s: &str) -> bool {
        scan(s).is_ok()
    }

    /// The DTMI text exactly as parsed.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The major version, `None` for a versionless DTMI.
    pub fn major_version(&self) -> Option<u32> {
        (self.major != 0).then_some(self.major)
    }

    /// The minor version of a two-part version (`;3.14` → 14), `None` otherwise.
    pub fn minor_version(&self) -> Option<u32> {
        (self.minor != 0).then_some(self.minor)
    }

    /// Major plus minor / 1,000,000 (`;3.14` → 3.000014), 0 for a versionless DTMI.
    pub fn complete_version(&self) -> f64 {
        f64::from(self.major) + f64::from(self.minor) / 1_000_000.0
    }

    /// The version text after `;`, if any (e.g. `"1"` or `"1.2"`).
    pub fn version_text(&self) -> Option<&str> {
        let v = &self.text[self.path_end as usize..self.fragment_start as usize];
        v.strip_prefix(';')
    }

    /// The DTMI without its `;version` part; a fragment is kept (`dtmi:foo:bar#frag`).
    pub fn versionless(&self) -> &str {
        match &self.versionless_with_fragment {
            Some(v) => v,
            None if self.fragment_start as usize == self.text.len() => {
                &self.text[..self.path_end as usize]
            }
            None => &self.text,
        }
    }

    /// The path segments (`dtmi:com:example:Thermostat;1` → `["com", "example", "Thermostat"]`).
    pub fn labels(&self) -> Vec<&str> {
        self.text[5..self.path_end as usize].split(':').collect()
    }

    /// The fragment without `#` (`Some("")` for a bare `#`), `None` when there is none.
    pub fn fragment(&self) -> Option<&str> {
        self.text[self.fragment_start as usize..].strip_prefix('#')
    }

    /// The DTMI without its fragment.
    pub fn without_fragment(&self) -> &str {
        &self.text[..self.fragment_start as usize]
    }

    /// True for a system DTMI: some segment or the fragment starts with `_`.
    pub fn is_reserved(&self) -> bool {
        self.text[5..self.path_end as usize]
            .split(':')
            .any(|l| l.starts_with('_'))
            || self.fragment().is_some_and(|f| f.starts_with('_'))
    }

    /// The DMR path of the model document, e.g. `dtmi/com/example/thermostat-1.json`.
    pub fn to_dmr_path(&self) -> String {
        self.dmr_path_with_suffix(".json")
    }

    /// The DMR path of the expanded document, e.g. `dtmi/com/example/thermostat-1.expanded.json`.
    pub fn to_dmr_expanded_path(&self) -> String {
        self.dmr_path_with_suffix(".expanded.json")
    }

    fn dmr_path_with_suffix(&self, suffix: &str) -> String {
        let mut out = String::with_capacity(self.fragment_start as usize + suffix.len());
        for c in self.text[..self.path_end as usize].chars() {
            out.push(if c == ':' {
                '/'
            } else {
                c.to_ascii_lowercase()
            });
        }
        if let Some(v) = self.version_text() {
            out.push('-');
            out.push_str(v);
        }
        out.push_str(suffix);
        out
    }
}

/// What [`Dtmi::parse`] finds in a text, for callers that only inspect it: checking an
/// identifier this way needs no allocation.
pub(crate) struct Syntax {
    /// As [`Dtmi::major_version`], 0 for none.
    pub major: u32,
    /// As [`Dtmi::minor_version`], 0 for none.
    pub minor: u32,
    /// As `Dtmi::fragment().is_some()`.
    pub has_fragment: bool,
    /// As [`Dtmi::is_reserved`].
    pub reserved: bool,
}

/// The [`Syntax`] of `s`, `None` where [`Dtmi::parse`] fails.
pub(crate) fn syntax(s: &str) -> Option<Syntax> {
    let parts = scan(s).ok()?;
    Some(Syntax {
        major: parts.major,
        minor: parts.minor,
        has_fragment: parts.has_fragment,
        reserved: parts.reserved,
    })
}

/// Offsets and numbers found by [`scan`].
struct Parts {
    path_end: usize,
    fragment_start: usize,
    major: u32,
    minor: u32,
    has_version: bool,
    has_fragment: bool,
    /// Some path segment or the fragment starts with `_` (a system DTMI).
    reserved: bool,
}

/// Validates a DTMI without allocating.
fn scan(s: &str) -> Result<Parts, DtmiError> {
    let rest = s.strip_prefix("dtmi:").ok_or(DtmiError::Scheme)?;
    if s.len() > MAX_LENGTH {
        return Err(DtmiError::TooLong);
    }
    let (before_fragment, fragment) = match rest.find('#') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let (path, version) = match before_fragment.find(';') {
        Some(i) => (&before_fragment[..i], Some(&before_fragment[i + 1..])),
        None => (before_fragment, None),
    };
    let mut reserved = false;
    for segment in path.split(':') {
        reserved |= check_label(segment).ok_or(DtmiError::Segment)?;
    }
    if let Some(fragment) = fragment
        && !fragment.is_empty()
    {
        reserved |= check_label(fragment).ok_or(DtmiError::Fragment)?;
    }
    let (major, minor) = match version {
        None => (0, 0),
        Some(v) => parse_version(v).ok_or(DtmiError::Version)?,
    };
    if !reserved && s.len() > MAX_USER_LENGTH {
        return Err(DtmiError::TooLong);
    }
    Ok(Parts {
        path_end: 5 + path.len(),
        fragment_start: 5 + before_fragment.len(),
        major,
        minor,
        has_version: version.is_some(),
        has_fragment: fragment.is_some(),
        reserved,
    })
}

/// Checks one path segment or fragment; returns whether it is a system label (starts with `_`).
fn check_label(label: &str) -> Option<bool> {
    let bytes = label.as_bytes();
    let first = *bytes.first()?;
    let last = *bytes.last()?;
    if !(first.is_ascii_alphabetic() || first == b'_') || last == b'_' {
        return None;
    }
    if !bytes
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || *b == b'_')
    {
        return None;
    }
    Some(first == b'_')
}

fn parse_version(v: &str) -> Option<(u32, u32)> {
    let (major, minor) = match v.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (v, None),
    };
    let major = parse_number(major, 9)?;
    let minor = match minor {
        Some(m) => parse_number(m, 6)?,
        None => 0,
    };
    Some((major, minor))
}

fn parse_number(s: &str, max_digits: usize) -> Option<u32> {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > max_digits || b[0] == b'0' || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.parse().ok()
}

fn offset(n: usize) -> u32 {
    // Bounded by MAX_LENGTH, so the conversion cannot fail.
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Maps a DMR path (relative, e.g. `dtmi/com/example/thermostat-1.json`) to the lowercase
/// DTMI it stores (`dtmi:com:example:thermostat;1`). `None` when the path is not a
/// well-formed model path. Only `.json` paths are accepted; see
/// [`dmr_expanded_path_to_lowercase_dtmi`] for `.expanded.json`.
pub fn dmr_path_to_lowercase_dtmi(path: &str) -> Option<String> {
    if path.ends_with(".expanded.json") {
        return None;
    }
    path_to_dtmi(path.strip_suffix(".json")?)
}

/// Maps a DMR expanded-document path (`dtmi/com/example/thermostat-1.expanded.json`) to the
/// lowercase DTMI it stores.
pub fn dmr_expanded_path_to_lowercase_dtmi(path: &str) -> Option<String> {
    path_to_dtmi(path.strip_suffix(".expanded.json")?)
}

fn path_to_dtmi(stem: &str) -> Option<String> {
    let rest = stem.strip_prefix("dtmi/")?;
    if rest.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let (path, version) = match rest.rsplit_once('-') {
        Some((p, v)) => (p, Some(v)),
        None => (rest, None),
    };
    let mut s = String::with_capacity(stem.len() + 1);
    s.push_str("dtmi:");
    s.push_str(&path.replace('/', ":"));
    if let Some(v) = version {
        s.push(';');
        s.push_str(v);
    }
    let dtmi = Dtmi::parse(&s).ok()?;
    dtmi.fragment().is_none().then_some(s)
}

impl PartialEq for Dtmi {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for Dtmi {}

impl Hash for Dtmi {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

impl Ord for Dtmi {
    fn cmp(&self, other: &Self) -> Ordering {
        self.text[..self.path_end as usize]
            .cmp(&other.text[..other.path_end as usize])
            .then(self.major.cmp(&other.major))
            .then(self.minor.cmp(&other.minor))
            .then_with(|| self.text.cmp(&other.text))
    }
}

impl PartialOrd for Dtmi {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Dtmi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Dtmi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Dtmi({})", self.text)
    }
}

impl FromStr for Dtmi {
    type Err = DtmiError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Dtmi::parse(s)
    }
}

impl TryFrom<&str> for Dtmi {
    type Error = DtmiError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Dtmi::parse(s)
    }
}

impl AsRef<str> for Dtmi {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

impl Serialize for Dtmi {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Dtmi {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Dtmi::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Dtmi {
        Dtmi::parse(s).expect("valid DTMI")
    }

    #[test]
    fn accepts_versions_fragments_and_system_segments() {
        let x = d("dtmi:foo_bar:_16:baz33:qux;12");
        assert_eq!(x.major_version(), Some(12));
        assert_eq!(x.minor_version(), None);
        assert!(x.is_reserved());
        assert_eq!(x.labels(), ["foo_bar", "_16", "baz33", "qux"]);

        let y = d("dtmi:foo:bar;3.14");
        assert_eq!((y.major_version(), y.minor_version()), (Some(3), Some(14)));
        assert!((y.complete_version() - 3.000014).abs() < 1e-12);
        assert_eq!(y.versionless(), "dtmi:foo:bar");

        let z = d("dtmi:foo:bar;1#myFrag");
        assert_eq!(z.fragment(), Some("myFrag"));
        assert_eq!(z.versionless(), "dtmi:foo:bar#myFrag");
        assert_eq!(d("dtmi:foo:bar;1#").fragment(), Some(""));
        assert_eq!(d("dtmi:foo:bar#x").versionless(), "dtmi:foo:bar#x");
        assert!(d("dtmi:foo:bar;1#_x").is_reserved());
        assert_eq!(d("dtmi:foo").major_version(), None);
    }

    #[test]
    fn rejects_malformed_identifiers() {
        for bad in [
            "http:foo;1",
            "dtmi:",
            "dtmi:foo:;1",
            "dtmi:1foo;1",
            "dtmi:foo_;1",
            "dtmi:foo-bar;1",
            "dtmi:foo;",
            "dtmi:foo;#x",
            "dtmi:foo;0",
            "dtmi:foo;01",
            "dtmi:foo;1.0",
            "dtmi:foo;1.01",
            "dtmi:foo;1234567890",
            "dtmi:foo;1.1234567",
            "dtmi:foo;x",
            "dtmi:foo;1#1a",
            "dtmi:foo;1#a_",
            "dtmi:foo;1#a.b",
            "dtmi:_;1",
        ] {
            assert!(Dtmi::parse(bad).is_err(), "{bad} should be rejected");
        }
        let long = format!("dtmi:{};1", "a".repeat(2050));
        assert_eq!(Dtmi::parse(&long), Err(DtmiError::TooLong));
    }

    #[test]
    fn maps_to_and_from_dmr_paths() {
        let t = d("dtmi:com:Example:Thermostat;1");
        assert_eq!(t.to_dmr_path(), "dtmi/com/example/thermostat-1.json");
        assert_eq!(
            t.to_dmr_expanded_path(),
            "dtmi/com/example/thermostat-1.expanded.json"
        );
        assert_eq!(d("dtmi:com:a;1.2").to_dmr_path(), "dtmi/com/a-1.2.json");
        assert_eq!(d("dtmi:com:a").to_dmr_path(), "dtmi/com/a.json");
        assert_eq!(
            dmr_path_to_lowercase_dtmi("dtmi/com/example/thermostat-1.json").as_deref(),
            Some("dtmi:com:example:thermostat;1")
        );
        assert_eq!(
            dmr_path_to_lowercase_dtmi("dtmi/com/a-1.2.json").as_deref(),
            Some("dtmi:com:a;1.2")
        );
        assert_eq!(
            dmr_path_to_lowercase_dtmi("dtmi/com/a.json").as_deref(),
            Some("dtmi:com:a")
        );
        assert_eq!(
            dmr_expanded_path_to_lowercase_dtmi("dtmi/com/a-1.expanded.json").as_deref(),
            Some("dtmi:com:a;1")
        );
        for bad in [
            "dtmi/com/a-1.expanded.json",
            "com/a-1.json",
            "dtmi/Com/a-1.json",
            "dtmi/com/a-01.json",
            "dtmi/com//a-1.json",
        ] {
            assert_eq!(dmr_path_to_lowercase_dtmi(bad), None, "{bad}");
        }
    }

    #[test]
    fn orders_by_version_and_round_trips_through_serde() {
        let mut v = [
            d("dtmi:a:b;10"),
            d("dtmi:a:b;2"),
            d("dtmi:a:b;2.5"),
            d("dtmi:a:b"),
        ];
        v.sort();
        let names: Vec<_> = v.iter().map(Dtmi::as_str).collect();
        assert_eq!(
            names,
            ["dtmi:a:b", "dtmi:a:b;2", "dtmi:a:b;2.5", "dtmi:a:b;10"]
        );
        let json = serde_json::to_string(&v[1]).expect("serialise");
        assert_eq!(json, "\"dtmi:a:b;2\"");
        let back: Dtmi = serde_json::from_str(&json).expect("deserialise");
        assert_eq!(back, v[1]);
        assert!(serde_json::from_str::<Dtmi>("\"nope\"").is_err());
        assert_ne!(d("dtmi:a:B;1"), d("dtmi:a:b;1"));
    }
}
