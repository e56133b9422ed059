//! The simulator as a metrics source: what `edge-agent federate` and the scorecard use,
//! and the reference the Prometheus path is tested against.

use common::policy::ObservedMetrics;
use common::sim::Simulator;

use super::MetricsSource;
use super::error::MetricsError;

/// Reads a [`Simulator`]'s lagged metrics. It owns the simulator because the loop that
/// reads also steps it. The simulator's own clock is authoritative and its metrics lag
/// exactly as configured, so `now_s` (simulated seconds here) is not needed.
#[derive(Debug)]
pub struct SimulatedSource {
    sim: Simulator,
}

impl SimulatedSource {
    /// A source over `sim`.
    pub fn new(sim: Simulator) -> Self {
        Self { sim }
    }

    /// The simulator, to step and scale between reads.
    pub fn simulator_mut(&mut self) -> &mut Simulator {
        &mut self.sim
    }

    /// The simulator, to inspect.
    pub fn simulator(&self) -> &Simulator {
        &self.sim
    }
}

impl MetricsSource for SimulatedSource {
    async fn read(&mut self, _now_s: u64) -> Result<ObservedMetrics, MetricsError> {
        self.sim
            .observed()
            .copied()
            .ok_or(MetricsError::NotYetScraped)
    }
}

#[cfg(test)]
mod tests {
    use common::sim::SimConfig;
    use common::traffic::ArrivalSeries;

    use super::*;

    #[tokio::test]
    async fn reads_what_the_simulator_observed_once_it_has_scraped() {
        let sim = Simulator::new(
            SimConfig::default(),
            ArrivalSeries::new("steady", vec![300.0; 600]),
            1,
        )
        .unwrap();
        let mut source = SimulatedSource::new(sim);
        assert!(matches!(
            source.read(0).await,
            Err(MetricsError::NotYetScraped)
        ));
        source.simulator_mut().step_interval();
        let now = source.simulator().now_s();
        let m = source.read(now).await.unwrap();
        assert_eq!(Some(&m), source.simulator().observed());
        assert!((m.request_rate_rps - 300.0).abs() < 1e-6, "{m:?}");
    }
}
