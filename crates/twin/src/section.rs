//! One versioned twin section (desired or reported properties): its value, its `$version` and
//! its `$metadata` tree, and JSON merge patch (RFC 7386) over them.
//!
//! IoT Hub keeps `$lastUpdated` (and for desired properties `$lastUpdatedVersion`) at every
//! level of the section, not only at leaves, so that removing a key still shows up as an update
//! of its parent. The metadata tree mirrors the value's objects: every key has a node, and a key
//! whose value is an object has a node per member. Values inside arrays have no metadata.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::Timestamp;
use crate::error::SectionKind;
use crate::time::format_timestamp;

/// When and at which section version a node last changed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Metadata {
    pub(crate) last_updated: Timestamp,
    pub(crate) last_updated_version: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) children: BTreeMap<String, Metadata>,
}

impl Metadata {
    fn new(stamp: Stamp) -> Metadata {
        Metadata {
            last_updated: stamp.at,
            last_updated_version: stamp.version,
            children: BTreeMap::new(),
        }
    }

    fn touch(&mut self, stamp: Stamp) {
        self.last_updated = stamp.at;
        self.last_updated_version = stamp.version;
    }

    /// The metadata node of a member, if it has one.
    pub(crate) fn child(&self, key: &str) -> Option<&Metadata> {
        self.children.get(key)
    }
}

#[derive(Clone, Copy)]
struct Stamp {
    at: Timestamp,
    version: u64,
}

/// A desired or reported section.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Section {
    pub(crate) version: u64,
    pub(crate) value: Map<String, Value>,
    pub(crate) metadata: Metadata,
}

impl Section {
    pub(crate) fn new(now: Timestamp) -> Section {
        Section {
            version: 1,
            value: Map::new(),
            metadata: Metadata::new(Stamp {
                at: now,
                version: 1,
            }),
        }
    }

    /// Applies a merge patch and moves the section to its next version.
    pub(crate) fn merge(&mut self, patch: &Map<String, Value>, now: Timestamp) {
        self.version += 1;
        let stamp = Stamp {
            at: now,
            version: self.version,
        };
        merge_into(&mut self.value, &mut self.metadata, patch, stamp);
    }

    /// Replaces the whole section and moves it to its next version.
    pub(crate) fn replace(&mut self, value: &Map<String, Value>, now: Timestamp) {
        self.version += 1;
        let stamp = Stamp {
            at: now,
            version: self.version,
        };
        self.value = Map::new();
        self.metadata = Metadata::new(stamp);
        merge_into(&mut self.value, &mut self.metadata, value, stamp);
    }

    /// The section as the REST API shows it: values, then `$metadata` (when asked for) and
    /// `$version`.
    pub(crate) fn document(&self, kind: SectionKind, with_metadata: bool) -> Value {
        let mut out = self.value.clone();
        if with_metadata {
            out.insert(
                "$metadata".into(),
                metadata_document(&self.metadata, Some(&self.value), kind),
            );
        }
        out.insert("$version".into(), Value::from(self.version));
        Value::Object(out)
    }
}

fn merge_into(
    target: &mut Map<String, Value>,
    meta: &mut Metadata,
    patch: &Map<String, Value>,
    stamp: Stamp,
) {
    meta.touch(stamp);
    for (key, patch_value) in patch {
        match patch_value {
            Value::Null => {
                // Keeps the order of the remaining keys, unlike `remove`.
                target.shift_remove(key);
                meta.children.remove(key);
            }
            Value::Object(members) => {
                if let Some(Value::Object(existing)) = target.get_mut(key) {
                    let child = meta
                        .children
                        .entry(key.clone())
                        .or_insert_with(|| Metadata::new(stamp));
                    merge_into(existing, child, members, stamp);
                } else {
                    let mut fresh = Map::new();
                    let mut child = Metadata::new(stamp);
                    merge_into(&mut fresh, &mut child, members, stamp);
                    target.insert(key.clone(), Value::Object(fresh));
                    meta.children.insert(key.clone(), child);
                }
            }
            leaf => {
                target.insert(key.clone(), leaf.clone());
                meta.children.insert(key.clone(), Metadata::new(stamp));
            }
        }
    }
}

