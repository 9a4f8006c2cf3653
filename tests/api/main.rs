//! Integration tests: the real application over HTTP on a random port with a fresh database.
//! One binary; this file only declares the modules.

mod access;
mod bad_input;
mod cli;
mod cluster;
mod contract;
mod devices;
mod dmr;
mod external;
mod fixtures;
mod helpers;
mod hub_endpoint;
mod hub_store;
mod imports;
mod layers;
mod legacy;
mod lifecycle;
mod models;
mod oidc;
mod openapi;
mod operations;
mod pages;
mod routing_crash;
mod routing_e2e;
mod routing_store;
mod sample;
mod scale_out;
mod service;
