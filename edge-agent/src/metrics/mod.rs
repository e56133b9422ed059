//! Where the agent's metrics come from. A control loop reads one [`ObservedMetrics`] per
//! decision through [`MetricsSource`]; the simulator is one source and a real Prometheus
//! the other, so the same loop, safety layer and tests run against both. The loop is
//! generic over the source, which is why the trait uses `async fn` rather than a boxed
//! object.

mod error;
mod prometheus;
mod queries;
mod simulated;

use std::future::Future;

use common::policy::ObservedMetrics;

pub use error::{ConfigError, MetricsError};
pub use prometheus::{PrometheusSource, https_client};
pub use queries::{Entry, PrometheusConfig, QuerySet, QueryTemplates, Target};
pub use simulated::SimulatedSource;

/// A source of the lagged metrics a policy decides on.
pub trait MetricsSource {
    /// Reads the metrics as of `now_s` (unix seconds for a real cluster, simulated seconds
    /// for the simulator). A source that cannot vouch for every entry returns an error
    /// rather than a partial or made-up value, so the safety layer can fall back.
    fn read(
        &mut self,
        now_s: u64,
    ) -> impl Future<Output = Result<ObservedMetrics, MetricsError>> + Send;
}