fn metadata_document(
    meta: &Metadata,
    value: Option<&Map<String, Value>>,
    kind: SectionKind,
) -> Value {
    let mut out = Map::new();
    out.insert(
        "$lastUpdated".into(),
        Value::String(format_timestamp(&meta.last_updated)),
    );
    // IoT Hub shows the version of the last update for desired properties only.
    if kind == SectionKind::Desired {
        out.insert(
            "$lastUpdatedVersion".into(),
            Value::from(meta.last_updated_version),
        );
    }
    if let Some(members) = value {
        for (key, member) in members {
            if let Some(child) = meta.children.get(key) {
                out.insert(
                    key.clone(),
                    metadata_document(child, member.as_object(), kind),
                );
            }
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{at, object as obj};
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc_7386() {
        // The examples of RFC 7386 appendix A, arrays and scalars as object members.
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": "b"}),
                json!({"b": "c"}),
                json!({"a": "b", "b": "c"}),
            ),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (
                json!({"a": "b", "b": "c"}),
                json!({"a": null}),
                json!({"b": "c"}),
            ),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
            (
                json!({"a": {"b": "c"}}),
                json!({"a": {"b": "d", "c": null}}),
                json!({"a": {"b": "d"}}),
            ),
            (
                json!({"a": [{"b": "c"}]}),
                json!({"a": [1]}),
                json!({"a": [1]}),
            ),
            (
                json!({"e": null}),
                json!({"a": 1}),
                json!({"e": null, "a": 1}),
            ),
            (
                json!({}),
                json!({"a": {"bb": {"ccc": null}}}),
                json!({"a": {"bb": {}}}),
            ),
        ];
        for (before, patch, after) in cases {
            let mut s = Section::new(at(0));
            s.value = obj(before.clone());
            s.merge(&obj(patch.clone()), at(1));
            assert_eq!(Value::Object(s.value), after, "{before} + {patch}");
        }
    }

    #[test]
    fn deleting_keeps_the_order_of_the_other_keys() {
        let mut s = Section::new(at(0));
        s.merge(&obj(json!({"a": 1, "b": 2, "c": 3})), at(1));
        s.merge(&obj(json!({"a": null})), at(2));
        let keys: Vec<&String> = s.value.keys().collect();
        assert_eq!(keys, ["b", "c"]);
    }

    #[test]
    fn metadata_is_kept_at_every_level() {
        let mut s = Section::new(at(0));
        s.merge(&obj(json!({"cfg": {"a": 1, "b": 2}, "x": true})), at(10));
        s.merge(&obj(json!({"cfg": {"b": null}})), at(20));
        let doc = s.document(SectionKind::Desired, true);
        assert_eq!(
            doc,
            json!({
                "cfg": {"a": 1},
                "x": true,
                "$metadata": {
                    "$lastUpdated": "1970-01-01T00:00:20.0000000Z",
                    "$lastUpdatedVersion": 3,
                    "cfg": {
                        "$lastUpdated": "1970-01-01T00:00:20.0000000Z",
                        "$lastUpdatedVersion": 3,
                        "a": {
                            "$lastUpdated": "1970-01-01T00:00:10.0000000Z",
                            "$lastUpdatedVersion": 2
                        }
                    },
                    "x": {
                        "$lastUpdated": "1970-01-01T00:00:10.0000000Z",
                        "$lastUpdatedVersion": 2
                    }
                },
                "$version": 3
            })
        );
        let reported = s.document(SectionKind::Reported, true);
        assert_eq!(
            reported["$metadata"]["x"],
            json!({"$lastUpdated": "1970-01-01T00:00:10.0000000Z"})
        );
    }

    #[test]
    fn replacing_a_leaf_by_an_object_rebuilds_its_metadata() {
        let mut s = Section::new(at(0));
        s.merge(&obj(json!({"a": 1})), at(1));
        s.merge(&obj(json!({"a": {"b": {"c": 2}}})), at(2));
        let meta = s
            .metadata
            .children
            .get("a")
            .and_then(|m| m.children.get("b"))
            .and_then(|m| m.children.get("c"));
        assert_eq!(meta.map(|m| m.last_updated_version), Some(3));
        s.merge(&obj(json!({"a": 5})), at(3));
        assert!(
            s.metadata
                .children
                .get("a")
                .is_some_and(|m| m.children.is_empty())
        );
    }

    #[test]
    fn replace_drops_what_is_not_in_the_new_value() {
        let mut s = Section::new(at(0));
        s.merge(&obj(json!({"a": 1, "b": {"c": 1}})), at(1));
        s.replace(&obj(json!({"b": {"d": null, "e": 2}})), at(2));
        assert_eq!(Value::Object(s.value.clone()), json!({"b": {"e": 2}}));
        assert_eq!(s.version, 3);
        assert!(!s.metadata.children.contains_key("a"));
    }
}
