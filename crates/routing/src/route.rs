//! Routes as IoT Hub defines them: a name, a source, a condition in the routing query syntax
//! (parsed by twinhub-query), up to 10 enrichments, the endpoints, and whether it is enabled;
//! plus our own `annotate_telemetry`. A [`RouteSet`] holds the routes and the fallback route
//! and decides, for an envelope and its device's twin, which endpoints get which copy.
//!
//! A message goes to each endpoint at most once, however many of its routes match (IoT Hub's
//! rule); that copy carries the enrichments of every matching route that names the endpoint,
//! applied in route order, so a later route's value for the same key wins. The fallback route
//! takes telemetry that no enabled telemetry route matched.
//!
//! Routes read from TOML or JSON are checked as they are read (names, condition, enrichments);
//! a set is checked as a whole (duplicate names) and against the endpoints that exist.

use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use twinhub_query::{MessageView, QueryError, RouteCondition, RoutingMessage, SystemProperty};

use crate::envelope::{Envelope, MessageSource, format_time};

/// IoT Hub allows at most 10 enrichments per endpoint; we count them per route.
pub const MAX_ENRICHMENTS: usize = 10;
/// Longest route, endpoint and enrichment name.
pub const MAX_NAME_LEN: usize = 64;

/// What is wrong with a route, or a set of routes.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RouteError {
    #[error(
        "{what} name '{name}' is not valid: use 1 to {MAX_NAME_LEN} letters, digits, '-', '_' \
         or '.'"
    )]
    BadName { what: &'static str, name: String },
    #[error("route '{route}': condition '{text}' cannot be read: {error}")]
    Condition {
        route: String,
        text: String,
        error: Box<QueryError>,
    },
    #[error("route '{route}' has {count} enrichments; at most {MAX_ENRICHMENTS} are allowed")]
    TooManyEnrichments { route: String, count: usize },
    #[error("route '{route}' sets enrichment '{key}' twice; keep one")]
    DuplicateEnrichment { route: String, key: String },
    #[error(
        "route '{route}': enrichment '{key}' has value '{value}', which is no static text, \
         $iothubname, $twin.tags.…, $twin.properties.desired.… or $twin.properties.reported.…"
    )]
    BadEnrichmentValue {
        route: String,
        key: String,
        value: String,
    },
    #[error("route '{route}' names no endpoint; give it at least one")]
    NoEndpoints { route: String },
    #[error("there are two routes named '{name}'; route names must be unique")]
    DuplicateRoute { name: String },
    #[error("{route} sends to endpoint '{endpoint}', which does not exist (endpoints: {known})")]
    UnknownEndpoint {
        /// `route 'x'` or `the fallback route`.
        route: String,
        endpoint: String,
        known: String,
    },
    #[error(
        "source '{0}' is not one of Telemetry, twinChangeEvents, digitalTwinChangeEvents, deviceLifecycleEvents, deviceConnectionStateEvents"
    )]
    UnknownSource(String),
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The name of an endpoint (a NATS stream, a webhook, the built-in store).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EndpointName(String);

