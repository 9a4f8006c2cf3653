//! Message routing conditions, as IoT Hub routes evaluate them against each message: system
//! properties (`$contentType`, `$connectionDeviceId`, …), application properties by bare name,
//! `$body.…` (only for JSON bodies: content type `application/json` and encoding UTF-8, UTF-16
//! or UTF-32), `$twin.tags.…` and `$twin.properties.desired|reported.…`, arithmetic, and the
//! routing functions. A condition routes a message only when it is `true`; undefined (a
//! missing property, a type mismatch) does not route.
//!
//! Names are matched case-insensitively, as IoT Hub does. A `$`-name that is no system property
//! is looked up as an application property of that name. Application property values are
//! strings: compare them with strings, or convert with `AS_NUMBER`.

use std::borrow::Cow;
use std::cell::OnceCell;

use serde_json::Value;

use crate::ast::{Expr, Function, Path, Segment};
use crate::error::{QueryError, QueryErrorKind};
use crate::parser::{Dialect, Parser, RawSegment};
use crate::value::{Resolve, Val, eval, follow};

/// A system property of a message, by the name routing conditions give it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SystemProperty {
    ContentType,
    ContentEncoding,
    ConnectionDeviceId,
    ConnectionModuleId,
    ConnectionDeviceGenerationId,
    ConnectionAuthMethod,
    EnqueuedTime,
    MessageId,
    CorrelationId,
    UserId,
    /// `dt-dataschema`: the model id of the device that sent the telemetry.
    DtDataSchema,
    /// `dt-subject`: the component that sent the telemetry (`$.sub`).
    DtSubject,
    /// twinhub's own: the device's model id, for every message source.
    ModelId,
}

impl SystemProperty {
    pub const ALL: [SystemProperty; 13] = [
        SystemProperty::ContentType,
        SystemProperty::ContentEncoding,
        SystemProperty::ConnectionDeviceId,
        SystemProperty::ConnectionModuleId,
        SystemProperty::ConnectionDeviceGenerationId,
        SystemProperty::ConnectionAuthMethod,
        SystemProperty::EnqueuedTime,
        SystemProperty::MessageId,
        SystemProperty::CorrelationId,
        SystemProperty::UserId,
        SystemProperty::DtDataSchema,
        SystemProperty::DtSubject,
        SystemProperty::ModelId,
    ];

    /// The name in routing conditions (with its `$`).
    pub fn query_name(self) -> &'static str {
        match self {
            SystemProperty::ContentType => "$contentType",
            SystemProperty::ContentEncoding => "$contentEncoding",
            SystemProperty::ConnectionDeviceId => "$connectionDeviceId",
            SystemProperty::ConnectionModuleId => "$connectionModuleId",
            SystemProperty::ConnectionDeviceGenerationId => "$connectionDeviceGenerationId",
            SystemProperty::ConnectionAuthMethod => "$connectionAuthMethod",
            SystemProperty::EnqueuedTime => "$enqueuedTime",
            SystemProperty::MessageId => "$messageId",
            SystemProperty::CorrelationId => "$correlationId",
            SystemProperty::UserId => "$userId",
            SystemProperty::DtDataSchema => "$dt-dataschema",
            SystemProperty::DtSubject => "$dt-subject",
            SystemProperty::ModelId => "$modelId",
        }
    }

    /// The property's name on the wire of the built-in endpoint (`iothub-connection-device-id`,
    /// `content-type`, …), also accepted in conditions after a `$`.
    pub fn wire_name(self) -> &'static str {
        match self {
            SystemProperty::ContentType => "content-type",
            SystemProperty::ContentEncoding => "content-encoding",
            SystemProperty::ConnectionDeviceId => "iothub-connection-device-id",
            SystemProperty::ConnectionModuleId => "iothub-connection-module-id",
            SystemProperty::ConnectionDeviceGenerationId => "iothub-connection-auth-generation-id",
            SystemProperty::ConnectionAuthMethod => "iothub-connection-auth-method",
            SystemProperty::EnqueuedTime => "iothub-enqueuedtime",
            SystemProperty::MessageId => "message-id",
            SystemProperty::CorrelationId => "correlation-id",
            SystemProperty::UserId => "user-id",
            SystemProperty::DtDataSchema => "dt-dataschema",
            SystemProperty::DtSubject => "dt-subject",
            SystemProperty::ModelId => "model-id",
        }
    }

    /// Looks a `$`-name up (without its `$`), case-insensitively, by either name.
    fn by_name(name: &str) -> Option<SystemProperty> {
        SystemProperty::ALL.into_iter().find(|p| {
            p.query_name()[1..].eq_ignore_ascii_case(name)
                || p.wire_name().eq_ignore_ascii_case(name)
        })
    }
}

