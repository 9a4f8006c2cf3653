//! The device (or module) twin: tags, desired and reported properties with their `$version`s
//! and `$metadata`, the twin `version` and `etag`, and the model id, with the operations IoT Hub
//! offers on them (merge patch with `null` deleting, replace) and the documents it shows
//! (the device's `$iothub/twin/GET` body, the REST twin body).
//!
//! Counters: the twin `version` moves on every change; the etag moves when tags or desired
//! properties change (the parts a back end writes and guards with `If-Match`); each property
//! section's `$version` moves when that section changes, and starts at 1, as on IoT Hub.
//! Every operation checks its input fully before changing anything, so a refused change leaves
//! the twin as it was.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::Timestamp;
use crate::error::{SectionKind, TwinError, json_kind};
use crate::etag::Etag;
use crate::limits::TwinLimits;
use crate::section::{Metadata, Section};

/// Read-only members of a section that back ends send back as they read them (a twin read,
/// changed and written back) and that are therefore ignored rather than refused.
const READ_ONLY_SECTION_MEMBERS: [&str; 2] = ["$metadata", "$version"];

/// A device or module twin. Serialises to (and deserialises from) the form the store keeps,
/// which round-trips exactly; use [`Twin::service_document`] and [`Twin::device_document`]
/// for what clients see.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Twin {
    model_id: Option<String>,
    version: u64,
    etag_counter: u64,
    tags: Map<String, Value>,
    desired: Section,
    reported: Section,
}

/// A desired-properties change to push to the device on
/// `$iothub/twin/PATCH/properties/desired/?$version={version}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DesiredUpdate {
    /// The desired `$version` after the change.
    pub version: u64,
    /// The body to publish: the applied patch (or, after a replace, the whole new desired
    /// section) with `"$version": version` inside, which the device SDKs require.
    pub patch: Value,
}

impl Twin {
    /// A new, empty twin: version 1, both `$version`s 1, no tags.
    pub fn new(model_id: Option<String>, now: Timestamp) -> Twin {
        Twin {
            model_id,
            version: 1,
            etag_counter: 1,
            tags: Map::new(),
            desired: Section::new(now),
            reported: Section::new(now),
        }
    }

    /// The twin `version`: +1 on every change.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The twin etag: changes whenever tags or desired properties change.
    pub fn etag(&self) -> Etag {
        Etag::from_counter(self.etag_counter)
    }

    /// The model id the device announced (`model-id=` in its MQTT user name), if any.
    pub fn model_id(&self) -> Option<&str> {
        self.model_id.as_deref()
    }

    /// Sets the model id; a change counts as a twin change (the `version` moves).
    pub fn set_model_id(&mut self, model_id: Option<String>) {
        if self.model_id != model_id {
            self.model_id = model_id;
            self.version += 1;
        }
    }

    /// The desired `$version`.
    pub fn desired_version(&self) -> u64 {
        self.desired.version
    }

    /// The reported `$version`.
    pub fn reported_version(&self) -> u64 {
        self.reported.version
    }

    /// The tags.
    pub fn tags(&self) -> &Map<String, Value> {
        &self.tags
    }

    /// The desired properties, without `$metadata` and `$version`.
    pub fn desired(&self) -> &Map<String, Value> {
        &self.desired.value
    }

    /// The reported properties, without `$metadata` and `$version`.
    pub fn reported(&self) -> &Map<String, Value> {
        &self.reported.value
    }

    pub(crate) fn desired_metadata(&self) -> &Metadata {
        &self.desired.metadata
    }

    pub(crate) fn reported_metadata(&self) -> &Metadata {
        &self.reported.metadata
    }

    /// Applies a JSON merge patch (RFC 7386; `null` deletes) to the reported properties, as a
    /// device's `$iothub/twin/PATCH/properties/reported/` does. Returns the new reported
    /// `$version`.
    pub fn patch_reported(
        &mut self,
        patch: &Value,
        now: Timestamp,
        limits: &TwinLimits,
    ) -> Result<u64, TwinError> {
        let patch = section_object(SectionKind::Reported, patch)?;
        limits.check_members(SectionKind::Reported, patch)?;
        let mut next = self.reported.clone();
        next.merge(patch, now);
        limits.check_size(SectionKind::Reported, &self.reported.value, &next.value)?;
        self.reported = next;
        self.version += 1;
        Ok(self.reported.version)
    }

