//! twinhub-twin: device and module twins as IoT Hub keeps them (tags, desired and reported
//! properties with `$version`s and `$metadata`, twin `version`, etag, model id, merge patch,
//! limits), and the documents the device and the service APIs show.
//!
//! The crate is pure: no I/O, no async runtime. The hub stores a [`Twin`] in its serialised
//! form and calls its operations inside its own transactions.

mod error;
mod etag;
mod limits;
mod section;
mod time;
mod twin;

pub use error::{SectionKind, TwinError};
pub use etag::{Etag, EtagError, IfMatch, IfMatchError};
pub use limits::{TwinLimits, members_size};
pub use time::{Timestamp, format_timestamp};
pub use twin::{DesiredUpdate, Twin};
