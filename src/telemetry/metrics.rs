//! Prometheus metrics kept in process: requests by method, route and status, and a latency
//! histogram by method and route. Routes are the matched patterns, never raw paths, so the
//! number of series stays bounded whatever clients request. The same middleware writes the
//! request log: every request at debug level, server errors at warn (a span per request would
//! cost more than answering a cached model file does).

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{HttpMessage, web};

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// What one (route, method) pair has seen.
#[derive(Default)]
struct Series {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
    /// Requests by status; a handful of entries, scanned linearly.
    statuses: RwLock<Vec<(u16, AtomicU64)>>,
}

/// The series of one route, by method; a handful of entries, scanned linearly.
type MethodSeries = RwLock<Vec<(Method, Series)>>;

/// Request counters and latency histograms. Recording takes read locks and atomic adds only;
/// a write lock is needed just the first time a route, method or status is seen.
#[derive(Default)]
pub struct Metrics {
    routes: RwLock<HashMap<String, MethodSeries>>,
}

impl Metrics {
    pub fn observe(&self, method: &Method, route: &str, status: u16, elapsed: Duration) {
        let recorded = self
            .routes
            .read()
            .ok()
            .and_then(|routes| {
                routes
                    .get(route)
                    .map(|methods| record_method(methods, method, status, elapsed))
            })
            .unwrap_or(false);
        if !recorded {
            if let Ok(mut routes) = self.routes.write() {
                routes.entry(route.to_owned()).or_default();
            }
            if let Ok(routes) = self.routes.read()
                && let Some(methods) = routes.get(route)
            {
                if let Ok(mut list) = methods.write()
                    && !list.iter().any(|(m, _)| m == method)
                {
                    list.push((method.clone(), Series::default()));
                }
                record_method(methods, method, status, elapsed);
            }
        }
    }

    /// The Prometheus text exposition, with `models_stored` from the caller.
    pub fn render(&self, models_stored: i64) -> String {
        let mut requests = Vec::new();
        let mut latencies = Vec::new();
        if let Ok(routes) = self.routes.read() {
            for (route, methods) in routes.iter() {
                let Ok(methods) = methods.read() else {
                    continue;
                };
                for (method, series) in methods.iter() {
                    let labels = format!(
                        "method=\"{}\",route=\"{}\"",
                        escape(method.as_str()),
                        escape(route)
                    );
                    if let Ok(statuses) = series.statuses.read() {
                        for (status, count) in statuses.iter() {
                            requests.push(format!(
                                "twinhub_http_requests_total{{{labels},status=\"{status}\"}} {}",
                                count.load(Ordering::Relaxed)
                            ));
                        }
                    }
                    let mut lines = Vec::new();
                    for (bound, bucket) in BUCKETS.iter().zip(&series.buckets) {
                        lines.push(format!(
                            "twinhub_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {}",
                            bucket.load(Ordering::Relaxed)
                        ));
                    }
                    let count = series.count.load(Ordering::Relaxed);
                    lines.push(format!("twinhub_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {count}"));
                    let sum = series.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
                    lines.push(format!(
                        "twinhub_http_request_duration_seconds_sum{{{labels}}} {sum}"
                    ));
                    lines.push(format!(
                        "twinhub_http_request_duration_seconds_count{{{labels}}} {count}"
                    ));
                    latencies.push((labels, lines));
                }
            }
        }
        requests.sort();
        latencies.sort();
        let mut out = String::new();
        out.push_str("# HELP twinhub_http_requests_total HTTP requests by method, matched route and status.\n");
        out.push_str("# TYPE twinhub_http_requests_total counter\n");
        for line in requests {
            let _ = writeln!(out, "{line}");
        }
        out.push_str("# HELP twinhub_http_request_duration_seconds Time to answer HTTP requests by method and matched route.\n");
        out.push_str("# TYPE twinhub_http_request_duration_seconds histogram\n");
        for line in latencies.into_iter().flat_map(|(_, lines)| lines) {
            let _ = writeln!(out, "{line}");
        }
        out.push_str("# HELP twinhub_models_stored Model versions stored in the repository.\n");
        out.push_str("# TYPE twinhub_models_stored gauge\n");
        let _ = writeln!(out, "twinhub_models_stored {models_stored}");
        out
    }
}

