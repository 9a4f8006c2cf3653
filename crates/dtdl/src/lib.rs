//! twinhub-dtdl: Digital Twin Modeling Identifiers, a DTDL v2/v3/v4 parser with errors as
//! data, the object model backends consume, and payload validation against parsed schemas.
//!
//! The crate is pure: no I/O and no async runtime. Missing definitions are obtained through
//! the [`Resolver`] trait the caller implements.

pub mod dtmi;
mod error;
mod fxhash;
mod instance;
mod location;
mod metamodel;
pub mod model;
mod options;
mod parser;
mod payload;
mod reference_json;
mod resolver;

pub use dtmi::{Dtmi, DtmiError, dmr_expanded_path_to_lowercase_dtmi, dmr_path_to_lowercase_dtmi};
pub use error::{
    DocumentRef, ParseFailure, ParsingError, ResolutionError, ResolverError, SourceLocation,
};
pub use model::{DocumentInfo, ElementRef, Model, PropertyValue};
pub use options::{ParsingOptions, Quirks, UndefinedExtensions};
pub use parser::parse;
#[cfg(feature = "async")]
pub use parser::parse_async;
pub use payload::{PayloadError, PayloadErrorKind};
#[cfg(feature = "async")]
pub use resolver::AsyncResolver;
pub use resolver::Resolver;