impl EndpointName {
    pub fn new(name: impl Into<String>) -> Result<EndpointName, RouteError> {
        let name = name.into();
        if valid_name(&name) {
            Ok(EndpointName(name))
        } else {
            Err(RouteError::BadName {
                what: "endpoint",
                name,
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for EndpointName {
    type Error = RouteError;
    fn try_from(s: String) -> Result<EndpointName, RouteError> {
        EndpointName::new(s)
    }
}

impl From<EndpointName> for String {
    fn from(n: EndpointName) -> String {
        n.0
    }
}

impl fmt::Display for EndpointName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where an enrichment's value comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EnrichmentValue {
    Static(String),
    /// `$iothubname`.
    HubName,
    /// `$twin.tags.…` or `$twin.properties.desired|reported.…`: the path's keys below the twin
    /// document (`tags`, `a`, `b`), and the text as written.
    Twin {
        path: Vec<String>,
        text: String,
    },
}

impl EnrichmentValue {
    /// Reads a value as written in a route; `None` if it starts with `$` but is no variable.
    pub fn parse(text: &str) -> Option<EnrichmentValue> {
        let Some(var) = text.strip_prefix('$') else {
            return Some(EnrichmentValue::Static(text.to_owned()));
        };
        if var.eq_ignore_ascii_case("iothubname") {
            return Some(EnrichmentValue::HubName);
        }
        let mut parts = var.split('.');
        if !parts.next()?.eq_ignore_ascii_case("twin") {
            return None;
        }
        let path: Vec<String> = parts.map(str::to_owned).collect();
        if path.iter().any(String::is_empty) {
            return None;
        }
        let ok = match path.as_slice() {
            [tags, _, ..] if tags == "tags" => true,
            [props, section, _, ..] if props == "properties" => {
                section == "desired" || section == "reported"
            }
            _ => false,
        };
        ok.then(|| EnrichmentValue::Twin {
            path,
            text: text.to_owned(),
        })
    }

    fn text(&self) -> String {
        match self {
            EnrichmentValue::Static(s) => s.clone(),
            EnrichmentValue::HubName => "$iothubname".into(),
            EnrichmentValue::Twin { text, .. } => text.clone(),
        }
    }

    /// The value for a message: the hub's name, or the twin's value at the path. A twin path
    /// that is absent gives the path's own text, as IoT Hub does; one that holds an object or
    /// array gives nothing (IoT Hub enriches with primitive values only).
    fn resolve(&self, hub: &str, twin: Option<&Value>) -> Option<String> {
        match self {
            EnrichmentValue::Static(s) => Some(s.clone()),
            EnrichmentValue::HubName => Some(hub.to_owned()),
            EnrichmentValue::Twin { path, text } => {
                let found = twin.and_then(|t| lookup(t, path));
                match found {
                    None | Some(Value::Null) => Some(text.clone()),
                    Some(Value::String(s)) => Some(s.clone()),
                    Some(Value::Bool(b)) => Some(b.to_string()),
                    Some(Value::Number(n)) => Some(n.to_string()),
                    Some(Value::Array(_) | Value::Object(_)) => None,
                }
            }
        }
    }
}

/// Follows `path` through objects: an exact key first, then a case-insensitive one.
fn lookup<'v>(doc: &'v Value, path: &[String]) -> Option<&'v Value> {
    path.iter().try_fold(doc, |v, key| {
        let members = v.as_object()?;
        members.get(key).or_else(|| {
            members
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v)
        })
    })
}

/// One enrichment: an application property set on the routed copy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Enrichment {
    pub key: String,
    pub value: EnrichmentValue,
}

/// A route as written in TOML or JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RouteSpec {
    name: String,
    source: String,
    #[serde(default = "default_condition")]
    condition: String,
    /// Key → value, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "pairs")]
    enrichments: Vec<(String, String)>,
    endpoints: Vec<EndpointName>,
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default, alias = "annotate_telemetry")]
    annotate_telemetry: bool,
}

fn default_condition() -> String {
    "true".into()
}

fn yes() -> bool {
    true
}

/// A route, checked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RouteSpec", into = "RouteSpec")]
pub struct Route {
    name: String,
    source: MessageSource,
    condition_text: String,
    condition: RouteCondition,
    enrichments: Vec<Enrichment>,
    endpoints: Vec<EndpointName>,
    enabled: bool,
    annotate_telemetry: bool,
}

/// The parts of a route, for building one in code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteParts {
    pub name: String,
    pub source: MessageSource,
    /// In IoT Hub's routing query syntax; `true` routes everything.
    pub condition: String,
    /// Key → value as written (`$twin.tags.site`, `$iothubname`, static text).
    pub enrichments: Vec<(String, String)>,
    pub endpoints: Vec<EndpointName>,
    pub enabled: bool,
    /// Annotate telemetry with the device's model before it goes to the endpoints.
    pub annotate_telemetry: bool,
}

impl RouteParts {
    /// An enabled route of `source` to `endpoints`, condition `true`, no enrichments.
    pub fn new(
        name: impl Into<String>,
        source: MessageSource,
        endpoints: Vec<EndpointName>,
    ) -> RouteParts {
        RouteParts {
            name: name.into(),
            source,
            condition: default_condition(),
            enrichments: Vec::new(),
            endpoints,
            enabled: true,
            annotate_telemetry: false,
        }
    }

    pub fn condition(mut self, condition: impl Into<String>) -> RouteParts {
        self.condition = condition.into();
        self
    }

    pub fn enrich(mut self, key: impl Into<String>, value: impl Into<String>) -> RouteParts {
        self.enrichments.push((key.into(), value.into()));
        self
    }

    pub fn annotated(mut self) -> RouteParts {
        self.annotate_telemetry = true;
        self
    }

    pub fn disabled(mut self) -> RouteParts {
        self.enabled = false;
        self
    }
}

