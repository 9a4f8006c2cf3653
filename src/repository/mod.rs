//! The model repository's operations over a store, without HTTP: the push pipeline
//! (`publish`), building and caching DMR files (`resolution`), reading a stored model with
//! its closure as DTDL (`inspect`), the start-up facet backfill (`facets`) and the device
//! hub's models (`device_models`). Depends on `domain`, `store` (the traits) and `dtdl`;
//! callers pass access decisions in as [`PushAccess`](crate::domain::access::PushAccess) and
//! read scopes.

pub mod device_models;
pub mod facets;
pub mod inspect;
pub mod publish;
pub mod resolution;
