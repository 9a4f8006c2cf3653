//! Logs and metrics. Logs are structured `tracing` events, human-readable by default and JSON
//! lines with `TWINHUB_LOG_FORMAT=json`; `TWINHUB_LOG` (or `RUST_LOG`) sets the filter.

pub mod metrics;

use tracing_subscriber::EnvFilter;

/// Installs the global log subscriber once; later calls are ignored.
pub fn init_logging() {
    let filter = std::env::var("TWINHUB_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info,sqlx=warn".to_owned());
    let filter = EnvFilter::try_new(&filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("TWINHUB_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}
