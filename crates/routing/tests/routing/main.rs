//! One integration binary for twinhub-routing: route tables, model annotation, and every
//! endpoint against real services (NATS JetStream on 127.0.0.1:4222, an HTTP receiver started
//! in the test), and the router's lanes, backpressure, dead letters and outbox replay.

mod support;

mod annotate;
mod nats;
mod router;
mod routes;
mod webhook;
