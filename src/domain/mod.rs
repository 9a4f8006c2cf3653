//! Repository rules without HTTP or SQL: what a model version is, how a push is checked and
//! stored, and how DMR documents are built and cached.

pub mod access;
pub mod batch;
pub mod diff;
pub mod facets;
pub mod inspect;
pub mod issue;
pub mod model;
pub mod publish;
pub mod resolution;
