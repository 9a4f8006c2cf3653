//! twinhub: a self-hosted IoT Plug and Play model repository. Stores versioned DTDL interfaces
//! in SQLite or PostgreSQL, validates every push with the `dtdl` crate, and serves the Device
//! Models Repository tree and a JSON API. The modules are listed here so that tests can build
//! the real application.

pub mod auth;
pub mod authz;
pub mod changes;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod domain;
pub mod http;
pub mod openapi;
pub mod repository;
pub mod routes;
pub mod routing;
pub mod service;
pub mod startup;
pub mod store;
pub mod telemetry;
