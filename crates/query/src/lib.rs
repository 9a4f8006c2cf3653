//! twinhub-query: the IoT Hub query language.
//!
//! - Device and module twin queries ([`DeviceQuery`]): `SELECT * | fields | COUNT() FROM
//!   devices | devices.modules [WHERE …] [GROUP BY …]`, parsed with positioned errors,
//!   evaluated over twin documents in memory, and compiled to SQL for SQLite and PostgreSQL
//!   ([`sql`]) with the same results.
//! - Message routing conditions ([`RouteCondition`]): system and application properties,
//!   `$body`, `$twin`, operators and functions, evaluated against a message the caller
//!   describes through [`RoutingMessage`].
//!
//! The crate is pure: no I/O, no async runtime, no database driver; SQL is built as text with
//! bound parameters.

mod ast;
mod device;
mod error;
mod lexer;
mod parser;
mod routing;
pub mod sql;
mod value;

pub use ast::{ArithmeticOp, CompareOp, Expr, Function, Literal, Path, Segment};
pub use device::{Collection, DeviceQuery, GroupValue, Select, SelectItem, TwinField, TwinRoot};
pub use error::{QueryError, QueryErrorKind};
pub use routing::{
    Message, MessageView, RouteCondition, RouteRoot, RoutingMessage, SystemProperty,
};
pub use sql::{
    ColumnKind, CompileError, CompiledQuery, GroupKeySql, SqlColumn, SqlDialect, SqlMapping,
    SqlParam,
};
pub use value::Val;