impl Route {
    pub fn new(parts: RouteParts) -> Result<Route, RouteError> {
        let RouteParts {
            name,
            source,
            condition: condition_text,
            enrichments,
            endpoints,
            enabled,
            annotate_telemetry,
        } = parts;
        if !valid_name(&name) {
            return Err(RouteError::BadName {
                what: "route",
                name,
            });
        }
        let condition =
            RouteCondition::parse(&condition_text).map_err(|error| RouteError::Condition {
                route: name.clone(),
                text: condition_text.clone(),
                error: Box::new(error),
            })?;
        if enrichments.len() > MAX_ENRICHMENTS {
            return Err(RouteError::TooManyEnrichments {
                route: name,
                count: enrichments.len(),
            });
        }
        let mut keys = HashSet::new();
        let mut checked = Vec::with_capacity(enrichments.len());
        for (key, value) in enrichments {
            if !valid_name(&key) {
                return Err(RouteError::BadName {
                    what: "enrichment",
                    name: key,
                });
            }
            if !keys.insert(key.to_ascii_lowercase()) {
                return Err(RouteError::DuplicateEnrichment { route: name, key });
            }
            let Some(parsed) = EnrichmentValue::parse(&value) else {
                return Err(RouteError::BadEnrichmentValue {
                    route: name,
                    key,
                    value,
                });
            };
            checked.push(Enrichment { key, value: parsed });
        }
        if endpoints.is_empty() {
            return Err(RouteError::NoEndpoints { route: name });
        }
        Ok(Route {
            name,
            source,
            condition_text,
            condition,
            enrichments: checked,
            endpoints,
            enabled,
            annotate_telemetry,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn source(&self) -> MessageSource {
        self.source
    }

    pub fn condition(&self) -> &str {
        &self.condition_text
    }

    pub fn enrichments(&self) -> &[Enrichment] {
        &self.enrichments
    }

    pub fn endpoints(&self) -> &[EndpointName] {
        &self.endpoints
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    pub fn annotate_telemetry(&self) -> bool {
        self.annotate_telemetry
    }

    /// Evaluates the route against a sample message (`twinhub hub route test`): whether it
    /// routes it, the condition's value, and the enrichments it would add. A disabled route is
    /// evaluated all the same; `matched` says what it would do if enabled.
    pub fn test(&self, envelope: &Envelope, twin: Option<&Value>) -> RouteTest {
        let message = RoutedMessage::new(envelope, twin);
        let view = MessageView::new(&message);
        let source_matches = envelope.source == self.source;
        let value = self.condition.evaluate(&view);
        RouteTest {
            source_matches,
            matched: source_matches && self.condition.matches_view(&view),
            value,
            enrichments: self.resolve_enrichments(envelope, twin),
        }
    }

    fn resolve_enrichments(
        &self,
        envelope: &Envelope,
        twin: Option<&Value>,
    ) -> Vec<(String, String)> {
        self.enrichments
            .iter()
            .filter_map(|e| Some((e.key.clone(), e.value.resolve(&envelope.hub, twin)?)))
            .collect()
    }
}

impl TryFrom<RouteSpec> for Route {
    type Error = RouteError;
    fn try_from(spec: RouteSpec) -> Result<Route, RouteError> {
        let source =
            MessageSource::parse(&spec.source).ok_or(RouteError::UnknownSource(spec.source))?;
        Route::new(RouteParts {
            name: spec.name,
            source,
            condition: spec.condition,
            enrichments: spec.enrichments,
            endpoints: spec.endpoints,
            enabled: spec.enabled,
            annotate_telemetry: spec.annotate_telemetry,
        })
    }
}

impl From<Route> for RouteSpec {
    fn from(r: Route) -> RouteSpec {
        RouteSpec {
            name: r.name,
            source: r.source.as_str().to_owned(),
            condition: r.condition_text,
            enrichments: r
                .enrichments
                .iter()
                .map(|e| (e.key.clone(), e.value.text()))
                .collect(),
            endpoints: r.endpoints,
            enabled: r.enabled,
            annotate_telemetry: r.annotate_telemetry,
        }
    }
}

/// What [`Route::test`] found.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteTest {
    /// The message comes from the route's source.
    pub source_matches: bool,
    /// The route would send the message to its endpoints.
    pub matched: bool,
    /// The condition's value (`None`: undefined, which does not route).
    pub value: Option<Value>,
    pub enrichments: Vec<(String, String)>,
}

/// The fallback route: telemetry that matches no enabled telemetry route goes here.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FallbackRoute {
    pub endpoints: Vec<EndpointName>,
    #[serde(default = "yes")]
    pub enabled: bool,
}

/// The routes of a hub, checked as a whole.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RouteSetSpec", into = "RouteSetSpec")]
pub struct RouteSet {
    routes: Vec<Route>,
    fallback: Option<FallbackRoute>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteSetSpec {
    #[serde(default)]
    routes: Vec<Route>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fallback: Option<FallbackRoute>,
}

impl TryFrom<RouteSetSpec> for RouteSet {
    type Error = RouteError;
    fn try_from(spec: RouteSetSpec) -> Result<RouteSet, RouteError> {
        RouteSet::new(spec.routes, spec.fallback)
    }
}

impl From<RouteSet> for RouteSetSpec {
    fn from(s: RouteSet) -> RouteSetSpec {
        RouteSetSpec {
            routes: s.routes,
            fallback: s.fallback,
        }
    }
}

/// One endpoint's copy of a message.
#[derive(Clone, Debug, PartialEq)]
pub struct Delivery {
    pub endpoint: EndpointName,
    /// The routes that sent it (`$fallback` for the fallback route).
    pub routes: Vec<String>,
    /// A matching route asked for the model annotation.
    pub annotate: bool,
    /// The enrichments to set, in order.
    pub enrichments: Vec<(String, String)>,
}

impl Delivery {
    /// The endpoint's copy of `envelope`: with the enrichments set as application properties
    /// (replacing the device's own of the same name: the hub's configuration wins).
    pub fn apply(&self, envelope: &Envelope) -> Envelope {
        let mut copy = envelope.clone();
        for (k, v) in &self.enrichments {
            copy.properties.set(k.clone(), v.clone());
        }
        copy
    }
}

pub const FALLBACK_ROUTE_NAME: &str = "$fallback";

impl RouteSet {
    /// Checks that route names are unique (case-insensitively).
    pub fn new(
        routes: Vec<Route>,
        fallback: Option<FallbackRoute>,
    ) -> Result<RouteSet, RouteError> {
        let mut names = HashSet::new();
        for r in &routes {
            if !names.insert(r.name.to_ascii_lowercase()) {
                return Err(RouteError::DuplicateRoute {
                    name: r.name.clone(),
                });
            }
        }
        Ok(RouteSet { routes, fallback })
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    pub fn fallback(&self) -> Option<&FallbackRoute> {
        self.fallback.as_ref()
    }

    pub fn route(&self, name: &str) -> Option<&Route> {
        self.routes
            .iter()
            .find(|r| r.name.eq_ignore_ascii_case(name))
    }

    /// Every endpoint the routes name, in first-mention order.
    pub fn endpoint_names(&self) -> Vec<&EndpointName> {
        let mut seen = HashSet::new();
        self.routes
            .iter()
            .flat_map(|r| r.endpoints.iter())
            .chain(self.fallback.iter().flat_map(|f| f.endpoints.iter()))
            .filter(|e| seen.insert(*e))
            .collect()
    }

    /// Checks that every endpoint named exists; every problem is returned.
    pub fn check_endpoints(&self, known: &[EndpointName]) -> Result<(), Vec<RouteError>> {
        let listing = if known.is_empty() {
            "none".to_owned()
        } else {
            known
                .iter()
                .map(EndpointName::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let named = self
            .routes
            .iter()
            .map(|r| (format!("route '{}'", r.name), &r.endpoints))
            .chain(
                self.fallback
                    .iter()
                    .map(|f| ("the fallback route".to_owned(), &f.endpoints)),
            );
        let errors: Vec<RouteError> = named
            .flat_map(|(route, endpoints)| {
                endpoints
                    .iter()
                    .filter(|e| !known.contains(e))
                    .map(|e| RouteError::UnknownEndpoint {
                        route: route.clone(),
                        endpoint: e.to_string(),
                        known: listing.clone(),
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Which endpoints get the message, each once, with its enrichments. `twin` is the
    /// sender's twin as the service API shows it (`tags`, `properties.desired|reported`).
    pub fn deliveries(&self, envelope: &Envelope, twin: Option<&Value>) -> Vec<Delivery> {
        let message = RoutedMessage::new(envelope, twin);
        let view = MessageView::new(&message);
        let mut out: Vec<Delivery> = Vec::new();
        let mut any_route_matched = false;
        for route in self
            .routes
            .iter()
            .filter(|r| r.enabled && r.source == envelope.source)
        {
            if !route.condition.matches_view(&view) {
                continue;
            }
            any_route_matched = true;
            let enrichments = route.resolve_enrichments(envelope, twin);
            for endpoint in &route.endpoints {
                let delivery = match out.iter_mut().find(|d| &d.endpoint == endpoint) {
                    Some(d) => d,
                    None => {
                        out.push(Delivery {
                            endpoint: endpoint.clone(),
                            routes: Vec::new(),
                            annotate: false,
                            enrichments: Vec::new(),
                        });
                        let last = out.len() - 1;
                        &mut out[last]
                    }
                };
                delivery.routes.push(route.name.clone());
                delivery.annotate |= route.annotate_telemetry;
                for (k, v) in &enrichments {
                    match delivery
                        .enrichments
                        .iter_mut()
                        .find(|(key, _)| key.eq_ignore_ascii_case(k))
                    {
                        Some(slot) => slot.1 = v.clone(),
                        None => delivery.enrichments.push((k.clone(), v.clone())),
                    }
                }
            }
        }
        if !any_route_matched
            && envelope.source == MessageSource::Telemetry
            && let Some(fallback) = self.fallback.as_ref().filter(|f| f.enabled)
        {
            for endpoint in &fallback.endpoints {
                if out.iter().all(|d| &d.endpoint != endpoint) {
                    out.push(Delivery {
                        endpoint: endpoint.clone(),
                        routes: vec![FALLBACK_ROUTE_NAME.to_owned()],
                        annotate: false,
                        enrichments: Vec::new(),
                    });
                }
            }
        }
        out
    }
}

/// An envelope with its device's twin, as routing conditions see it.
pub struct RoutedMessage<'a> {
    envelope: &'a Envelope,
    twin: Option<&'a Value>,
    enqueued_time: String,
    source: &'static str,
}

impl<'a> RoutedMessage<'a> {
    pub fn new(envelope: &'a Envelope, twin: Option<&'a Value>) -> RoutedMessage<'a> {
        RoutedMessage {
            envelope,
            twin,
            enqueued_time: format_time(envelope.system_properties.enqueued_time),
            source: envelope.source.as_str(),
        }
    }
}

impl RoutingMessage for RoutedMessage<'_> {
    fn system_property(&self, property: SystemProperty) -> Option<&str> {
        let s = &self.envelope.system_properties;
        match property {
            SystemProperty::ContentType => s.content_type.as_deref(),
            SystemProperty::ContentEncoding => s.content_encoding.as_deref(),
            SystemProperty::ConnectionDeviceId => Some(&s.connection_device_id),
            SystemProperty::ConnectionModuleId => s.connection_module_id.as_deref(),
            SystemProperty::ConnectionDeviceGenerationId => {
                s.connection_auth_generation_id.as_deref()
            }
            SystemProperty::ConnectionAuthMethod => s.connection_auth_method.as_deref(),
            SystemProperty::EnqueuedTime => Some(&self.enqueued_time),
            SystemProperty::MessageId => s.message_id.as_deref(),
            SystemProperty::CorrelationId => s.correlation_id.as_deref(),
            SystemProperty::UserId => s.user_id.as_deref(),
            SystemProperty::DtDataSchema | SystemProperty::ModelId => s.dt_dataschema.as_deref(),
            SystemProperty::DtSubject => s.dt_subject.as_deref(),
        }
    }

    fn application_property(&self, name: &str) -> Option<&str> {
        // `iothub-message-source` is a system property on the wire but conditions reach it
        // as `$iothub-message-source`, which twinhub-query treats as an application name.
        if name.eq_ignore_ascii_case("$iothub-message-source")
            || name.eq_ignore_ascii_case("iothub-message-source")
        {
            return Some(self.source);
        }
        self.envelope.properties.get(name)
    }

    fn body(&self) -> &[u8] {
        &self.envelope.body
    }

    fn twin(&self) -> Option<&Value> {
        self.twin
    }
}

/// Enrichments in TOML/JSON: an object of key → value, order kept.
mod pairs {
    use std::fmt;

    use serde::de::{MapAccess, Visitor};
    use serde::ser::SerializeMap;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(pairs: &[(String, String)], s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(pairs.len()))?;
        for (k, v) in pairs {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, String)>, D::Error> {
        struct PairsVisitor;
        impl<'de> Visitor<'de> for PairsVisitor {
            type Value = Vec<(String, String)>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of enrichment names to values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(pair) = access.next_entry::<String, String>()? {
                    out.push(pair);
                }
                Ok(out)
            }
        }
        d.deserialize_map(PairsVisitor)
    }
}
