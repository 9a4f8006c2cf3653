//! The IoT Hub topic surface (hub-protocol.md §1.5) as data: what a device's PUBLISH topic
//! means and whether that identity may use it, which SUBSCRIBE filters an identity may make,
//! the topics the hub publishes on, property bags (`k=v&…`, keys and values percent-encoded, a
//! key without `=` meaning null), and the CONNECT user name `{host}/{clientId}/?{query}`.
//!
//! Device and module ids in topics are not encoded, so topics are matched by the exact prefix
//! the identity owns, never by splitting ids out of them.

use std::borrow::Cow;

use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};

use crate::identity::IdentityKey;

/// Characters escaped in property-bag keys and values: the bag's own delimiters, what is not
/// printable ASCII, and what MQTT topics reserve.
const BAG_ESCAPES: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'$')
    .add(b'%')
    .add(b'&')
    .add(b'+')
    .add(b'/')
    .add(b'=')
    .add(b'?')
    .add(b'\\');

/// Characters escaped in a method name inside `$iothub/methods/POST/{name}/`.
const METHOD_ESCAPES: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'#')
    .add(b'%')
    .add(b'+')
    .add(b'/')
    .add(b'?');

/// A property bag: decoded keys and values, in order.
pub(crate) type Bag = Vec<(String, Option<String>)>;

/// What a PUBLISH from a device is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Inbound {
    /// `devices/{id}[/modules/{mid}]/messages/events/{bag}`.
    Telemetry(Bag),
    /// `$iothub/twin/GET/?$rid={rid}`.
    TwinGet { rid: String },
    /// `$iothub/twin/PATCH/properties/reported/?$rid={rid}`.
    ReportedPatch { rid: String },
    /// `$iothub/methods/res/{status}/?$rid={rid}`.
    MethodResponse { status: i32, rid: String },
}

/// Why a PUBLISH topic is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum TopicError {
    #[error("topic {0:?} is not one the identity may publish to")]
    NotAllowed(String),
    #[error("topic {0:?} lacks its $rid")]
    MissingRid(String),
    #[error("method response status {0:?} is not an integer")]
    BadStatus(String),
}

/// The topic prefix of an identity's own telemetry.
fn events_prefix(key: &IdentityKey) -> String {
    format!("{}/messages/events", key.resource_path())
}

/// Reads a PUBLISH topic of `key`.
pub(crate) fn parse_inbound(key: &IdentityKey, topic: &str) -> Result<Inbound, TopicError> {
    let events = events_prefix(key);
    if let Some(rest) = topic.strip_prefix(events.as_str()) {
        return match rest {
            "" => Ok(Inbound::Telemetry(Vec::new())),
            _ => match rest.strip_prefix('/') {
                Some(bag) => Ok(Inbound::Telemetry(parse_bag(bag))),
                None => Err(TopicError::NotAllowed(topic.to_owned())),
            },
        };
    }
    if let Some(query) = topic.strip_prefix("$iothub/twin/GET/") {
        return Ok(Inbound::TwinGet {
            rid: rid_of(topic, query)?,
        });
    }
    if let Some(query) = topic.strip_prefix("$iothub/twin/PATCH/properties/reported/") {
        return Ok(Inbound::ReportedPatch {
            rid: rid_of(topic, query)?,
        });
    }
    if let Some(rest) = topic.strip_prefix("$iothub/methods/res/") {
        let (status, query) = rest
            .split_once('/')
            .ok_or_else(|| TopicError::MissingRid(topic.to_owned()))?;
        let status = status
            .parse::<i32>()
            .map_err(|_| TopicError::BadStatus(status.to_owned()))?;
        return Ok(Inbound::MethodResponse {
            status,
            rid: rid_of(topic, query)?,
        });
    }
    Err(TopicError::NotAllowed(topic.to_owned()))
}

/// The `$rid` of a `?$rid=…` query.
fn rid_of(topic: &str, query: &str) -> Result<String, TopicError> {
    let query = query.strip_prefix('?').unwrap_or(query);
    parse_bag(query)
        .into_iter()
        .find(|(k, _)| k == "$rid")
        .and_then(|(_, v)| v)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| TopicError::MissingRid(topic.to_owned()))
}

/// Decodes `k=v&k2&…`. Invalid UTF-8 after decoding is replaced, not refused: the message is
/// still the device's.
pub(crate) fn parse_bag(bag: &str) -> Bag {
    bag.split('&')
        .filter(|item| !item.is_empty())
        .filter_map(|item| {
            let (k, v) = match item.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (item, None),
            };
            let k = decode(k);
            (!k.is_empty()).then(|| (k, v.map(decode)))
        })
        .collect()
}

fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// Encodes a property bag.
pub(crate) fn encode_bag(bag: &[(Cow<'_, str>, Option<Cow<'_, str>>)]) -> String {
    let mut out = String::new();
    for (k, v) in bag {
        if !out.is_empty() {
            out.push('&');
        }
        out.extend(utf8_percent_encode(k, BAG_ESCAPES));
        if let Some(v) = v {
            out.push('=');
            out.extend(utf8_percent_encode(v, BAG_ESCAPES));
        }
    }
    out
}

