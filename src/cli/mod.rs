//! Client-side commands of the `twinhub` binary, talking to a running repository over HTTP.

pub mod push;
