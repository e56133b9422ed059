//! What the coordinator tells the outside world about itself while `coordinator serve`
//! runs, on a plain-HTTP admin port of its own (`[admin] listen`): Prometheus metrics
//! (connected agents, rounds by outcome and their duration, updates accepted and refused
//! by reason, the newest fleet version, the current round) and the liveness and readiness
//! probes Kubernetes restarts and routes by. The server's tasks write; the HTTP handlers
//! only read, so a slow scrape never holds up a round.

mod error;
pub mod health;
mod http;
pub mod metrics;

use std::sync::Arc;

pub use error::AdminError;
pub(crate) use http::{bind, serve};

use health::Health;
use metrics::CoordinatorMetrics;

/// The state the admin port reports, shared by the coordinator's tasks and the handlers.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// Counters and gauges, updated as things happen.
    pub metrics: Arc<CoordinatorMetrics>,
    /// Liveness and readiness.
    pub health: Arc<Health>,
}