/// The features a session can subscribe to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Feature {
    TwinResponses,
    DesiredUpdates,
    Methods,
    CloudToDevice,
    ModuleInputs,
}

/// The feature a SUBSCRIBE filter of `key` stands for; `None` when the identity may not
/// subscribe to it.
pub(crate) fn feature_of(key: &IdentityKey, filter: &str) -> Option<Feature> {
    match filter {
        "$iothub/twin/res/#" => Some(Feature::TwinResponses),
        "$iothub/twin/PATCH/properties/desired/#" => Some(Feature::DesiredUpdates),
        "$iothub/methods/POST/#" => Some(Feature::Methods),
        _ if !key.is_module()
            && filter == format!("devices/{}/messages/devicebound/#", key.device_id) =>
        {
            Some(Feature::CloudToDevice)
        }
        _ if key.is_module() && filter == format!("{}/inputs/#", key.resource_path()) => {
            Some(Feature::ModuleInputs)
        }
        _ => None,
    }
}

pub(crate) fn twin_response_topic(status: u16, rid: &str, version: Option<u64>) -> String {
    let rid = utf8_percent_encode(rid, BAG_ESCAPES);
    match version {
        Some(v) => format!("$iothub/twin/res/{status}/?$rid={rid}&$version={v}"),
        None => format!("$iothub/twin/res/{status}/?$rid={rid}"),
    }
}

pub(crate) fn desired_topic(version: u64) -> String {
    format!("$iothub/twin/PATCH/properties/desired/?$version={version}")
}

pub(crate) fn method_topic(name: &str, rid: &str) -> String {
    format!(
        "$iothub/methods/POST/{}/?$rid={rid}",
        utf8_percent_encode(name, METHOD_ESCAPES)
    )
}

pub(crate) fn c2d_topic(device_id: &str, bag: &str) -> String {
    format!("devices/{device_id}/messages/devicebound/{bag}")
}

/// What the CONNECT user name says besides the identity.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct UserName {
    pub api_version: Option<String>,
    pub model_id: Option<String>,
    pub client_type: Option<String>,
}

