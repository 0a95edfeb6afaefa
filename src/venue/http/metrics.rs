//! Process-wide venue request metrics: every account's REST client records into one set, the
//! way the limiter is shared per venue and host. `/metrics` adds them at scrape time.

use super::limiter::Limiter;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};
use std::sync::atomic::AtomicU64;
use std::sync::OnceLock;
use std::time::Duration;

type Labels = Vec<(&'static str, String)>;

/// The families registered here, as named in `/metrics` (without the `trade_engine_` prefix).
/// They appear only once a venue has been talked to, so tests checking the shipped dashboard
/// against a sim-only daemon read the names from here.
pub const FAMILIES: [&str; 5] = [
    "venue_request_duration_seconds",
    "rate_limit_wait_seconds",
    "venue_rate_limited",
    "circuit_breaker_refusals",
    "circuit_breaker_open",
];
type FloatCounter = Counter<f64, AtomicU64>;

fn latency_histogram() -> Histogram {
    // 5 ms .. ~20 s.
    Histogram::new(exponential_buckets(0.005, 2.0, 13))
}

pub struct VenueMetrics {
    latency: Family<Labels, Histogram, fn() -> Histogram>,
    rate_limit_wait: Family<Labels, FloatCounter>,
    rate_limited: Family<Labels, Counter>,
    circuit_refusals: Family<Labels, Counter>,
}

pub fn venue_metrics() -> &'static VenueMetrics {
    static METRICS: OnceLock<VenueMetrics> = OnceLock::new();
    METRICS.get_or_init(|| VenueMetrics {
        latency: Family::new_with_constructor(latency_histogram),
        rate_limit_wait: Family::default(),
        rate_limited: Family::default(),
        circuit_refusals: Family::default(),
    })
}

impl VenueMetrics {
    /// One request that got an HTTP answer (any status). `endpoint` is the URL path, a small
    /// fixed set per venue.
    pub fn request(&self, venue: &str, endpoint: &str, took: Duration) {
        self.latency
            .get_or_create(&vec![
                ("venue", venue.into()),
                ("endpoint", endpoint.into()),
            ])
            .observe(took.as_secs_f64());
    }

    pub fn waited(&self, venue: &str, took: Duration) {
        self.rate_limit_wait
            .get_or_create(&vec![("venue", venue.into())])
            .inc_by(took.as_secs_f64());
    }

    pub fn rate_limited(&self, venue: &str) {
        self.rate_limited
            .get_or_create(&vec![("venue", venue.into())])
            .inc();
    }

    pub fn circuit_refused(&self, venue: &str) {
        self.circuit_refusals
            .get_or_create(&vec![("venue", venue.into())])
            .inc();
    }

    pub fn register(&self, r: &mut Registry) {
        r.register_with_unit(
            "venue_request_duration",
            "Venue REST requests answered with a status below 500, by venue and endpoint (URL path).",
            Unit::Seconds,
            self.latency.clone(),
        );
        r.register_with_unit(
            "rate_limit_wait",
            "Time requests waited for our own rate limiter, by venue.",
            Unit::Seconds,
            self.rate_limit_wait.clone(),
        );
        r.register(
            "venue_rate_limited",
            "Requests the venue refused as over its rate limit, by venue.",
            self.rate_limited.clone(),
        );
        r.register(
            "circuit_breaker_refusals",
            "Requests refused locally because the venue's circuit breaker was open.",
            self.circuit_refusals.clone(),
        );
        let open: Family<Labels, Gauge> = Family::default();
        for (venue, host, limiter) in Limiter::all() {
            open.get_or_create(&vec![("venue", venue), ("host", host)])
                .set(i64::from(limiter.holding()));
        }
        r.register(
            "circuit_breaker_open",
            "1 while requests to a venue host are held (breaker open, or a key or bucket refused or at the venue's limit).",
            open,
        );
    }
}
