//! The cluster simulator: the embedded default metrics source and actuator.
//!
//! One tick is one simulated second. Arrivals are fluid (fractional requests), so the
//! model is deterministic given its traffic series and seed; randomness enters only
//! through pod start-up jitter and the traffic's own seeded noise.
//!
//! Per tick: pods whose start-up finished become ready; arrivals join the backlog; ready
//! pods serve up to `ready × capacity_rps`; what is left waits, up to `queue_limit` per
//! ready pod, and the rest fails; served requests' latencies go into a histogram
//! ([`latency`]); counters accumulate per scrape, and every `scrape_interval_s` the
//! policy-visible metrics are recomputed as `rate()` over the last `rate_window_s`.

mod cluster;
mod config;
mod counters;
pub mod latency;
mod pods;

pub use crate::error::ConfigError;
pub use cluster::{IntervalOutcome, Ledger, Simulator};
pub use config::{CostConfig, LatencyConfig, MetricsConfig, PodConfig, ReplicaConfig, SimConfig};
pub use counters::{Counters, Gauges};