    /// Applies a JSON merge patch to the desired properties. `$metadata` and `$version` at the
    /// top of the patch are ignored (a twin read and sent back carries them); other `$` names
    /// are refused.
    pub fn patch_desired(
        &mut self,
        patch: &Value,
        now: Timestamp,
        limits: &TwinLimits,
    ) -> Result<DesiredUpdate, TwinError> {
        let patch = without_read_only(section_object(SectionKind::Desired, patch)?);
        limits.check_members(SectionKind::Desired, &patch)?;
        let mut next = self.desired.clone();
        next.merge(&patch, now);
        limits.check_size(SectionKind::Desired, &self.desired.value, &next.value)?;
        self.desired = next;
        Ok(self.desired_changed(patch))
    }

    /// Replaces the desired properties. The device receives the whole new section, as IoT
    /// Hub sends it after a replace.
    pub fn replace_desired(
        &mut self,
        desired: &Value,
        now: Timestamp,
        limits: &TwinLimits,
    ) -> Result<DesiredUpdate, TwinError> {
        let desired = without_read_only(section_object(SectionKind::Desired, desired)?);
        limits.check_members(SectionKind::Desired, &desired)?;
        let mut next = self.desired.clone();
        next.replace(&desired, now);
        limits.check_size(SectionKind::Desired, &self.desired.value, &next.value)?;
        self.desired = next;
        let whole = self.desired.value.clone();
        Ok(self.desired_changed(whole))
    }

    fn desired_changed(&mut self, mut body: Map<String, Value>) -> DesiredUpdate {
        self.version += 1;
        self.etag_counter += 1;
        body.insert("$version".into(), Value::from(self.desired.version));
        DesiredUpdate {
            version: self.desired.version,
            patch: Value::Object(body),
        }
    }

    /// Applies a JSON merge patch to the tags.
    pub fn patch_tags(&mut self, patch: &Value, limits: &TwinLimits) -> Result<(), TwinError> {
        let patch = section_object(SectionKind::Tags, patch)?;
        limits.check_members(SectionKind::Tags, patch)?;
        let mut next = self.tags.clone();
        merge_plain(&mut next, patch);
        self.commit_tags(next, limits)
    }

    /// Replaces the tags.
    pub fn replace_tags(&mut self, tags: &Value, limits: &TwinLimits) -> Result<(), TwinError> {
        let tags = section_object(SectionKind::Tags, tags)?;
        limits.check_members(SectionKind::Tags, tags)?;
        let mut next = Map::new();
        merge_plain(&mut next, tags);
        self.commit_tags(next, limits)
    }

    fn commit_tags(
        &mut self,
        next: Map<String, Value>,
        limits: &TwinLimits,
    ) -> Result<(), TwinError> {
        limits.check_size(SectionKind::Tags, &self.tags, &next)?;
        self.tags = next;
        self.version += 1;
        self.etag_counter += 1;
        Ok(())
    }

    /// The body a device gets for `$iothub/twin/GET`:
    /// `{"desired":{…,"$version":n},"reported":{…,"$version":m}}` (no `properties` wrapper,
    /// no `$metadata`).
    pub fn device_document(&self) -> Value {
        let mut out = Map::new();
        out.insert(
            "desired".into(),
            self.desired.document(SectionKind::Desired, false),
        );
        out.insert(
            "reported".into(),
            self.reported.document(SectionKind::Reported, false),
        );
        Value::Object(out)
    }

    /// The twin's part of the IoT Hub REST twin body: `modelId` (`""` when none, as IoT Hub
    /// writes it), `etag`, `version`, `tags` and `properties.{desired,reported}` with their
    /// `$metadata` and `$version`. The caller adds the registry fields (`deviceId`,
    /// `moduleId`, `status`, `connectionState`, `lastActivityTime`, …).
    pub fn service_document(&self) -> Map<String, Value> {
        let mut properties = Map::new();
        properties.insert(
            "desired".into(),
            self.desired.document(SectionKind::Desired, true),
        );
        properties.insert(
            "reported".into(),
            self.reported.document(SectionKind::Reported, true),
        );
        let mut out = Map::new();
        out.insert(
            "modelId".into(),
            Value::String(self.model_id.clone().unwrap_or_default()),
        );
        out.insert("etag".into(), Value::String(self.etag().to_string()));
        out.insert("version".into(), Value::from(self.version));
        out.insert("tags".into(), Value::Object(self.tags.clone()));
        out.insert("properties".into(), Value::Object(properties));
        out
    }
}

fn section_object(section: SectionKind, value: &Value) -> Result<&Map<String, Value>, TwinError> {
    value.as_object().ok_or(TwinError::NotAnObject {
        section,
        found: json_kind(value),
    })
}

