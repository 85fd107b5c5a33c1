//! Request metrics in Prometheus' text format: counts per route template,
//! method and status, and a latency histogram per route template and method.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Debug, Default)]
struct Histogram {
    /// Observations at or below each bound (not cumulative).
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Debug, Default)]
struct State {
    /// (method, route, status) -> requests.
    counts: BTreeMap<(String, String, u16), u64>,
    /// (method, route) -> latencies.
    latency: BTreeMap<(String, String), Histogram>,
}

/// The server's request metrics. Share it behind an `Arc`.
#[derive(Debug, Default)]
pub struct Metrics {
    state: Mutex<State>,
}

/// Escapes a label value for the text format.
fn label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    /// Records one finished request.
    pub fn observe(&self, method: &str, route: &str, status: u16, took: Duration) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        *s.counts
            .entry((method.to_string(), route.to_string(), status))
            .or_default() += 1;
        let h = s
            .latency
            .entry((method.to_string(), route.to_string()))
            .or_default();
        let secs = took.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            h.buckets[i] += 1;
        }
        h.count += 1;
        h.sum += secs;
    }

    /// Everything in Prometheus' text format, with `points` as the
    /// `grape_collection_points` gauge per collection.
    pub fn render(&self, points: &[(String, usize)]) -> String {
        let s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out = String::new();
        out.push_str("# HELP grape_rest_requests_total REST requests by route template, method and status.\n");
        out.push_str("# TYPE grape_rest_requests_total counter\n");
        for ((method, route, status), n) in &s.counts {
            let _ = writeln!(
                out,
                "grape_rest_requests_total{{method=\"{}\",route=\"{}\",status=\"{status}\"}} {n}",
                label(method),
                label(route)
            );
        }
        out.push_str(
            "# HELP grape_rest_request_duration_seconds REST request latency by route template and method.\n",
        );
        out.push_str("# TYPE grape_rest_request_duration_seconds histogram\n");
        for ((method, route), h) in &s.latency {
            let (m, r) = (label(method), label(route));
            let mut cumulative = 0;
            for (bound, n) in BUCKETS.iter().zip(h.buckets) {
                cumulative += n;
                let _ = writeln!(
                    out,
                    "grape_rest_request_duration_seconds_bucket{{method=\"{m}\",route=\"{r}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "grape_rest_request_duration_seconds_bucket{{method=\"{m}\",route=\"{r}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "grape_rest_request_duration_seconds_sum{{method=\"{m}\",route=\"{r}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "grape_rest_request_duration_seconds_count{{method=\"{m}\",route=\"{r}\"}} {}",
                h.count
            );
        }
        out.push_str("# HELP grape_collection_points Points per collection.\n");
        out.push_str("# TYPE grape_collection_points gauge\n");
        for (name, n) in points {
            let _ = writeln!(
                out,
                "grape_collection_points{{collection=\"{}\"}} {n}",
                label(name)
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_counts_per_status() {
        let m = Metrics::default();
        m.observe("GET", "/collections", 200, Duration::from_micros(200));
        m.observe("GET", "/collections", 200, Duration::from_millis(20));
        m.observe("GET", "/collections", 404, Duration::from_secs(10));
        let text = m.render(&[("docs".to_string(), 7)]);
        assert!(text.contains(
            "grape_rest_requests_total{method=\"GET\",route=\"/collections\",status=\"200\"} 2"
        ));
        assert!(text.contains(
            "grape_rest_requests_total{method=\"GET\",route=\"/collections\",status=\"404\"} 1"
        ));
        assert!(text.contains("route=\"/collections\",le=\"0.0005\"} 1"));
        assert!(text.contains("route=\"/collections\",le=\"0.025\"} 2"));
        assert!(text.contains("route=\"/collections\",le=\"5\"} 2"));
        assert!(text.contains("route=\"/collections\",le=\"+Inf\"} 3"));
        assert!(text.contains("grape_collection_points{collection=\"docs\"} 7"));
    }
}
