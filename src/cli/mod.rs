//! Commands of the `twinhub` binary besides `serve`: client commands that talk to a running
//! repository over HTTP, and admin commands that work on its database directly.

pub mod admin;
pub mod push;