fn without_read_only(patch: &Map<String, Value>) -> Map<String, Value> {
    patch
        .iter()
        .filter(|(k, _)| !READ_ONLY_SECTION_MEMBERS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// RFC 7386 merge patch without metadata (tags).
fn merge_plain(target: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (key, value) in patch {
        match value {
            Value::Null => {
                target.shift_remove(key);
            }
            Value::Object(members) => {
                if let Some(Value::Object(existing)) = target.get_mut(key) {
                    merge_plain(existing, members);
                } else {
                    let mut fresh = Map::new();
                    merge_plain(&mut fresh, members);
                    target.insert(key.clone(), Value::Object(fresh));
                }
            }
            leaf => {
                target.insert(key.clone(), leaf.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::at;
    use serde_json::json;

    fn limits() -> TwinLimits {
        TwinLimits::default()
    }

    #[test]
    fn a_new_twin_starts_at_version_one_everywhere() {
        let twin = Twin::new(Some("dtmi:com:example:Thermostat;1".into()), at(0));
        assert_eq!(twin.version(), 1);
        assert_eq!(twin.desired_version(), 1);
        assert_eq!(twin.reported_version(), 1);
        assert_eq!(twin.etag().to_string(), "AAAAAAAAAAE=");
        assert_eq!(
            twin.device_document(),
            json!({"desired": {"$version": 1}, "reported": {"$version": 1}})
        );
    }

    #[test]
    fn reported_patches_move_version_but_not_etag() {
        let mut twin = Twin::new(None, at(0));
        let v = twin
            .patch_reported(&json!({"a": 1, "b": {"c": 2}}), at(1), &limits())
            .expect("patch");
        assert_eq!(v, 2);
        let v = twin
            .patch_reported(&json!({"b": {"c": null}}), at(2), &limits())
            .expect("patch");
        assert_eq!(v, 3);
        assert_eq!(twin.version(), 3);
        assert_eq!(twin.etag(), Etag::from_counter(1));
        assert_eq!(
            Value::Object(twin.reported().clone()),
            json!({"a": 1, "b": {}})
        );
    }

    #[test]
    fn desired_patches_return_the_update_to_push() {
        let mut twin = Twin::new(None, at(0));
        let update = twin
            .patch_desired(
                &json!({"thermostat1": {"__t": "c", "targetTemperature": 25.0}, "old": null}),
                at(5),
                &limits(),
            )
            .expect("patch");
        assert_eq!(update.version, 2);
        assert_eq!(
            update.patch,
            json!({"thermostat1": {"__t": "c", "targetTemperature": 25.0}, "old": null, "$version": 2})
        );
        assert_eq!(twin.etag(), Etag::from_counter(2));
        assert_eq!(twin.version(), 2);
        assert_eq!(
            twin.device_document()["desired"],
            json!({"thermostat1": {"__t": "c", "targetTemperature": 25.0}, "$version": 2})
        );
    }

    #[test]
    fn desired_ignores_read_only_members_sent_back_and_refuses_other_dollar_names() {
        let mut twin = Twin::new(None, at(0));
        let read = twin.service_document()["properties"]["desired"].clone();
        let mut sent = read.as_object().cloned().expect("object");
        sent.insert("mode".into(), json!("eco"));
        let update = twin
            .patch_desired(&Value::Object(sent), at(1), &limits())
            .expect("patch");
        assert_eq!(update.patch, json!({"mode": "eco", "$version": 2}));
        let err = twin
            .patch_desired(&json!({"$other": 1}), at(2), &limits())
            .expect_err("reserved");
        assert!(matches!(err, TwinError::ReservedKey { .. }), "{err}");
        let err = twin
            .patch_reported(&json!({"$version": 1}), at(2), &limits())
            .expect_err("reserved in reported");
        assert!(matches!(err, TwinError::ReservedKey { .. }), "{err}");
    }

    #[test]
    fn replace_desired_pushes_the_whole_section() {
        let mut twin = Twin::new(None, at(0));
        twin.patch_desired(&json!({"a": 1, "b": 2}), at(1), &limits())
            .expect("patch");
        let update = twin
            .replace_desired(&json!({"c": 3}), at(2), &limits())
            .expect("replace");
        assert_eq!(update.patch, json!({"c": 3, "$version": 3}));
        assert_eq!(Value::Object(twin.desired().clone()), json!({"c": 3}));
    }

    #[test]
    fn tags_patch_and_replace_move_etag_and_version() {
        let mut twin = Twin::new(None, at(0));
        twin.patch_tags(&json!({"site": {"building": "43", "floor": 1}}), &limits())
            .expect("patch");
        twin.patch_tags(&json!({"site": {"floor": null}, "owner": "ops"}), &limits())
            .expect("patch");
        assert_eq!(
            Value::Object(twin.tags().clone()),
            json!({"site": {"building": "43"}, "owner": "ops"})
        );
        twin.replace_tags(&json!({"only": true}), &limits())
            .expect("replace");
        assert_eq!(Value::Object(twin.tags().clone()), json!({"only": true}));
        assert_eq!(twin.version(), 4);
        assert_eq!(twin.etag(), Etag::from_counter(4));
        assert_eq!(twin.desired_version(), 1);
    }

    #[test]
    fn refused_changes_leave_the_twin_unchanged() {
        let mut twin = Twin::new(None, at(0));
        twin.patch_reported(&json!({"a": 1}), at(1), &limits())
            .expect("patch");
        let before = twin.clone();
        let small = TwinLimits {
            reported_bytes: 20,
            ..TwinLimits::default()
        };
        let err = twin
            .patch_reported(&json!({"b": "a long string value"}), at(2), &small)
            .expect_err("too large");
        assert!(matches!(
            err,
            TwinError::TooLarge {
                section: SectionKind::Reported,
                ..
            }
        ));
        assert!(twin.patch_reported(&json!([1]), at(2), &limits()).is_err());
        assert!(twin.patch_tags(&json!({"a.b": 1}), &limits()).is_err());
        assert!(twin.replace_desired(&json!("x"), at(2), &limits()).is_err());
        assert_eq!(twin, before);
    }

    #[test]
    fn errors_point_into_the_twin_document() {
        let mut twin = Twin::new(None, at(0));
        let err = twin
            .patch_reported(&json!({"thermostat1": {"max temp": 1}}), at(1), &limits())
            .expect_err("space");
        assert_eq!(
            err.to_string(),
            "key 'max temp' at /properties/reported/thermostat1/max temp contains whitespace \
             (U+0020), which twin keys may not contain (no '.', '$', '#', whitespace or control \
             characters); rename the key"
        );
        let err = twin
            .patch_tags(&json!(null), &limits())
            .expect_err("not an object");
        assert_eq!(
            err.to_string(),
            "tags must be a JSON object, not null; send an object such as {\"name\": value}"
        );
    }

    #[test]
    fn model_id_changes_count_as_changes() {
        let mut twin = Twin::new(None, at(0));
        twin.set_model_id(Some("dtmi:com:example:Thermostat;1".into()));
        assert_eq!(twin.version(), 2);
        twin.set_model_id(Some("dtmi:com:example:Thermostat;1".into()));
        assert_eq!(twin.version(), 2);
        assert_eq!(twin.model_id(), Some("dtmi:com:example:Thermostat;1"));
    }

    #[test]
    fn service_document_has_the_rest_shape() {
        let mut twin = Twin::new(None, at(0));
        twin.patch_tags(&json!({"floor": 1}), &limits())
            .expect("tags");
        twin.patch_desired(&json!({"mode": "eco"}), at(60), &limits())
            .expect("desired");
        twin.patch_reported(&json!({"battery": 55}), at(120), &limits())
            .expect("reported");
        assert_eq!(
            Value::Object(twin.service_document()),
            json!({
                "modelId": "",
                "etag": "AAAAAAAAAAM=",
                "version": 4,
                "tags": {"floor": 1},
                "properties": {
                    "desired": {
                        "mode": "eco",
                        "$metadata": {
                            "$lastUpdated": "1970-01-01T00:01:00.0000000Z",
                            "$lastUpdatedVersion": 2,
                            "mode": {
                                "$lastUpdated": "1970-01-01T00:01:00.0000000Z",
                                "$lastUpdatedVersion": 2
                            }
                        },
                        "$version": 2
                    },
                    "reported": {
                        "battery": 55,
                        "$metadata": {
                            "$lastUpdated": "1970-01-01T00:02:00.0000000Z",
                            "battery": {"$lastUpdated": "1970-01-01T00:02:00.0000000Z"}
                        },
                        "$version": 2
                    }
                }
            })
        );
    }

    #[test]
    fn the_stored_form_round_trips_exactly() {
        let mut twin = Twin::new(Some("dtmi:com:example:Thermostat;1".into()), at(0));
        let t = chrono::DateTime::from_timestamp(1_700_000_000, 123_456_789).expect("time");
        twin.patch_desired(&json!({"z": 1, "a": {"b": [1, {"c": "d"}]}}), t, &limits())
            .expect("desired");
        twin.patch_reported(&json!({"y": {"x": 1.5}, "b": true}), t, &limits())
            .expect("reported");
        twin.patch_tags(&json!({"k": "v"}), &limits())
            .expect("tags");
        let stored = serde_json::to_string(&twin).expect("serialise");
        let back: Twin = serde_json::from_str(&stored).expect("deserialise");
        assert_eq!(back, twin);
        assert_eq!(serde_json::to_string(&back).expect("serialise"), stored);
        // Key order survives too.
        let keys: Vec<&String> = back.desired().keys().collect();
        assert_eq!(keys, ["z", "a"]);
    }
}
