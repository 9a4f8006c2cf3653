//! The MQTT endpoint driven over real TLS by `rumqttc` devices (and a raw client for what
//! rumqttc will not send), each test on its own hub at its own `127.0.0.N`.

mod bad_input;
mod c2d;
mod cluster;
mod connect;
mod methods;
mod support;
mod telemetry;
mod twin;
mod x509;
