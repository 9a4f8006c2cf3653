//! Prometheus metrics kept in process: requests by method, route and status, and a latency
//! histogram by method and route. Routes are the matched patterns, never raw paths, so the
//! number of series stays bounded whatever clients request.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Default)]
struct Latency {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

/// Request counters and latency histograms.
#[derive(Default)]
pub struct Metrics {
    requests: RwLock<BTreeMap<(String, String, u16), Arc<AtomicU64>>>,
    latency: RwLock<BTreeMap<(String, String), Arc<Latency>>>,
}

impl Metrics {
    pub fn observe(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        counter(
            &self.requests,
            (method.to_owned(), route.to_owned(), status),
        )
        .fetch_add(1, Ordering::Relaxed);
        let latency = counter(&self.latency, (method.to_owned(), route.to_owned()));
        let seconds = elapsed.as_secs_f64();
        for (bound, bucket) in BUCKETS.iter().zip(&latency.buckets) {
            if seconds <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        latency.count.fetch_add(1, Ordering::Relaxed);
        latency.sum_micros.fetch_add(
            u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// The Prometheus text exposition, with `models_stored` from the caller.
    pub fn render(&self, models_stored: i64) -> String {
        let mut out = String::new();
        out.push_str("# HELP twinhub_http_requests_total HTTP requests by method, matched route and status.\n");
        out.push_str("# TYPE twinhub_http_requests_total counter\n");
        if let Ok(requests) = self.requests.read() {
            for ((method, route, status), count) in requests.iter() {
                let _ = writeln!(
                    out,
                    "twinhub_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{status}\"}} {}",
                    escape(method),
                    escape(route),
                    count.load(Ordering::Relaxed)
                );
            }
        }
        out.push_str("# HELP twinhub_http_request_duration_seconds Time to answer HTTP requests by method and matched route.\n");
        out.push_str("# TYPE twinhub_http_request_duration_seconds histogram\n");
        if let Ok(latencies) = self.latency.read() {
            for ((method, route), latency) in latencies.iter() {
                let labels = format!("method=\"{}\",route=\"{}\"", escape(method), escape(route));
                for (bound, bucket) in BUCKETS.iter().zip(&latency.buckets) {
                    let _ = writeln!(
                        out,
                        "twinhub_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {}",
                        bucket.load(Ordering::Relaxed)
                    );
                }
                let count = latency.count.load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "twinhub_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {count}"
                );
                let sum = latency.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
                let _ = writeln!(
                    out,
                    "twinhub_http_request_duration_seconds_sum{{{labels}}} {sum}"
                );
                let _ = writeln!(
                    out,
                    "twinhub_http_request_duration_seconds_count{{{labels}}} {count}"
                );
            }
        }
        out.push_str("# HELP twinhub_models_stored Model versions stored in the repository.\n");
        out.push_str("# TYPE twinhub_models_stored gauge\n");
        let _ = writeln!(out, "twinhub_models_stored {models_stored}");
        out
    }
}

fn counter<K: Ord + Clone, V: Default>(map: &RwLock<BTreeMap<K, Arc<V>>>, key: K) -> Arc<V> {
    if let Some(found) = map.read().ok().and_then(|m| m.get(&key).cloned()) {
        return found;
    }
    match map.write() {
        Ok(mut m) => m.entry(key).or_default().clone(),
        Err(_) => Arc::new(V::default()),
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Middleware recording every request in the [`Metrics`] found in app data.
pub async fn record(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let metrics = request.app_data::<web::Data<Metrics>>().cloned();
    let response = next.call(request).await?;
    if let Some(metrics) = metrics {
        let route = response
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned());
        metrics.observe(
            &method,
            &route,
            response.status().as_u16(),
            started.elapsed(),
        );
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendering_shows_counts_buckets_and_the_model_gauge() {
        let metrics = Metrics::default();
        metrics.observe("GET", "/dtmi/{tail:.*}", 200, Duration::from_millis(2));
        metrics.observe("GET", "/dtmi/{tail:.*}", 200, Duration::from_millis(30));
        metrics.observe("GET", "/dtmi/{tail:.*}", 404, Duration::from_micros(100));
        let text = metrics.render(7);
        assert!(text.contains("twinhub_http_requests_total{method=\"GET\",route=\"/dtmi/{tail:.*}\",status=\"200\"} 2"), "{text}");
        assert!(text.contains("le=\"0.0025\"} 2"), "{text}");
        assert!(text.contains("le=\"+Inf\"} 3"), "{text}");
        assert!(text.contains("twinhub_models_stored 7"), "{text}");
    }
}
