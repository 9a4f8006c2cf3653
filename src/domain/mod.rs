//! The repository's nouns and pure rules, without HTTP, SQL or I/O: what a model version,
//! a namespace, a grant and a validation issue are, how a push body is read, the semantic
//! diff of two interfaces and the search facets of one. Depends on `dtdl` only.

pub mod access;
pub mod batch;
pub mod diff;
pub mod facets;
pub mod issue;
pub mod model;
pub mod policy;
