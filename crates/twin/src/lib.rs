//! twinhub-twin: device and module twins as IoT Hub keeps them (tags, desired and reported
//! properties with `$version`s and `$metadata`, twin `version`, etag, model id, merge patch,
//! limits) and the documents the device and the service APIs show; the IoT Plug and Play
//! conventions on top (components, writable-property acknowledgements, component commands and
//! telemetry); the digital-twin view and its JSON Patch; and validation of twins, commands and
//! telemetry against the device's DTDL model.
//!
//! The crate is pure: no I/O, no async runtime. The hub stores a [`Twin`] in its serialised
//! form and calls its operations inside its own transactions.

mod digital_twin;
mod error;
mod etag;
mod limits;
mod model;
pub mod pnp;
mod section;
mod time;
mod twin;
mod validate;

pub use digital_twin::{digital_twin, digital_twin_changes, digital_twin_patch_to_desired};
pub use error::{SectionKind, TwinError};
pub use etag::{Etag, EtagError, IfMatch, IfMatchError};
pub use limits::{TwinLimits, members_size};
pub use model::{CommandDef, ComponentDef, DeviceModel, ModelError, PropertyDef, TelemetryDef};
pub use pnp::{WritableAck, method_name, split_method_name};
pub use time::{Timestamp, format_timestamp};
pub use twin::{DesiredUpdate, Twin};
pub use validate::{
    ModelElement, Violation, ViolationKind, validate_command, validate_command_response,
    validate_desired, validate_reported, validate_telemetry,
};

/// Helpers shared by the unit tests.
#[cfg(test)]
mod test_support {
    use serde_json::{Map, Value};

    use crate::Timestamp;

    /// A fixed time `seconds` after the Unix epoch.
    pub(crate) fn at(seconds: i64) -> Timestamp {
        chrono::DateTime::from_timestamp(seconds, 0).expect("in range")
    }

    /// The members of a JSON object literal.
    pub(crate) fn object(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            other => panic!("not an object: {other}"),
        }
    }
}