/// Reads `{host}/{clientId}/?{query}` (the query may be absent): the host must be one of the
/// hub's names (case-insensitively) and the client id the CONNECT's own; the known prefix is
/// stripped rather than the name split on `?`, since ids may contain `?`.
pub(crate) fn parse_user_name(
    user_name: &str,
    client_id: &str,
    host_names: &[String],
) -> Option<UserName> {
    let (host, rest) = user_name.split_once('/')?;
    if !host_names.iter().any(|h| h.eq_ignore_ascii_case(host)) {
        return None;
    }
    let rest = rest.strip_prefix(client_id)?;
    let query = match rest {
        "" | "/" => "",
        _ => rest.strip_prefix("/?").or_else(|| rest.strip_prefix('?'))?,
    };
    let mut out = UserName::default();
    for (k, v) in parse_bag(query) {
        match k.as_str() {
            "api-version" => out.api_version = v,
            "model-id" => out.model_id = v.filter(|m| !m.is_empty()),
            "DeviceClientType" => out.client_type = v,
            _ => {}
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device() -> IdentityKey {
        IdentityKey::device("thermostat-01").expect("valid")
    }

    #[test]
    fn the_observed_user_name_gives_api_version_and_model_id() {
        let name = "localhost/thermostat-01/?api-version=2020-09-30&DeviceClientType=azure-iot-device-iothub-py%2F2.14.0%283.11.7%3BLinux%20%231%20SMP%20PREEMPT_DYNAMIC%20%400%3Bx86_64%29&model-id=dtmi%3Acom%3Aexample%3ATemperatureController%3B2";
        let parsed = parse_user_name(name, "thermostat-01", &["LOCALHOST".into()]).expect("parsed");
        assert_eq!(parsed.api_version.as_deref(), Some("2020-09-30"));
        assert_eq!(
            parsed.model_id.as_deref(),
            Some("dtmi:com:example:TemperatureController;2")
        );
        assert!(
            parsed
                .client_type
                .expect("ua")
                .starts_with("azure-iot-device-iothub-py/2.14.0")
        );
    }

    #[test]
    fn user_names_for_other_hosts_or_clients_are_refused_and_ids_may_hold_question_marks() {
        let hosts = ["localhost".to_owned()];
        assert!(parse_user_name("other/d1/?api-version=x", "d1", &hosts).is_none());
        assert!(parse_user_name("localhost/d2/?api-version=x", "d1", &hosts).is_none());
        let odd = parse_user_name("localhost/we?ird/?model-id=dtmi%3Aa%3Bb", "we?ird", &hosts)
            .expect("parsed");
        assert_eq!(odd.model_id.as_deref(), Some("dtmi:a;b"));
        let module = parse_user_name(
            "localhost/edge-01/filter/?api-version=1",
            "edge-01/filter",
            &hosts,
        );
        assert_eq!(module.expect("module").api_version.as_deref(), Some("1"));
        assert_eq!(
            parse_user_name("localhost/d1", "d1", &hosts),
            Some(UserName::default())
        );
    }

    #[test]
    fn telemetry_bags_are_decoded() {
        let topic = "devices/thermostat-01/messages/events/%24.ct=application%2Fjson&%24.ce=utf-8&%24.sub=thermostat1&flag&odd%ZZ=%FF";
        let Inbound::Telemetry(bag) = parse_inbound(&device(), topic).expect("telemetry") else {
            panic!("not telemetry");
        };
        assert_eq!(
            bag,
            vec![
                ("$.ct".into(), Some("application/json".into())),
                ("$.ce".into(), Some("utf-8".into())),
                ("$.sub".into(), Some("thermostat1".into())),
                ("flag".into(), None),
                ("odd%ZZ".into(), Some("\u{fffd}".into())),
            ]
        );
        assert_eq!(
            parse_inbound(&device(), "devices/thermostat-01/messages/events"),
            Ok(Inbound::Telemetry(Vec::new()))
        );
    }

    #[test]
    fn an_identity_may_not_publish_as_another() {
        let other = "devices/thermostat-02/messages/events/";
        assert!(matches!(
            parse_inbound(&device(), other),
            Err(TopicError::NotAllowed(_))
        ));
        let longer = "devices/thermostat-01x/messages/events/";
        assert!(parse_inbound(&device(), longer).is_err());
        let module = IdentityKey::module("thermostat-01", "filter").expect("valid");
        assert!(parse_inbound(&module, "devices/thermostat-01/messages/events/").is_err());
        assert!(matches!(
            parse_inbound(
                &module,
                "devices/thermostat-01/modules/filter/messages/events/a=1"
            ),
            Ok(Inbound::Telemetry(_))
        ));
        assert!(parse_inbound(&device(), "devices/thermostat-01/messages/devicebound/x").is_err());
    }

    #[test]
    fn twin_and_method_topics_carry_their_rid() {
        assert_eq!(
            parse_inbound(&device(), "$iothub/twin/GET/?$rid=bea4"),
            Ok(Inbound::TwinGet { rid: "bea4".into() })
        );
        assert_eq!(
            parse_inbound(
                &device(),
                "$iothub/twin/PATCH/properties/reported/?$rid=4b&$version=3"
            ),
            Ok(Inbound::ReportedPatch { rid: "4b".into() })
        );
        assert_eq!(
            parse_inbound(&device(), "$iothub/methods/res/200/?$rid=1"),
            Ok(Inbound::MethodResponse {
                status: 200,
                rid: "1".into()
            })
        );
        assert!(matches!(
            parse_inbound(&device(), "$iothub/twin/GET/"),
            Err(TopicError::MissingRid(_))
        ));
        assert!(matches!(
            parse_inbound(&device(), "$iothub/methods/res/ok/?$rid=1"),
            Err(TopicError::BadStatus(_))
        ));
    }

    #[test]
    fn subscriptions_are_limited_to_the_identitys_own_features() {
        let d = device();
        assert_eq!(
            feature_of(&d, "$iothub/methods/POST/#"),
            Some(Feature::Methods)
        );
        assert_eq!(
            feature_of(&d, "devices/thermostat-01/messages/devicebound/#"),
            Some(Feature::CloudToDevice)
        );
        assert_eq!(
            feature_of(&d, "devices/thermostat-02/messages/devicebound/#"),
            None
        );
        assert_eq!(feature_of(&d, "#"), None);
        assert_eq!(feature_of(&d, "devices/+/messages/devicebound/#"), None);
        let m = IdentityKey::module("thermostat-01", "filter").expect("valid");
        assert_eq!(
            feature_of(&m, "devices/thermostat-01/messages/devicebound/#"),
            None
        );
        assert_eq!(
            feature_of(&m, "devices/thermostat-01/modules/filter/inputs/#"),
            Some(Feature::ModuleInputs)
        );
    }

    #[test]
    fn outgoing_topics_encode_what_they_must() {
        let bag = encode_bag(&[
            ("$.mid".into(), Some("c2d-1".into())),
            (
                "$.to".into(),
                Some("/devices/thermostat-01/messages/deviceBound".into()),
            ),
            ("color".into(), Some("red & blue".into())),
            ("flag".into(), None),
        ]);
        assert_eq!(
            bag,
            "%24.mid=c2d-1&%24.to=%2Fdevices%2Fthermostat-01%2Fmessages%2FdeviceBound&color=red%20%26%20blue&flag"
        );
        assert_eq!(
            parse_bag(&bag)[2],
            ("color".into(), Some("red & blue".into()))
        );
        assert_eq!(
            method_topic("thermostat1*getMaxMinReport", "1"),
            "$iothub/methods/POST/thermostat1*getMaxMinReport/?$rid=1"
        );
        assert_eq!(
            twin_response_topic(204, "a", Some(2)),
            "$iothub/twin/res/204/?$rid=a&$version=2"
        );
    }
}