/// Where a routing-condition path starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteRoot {
    System(SystemProperty),
    /// An application property by name (as written).
    Application(String),
    /// `$body`: the segments go into the JSON body.
    Body,
    /// `$twin`: the segments go into the twin (`tags…` or `properties…`).
    Twin,
}

/// What a routing condition can see of a message. Implemented by the caller (the hub's
/// message type); [`Message`] is a ready-made one.
pub trait RoutingMessage {
    fn system_property(&self, property: SystemProperty) -> Option<&str>;
    /// An application property, matched case-insensitively (IoT Hub's rule).
    fn application_property(&self, name: &str) -> Option<&str>;
    /// The raw body.
    fn body(&self) -> &[u8];
    /// The sender's twin as the REST API shows it (`tags`, `properties.desired`,
    /// `properties.reported`), if known.
    fn twin(&self) -> Option<&Value>;
}

/// An owned message, for tests and for callers without their own type.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Message {
    pub system: Vec<(SystemProperty, String)>,
    pub application: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub twin: Option<Value>,
}

impl RoutingMessage for Message {
    fn system_property(&self, property: SystemProperty) -> Option<&str> {
        self.system
            .iter()
            .find(|(p, _)| *p == property)
            .map(|(_, v)| v.as_str())
    }

    fn application_property(&self, name: &str) -> Option<&str> {
        self.application
            .iter()
            .find(|(k, _)| k == name)
            .or_else(|| {
                self.application
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
            })
            .map(|(_, v)| v.as_str())
    }

    fn body(&self) -> &[u8] {
        &self.body
    }

    fn twin(&self) -> Option<&Value> {
        self.twin.as_ref()
    }
}

/// A message prepared for evaluating several conditions: its JSON body is decoded once.
pub struct MessageView<'m> {
    message: &'m dyn RoutingMessage,
    body: OnceCell<Option<Value>>,
}

impl<'m> MessageView<'m> {
    pub fn new(message: &'m dyn RoutingMessage) -> MessageView<'m> {
        MessageView {
            message,
            body: OnceCell::new(),
        }
    }

    /// The body as JSON, when the message declares a JSON body and it parses.
    pub fn json_body(&self) -> Option<&Value> {
        self.body
            .get_or_init(|| decode_json_body(self.message))
            .as_ref()
    }
}

fn decode_json_body(m: &dyn RoutingMessage) -> Option<Value> {
    let content_type = m.system_property(SystemProperty::ContentType)?;
    let media = content_type.split(';').next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case("application/json") {
        return None;
    }
    let encoding = m
        .system_property(SystemProperty::ContentEncoding)?
        .trim()
        .to_ascii_lowercase();
    let bytes = m.body();
    let text = match encoding.as_str() {
        "utf-8" | "utf8" => {
            let b = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
            Cow::Borrowed(std::str::from_utf8(b).ok()?)
        }
        "utf-16" | "utf-16le" | "utf-16be" => Cow::Owned(utf16(bytes, &encoding)?),
        "utf-32" | "utf-32le" | "utf-32be" => Cow::Owned(utf32(bytes, &encoding)?),
        _ => return None,
    };
    serde_json::from_str(&text).ok()
}

/// UTF-16 with its byte order from a BOM, the label, or little-endian (what Windows-based
/// senders mean by "UTF-16").
fn utf16(bytes: &[u8], label: &str) -> Option<String> {
    let (big, body) = match bytes {
        [0xFE, 0xFF, rest @ ..] => (true, rest),
        [0xFF, 0xFE, rest @ ..] => (false, rest),
        rest => (label.ends_with("be"), rest),
    };
    if body.len() % 2 != 0 {
        return None;
    }
    let units: Vec<u16> = body
        .chunks_exact(2)
        .map(|c| {
            if big {
                u16::from_be_bytes([c[0], c[1]])
            } else {
                u16::from_le_bytes([c[0], c[1]])
            }
        })
        .collect();
    String::from_utf16(&units).ok()
}

fn utf32(bytes: &[u8], label: &str) -> Option<String> {
    let (big, body) = match bytes {
        [0x00, 0x00, 0xFE, 0xFF, rest @ ..] => (true, rest),
        [0xFF, 0xFE, 0x00, 0x00, rest @ ..] => (false, rest),
        rest => (label.ends_with("be"), rest),
    };
    if body.len() % 4 != 0 {
        return None;
    }
    body.chunks_exact(4)
        .map(|c| {
            let b = [c[0], c[1], c[2], c[3]];
            char::from_u32(if big {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            })
        })
        .collect()
}

/// A parsed routing condition.
#[derive(Clone, Debug, PartialEq)]
pub struct RouteCondition {
    pub expr: Expr<RouteRoot>,
}

impl RouteCondition {
    /// Parses a condition. `true` (IoT Hub's default route condition) routes everything.
    pub fn parse(text: &str) -> Result<RouteCondition, QueryError> {
        let mut p = Parser::new(text)?;
        let expr = p.expression::<RouteDialect>()?;
        p.expect_end("AND, OR or the end of the condition")?;
        Ok(RouteCondition { expr })
    }