/// Records into the series of `method`, if it exists yet.
fn record_method(
    methods: &RwLock<Vec<(Method, Series)>>,
    method: &Method,
    status: u16,
    elapsed: Duration,
) -> bool {
    let Ok(list) = methods.read() else {
        return false;
    };
    let Some((_, series)) = list.iter().find(|(m, _)| m == method) else {
        return false;
    };
    let seconds = elapsed.as_secs_f64();
    for (bound, bucket) in BUCKETS.iter().zip(&series.buckets) {
        if seconds <= *bound {
            bucket.fetch_add(1, Ordering::Relaxed);
        }
    }
    series.count.fetch_add(1, Ordering::Relaxed);
    series.sum_micros.fetch_add(
        u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
        Ordering::Relaxed,
    );
    let counted = series
        .statuses
        .read()
        .ok()
        .and_then(|statuses| {
            statuses
                .iter()
                .find(|(s, _)| *s == status)
                .map(|(_, c)| c.fetch_add(1, Ordering::Relaxed))
        })
        .is_some();
    if !counted && let Ok(mut statuses) = series.statuses.write() {
        match statuses.iter().find(|(s, _)| *s == status) {
            Some((_, count)) => {
                count.fetch_add(1, Ordering::Relaxed);
            }
            None => statuses.push((status, AtomicU64::new(1))),
        }
    }
    true
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The route label of a request served without a matched pattern (by a scope's default
/// service); handlers put it into the request's extensions.
#[derive(Clone, Copy, Debug)]
pub struct RouteLabel(pub &'static str);

/// Middleware recording every request in the [`Metrics`] found in app data.
pub async fn record(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = request.method().clone();
    let metrics = request.app_data::<web::Data<Metrics>>().cloned();
    let response = next.call(request).await?;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    let named = response
        .request()
        .extensions()
        .get::<RouteLabel>()
        .map(|label| label.0.to_owned());
    let route = named
        .or_else(|| response.request().match_pattern())
        .unwrap_or_else(|| "unmatched".to_owned());
    if let Some(metrics) = metrics {
        metrics.observe(&method, &route, status, elapsed);
    }
    let duration_ms = elapsed.as_secs_f64() * 1000.0;
    let path = response.request().path();
    if status >= 500 {
        tracing::warn!(http.method = %method, http.route = %route, http.path = %path, http.status = status, duration_ms, "request failed");
    } else {
        tracing::debug!(http.method = %method, http.route = %route, http.path = %path, http.status = status, duration_ms, "request answered");
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendering_shows_counts_buckets_and_the_model_gauge() {
        let metrics = Metrics::default();
        metrics.observe(
            &Method::GET,
            "/dtmi/{tail:.*}",
            200,
            Duration::from_millis(2),
        );
        metrics.observe(
            &Method::GET,
            "/dtmi/{tail:.*}",
            200,
            Duration::from_millis(30),
        );
        metrics.observe(
            &Method::GET,
            "/dtmi/{tail:.*}",
            404,
            Duration::from_micros(100),
        );
        metrics.observe(
            &Method::HEAD,
            "/dtmi/{tail:.*}",
            200,
            Duration::from_micros(100),
        );
        let text = metrics.render(7);
        assert!(text.contains("twinhub_http_requests_total{method=\"GET\",route=\"/dtmi/{tail:.*}\",status=\"200\"} 2"), "{text}");
        assert!(text.contains("le=\"0.0025\"} 2"), "{text}");
        assert!(text.contains("le=\"+Inf\"} 3"), "{text}");
        assert!(text.contains("twinhub_models_stored 7"), "{text}");
        assert!(text.contains("twinhub_http_requests_total{method=\"HEAD\",route=\"/dtmi/{tail:.*}\",status=\"200\"} 1"), "{text}");
    }
}
