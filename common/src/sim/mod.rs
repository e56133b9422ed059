//! The cluster simulator: the embedded default metrics source and actuator.
//!
//! One tick is one simulated second. Arrivals are fluid (fractional requests), so the
//! model is deterministic given its traffic series and seed; randomness enters only
//! through pod start-up jitter and the traffic's own seeded noise.

mod config;
pub mod latency;

pub use config::{CostConfig, LatencyConfig, MetricsConfig, PodConfig, ReplicaConfig, SimConfig};