    /// Whether the condition routes the message.
    pub fn matches(&self, message: &dyn RoutingMessage) -> bool {
        self.matches_view(&MessageView::new(message))
    }

    /// Whether the condition routes a prepared message (decode the body once for all routes).
    pub fn matches_view(&self, view: &MessageView<'_>) -> bool {
        eval(&self.expr, view).is_true()
    }

    /// The condition's value for a message (`None`: undefined).
    pub fn evaluate(&self, view: &MessageView<'_>) -> Option<Value> {
        eval(&self.expr, view).to_json()
    }
}

impl Resolve<RouteRoot> for MessageView<'_> {
    fn resolve(&self, path: &Path<RouteRoot>) -> Val<'_> {
        match &path.root {
            RouteRoot::System(p) => self
                .message
                .system_property(*p)
                .map_or(Val::Undefined, |v| Val::String(Cow::Borrowed(v))),
            RouteRoot::Application(name) => self
                .message
                .application_property(name)
                .map_or(Val::Undefined, |v| Val::String(Cow::Borrowed(v))),
            RouteRoot::Body => match self.json_body() {
                Some(body) => follow(body, &path.segments, true),
                None => Val::Undefined,
            },
            RouteRoot::Twin => match self.message.twin() {
                Some(twin) => follow(twin, &path.segments, true),
                None => Val::Undefined,
            },
        }
    }
}

struct RouteDialect;

const ROUTE_FUNCTIONS: [Function; 26] = Function::ALL;

impl Dialect for RouteDialect {
    type Root = RouteRoot;
    const ARITHMETIC: bool = true;
    const INDEXES: bool = true;

    fn functions() -> &'static [Function] {
        &ROUTE_FUNCTIONS
    }

    fn path(
        parser: &Parser<'_>,
        first: &str,
        offset: usize,
        rest: Vec<RawSegment>,
    ) -> Result<Path<RouteRoot>, QueryError> {
        let segments: Vec<Segment> = rest.iter().map(|r| r.segment.clone()).collect();
        let root = if first.eq_ignore_ascii_case("$body") {
            if segments.is_empty() {
                return Err(parser.error_at(
                    offset,
                    QueryErrorKind::Unsupported(
                        "the whole $body cannot be queried; name a member, e.g. \
                         $body.temperature"
                            .into(),
                    ),
                ));
            }
            RouteRoot::Body
        } else if first.eq_ignore_ascii_case("$twin") {
            let valid = match segments.first() {
                Some(Segment::Key(k)) if k.eq_ignore_ascii_case("tags") => true,
                Some(Segment::Key(k)) if k.eq_ignore_ascii_case("properties") => matches!(
                    segments.get(1),
                    Some(Segment::Key(s)) if s.eq_ignore_ascii_case("desired")
                        || s.eq_ignore_ascii_case("reported")
                ),
                _ => false,
            };
            if !valid {
                return Err(parser.error_at(
                    offset,
                    QueryErrorKind::UnknownField {
                        name: first.to_owned(),
                        hint: "query $twin.tags.…, $twin.properties.desired.… or \
                               $twin.properties.reported.…"
                            .into(),
                    },
                ));
            }
            RouteRoot::Twin
        } else if let Some(name) = first.strip_prefix('$') {
            match SystemProperty::by_name(name) {
                Some(p) => RouteRoot::System(p),
                None => RouteRoot::Application(first.to_owned()),
            }
        } else {
            RouteRoot::Application(first.to_owned())
        };
        if matches!(root, RouteRoot::System(_) | RouteRoot::Application(_))
            && let Some(extra) = rest.first()
        {
            return Err(parser.error_at(
                extra.offset,
                QueryErrorKind::Unsupported(format!(
                    "{first} is a message property, a string without members"
                )),
            ));
        }
        Ok(Path {
            root,
            segments,
            offset,
        })
    }
}
