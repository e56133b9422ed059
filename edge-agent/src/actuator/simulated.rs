//! The actuator for the simulator, so the real control loop (safety layer, circuit
//! breaker, shadow mode) can run against a simulated Deployment, with the same pod
//! lifecycle the policies were trained on, and no cluster.

use std::borrow::BorrowMut;

use common::sim::Simulator;

use super::error::ActuatorError;
use super::{Actuator, ScaleState};

/// Scales a [`Simulator`]. Generic over how the simulator is held so the caller that
/// steps it can lend it (`&mut Simulator`) or hand it over.
#[derive(Debug)]
pub struct SimulatedActuator<S> {
    sim: S,
}

impl<S: BorrowMut<Simulator>> SimulatedActuator<S> {
    /// Acts on `sim`.
    pub fn new(sim: S) -> Self {
        Self { sim }
    }

    /// The simulator, to step it between decisions.
    pub fn simulator_mut(&mut self) -> &mut Simulator {
        self.sim.borrow_mut()
    }

    /// Gives the simulator back.
    pub fn into_inner(self) -> S {
        self.sim
    }
}

impl<S: BorrowMut<Simulator> + Send> Actuator for SimulatedActuator<S> {
    async fn state(&mut self) -> Result<ScaleState, ActuatorError> {
        let sim: &Simulator = self.sim.borrow_mut();
        Ok(ScaleState::from_pods(
            sim.spec_replicas(),
            sim.pods().to_vec(),
        ))
    }

    /// The simulator clamps to its configured replica bounds, as a cluster with an
    /// admission policy would; the next [`Actuator::state`] shows what was applied.
    async fn scale(&mut self, replicas: u32) -> Result<(), ActuatorError> {
        self.sim.borrow_mut().scale_to(replicas);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use common::sim::SimConfig;
    use common::traffic::ArrivalSeries;

    use super::*;

    fn simulator() -> Simulator {
        let mut cfg = SimConfig::default();
        cfg.replicas.initial = Some(3);
        Simulator::new(cfg, ArrivalSeries::new("flat", vec![100.0; 3600]), 5).unwrap()
    }

    #[tokio::test]
    async fn new_pods_are_pending_until_the_simulator_starts_them() {
        let mut sim = simulator();
        let mut actuator = SimulatedActuator::new(&mut sim);
        let before = actuator.state().await.unwrap();
        assert_eq!(
            (before.spec_replicas, before.ready, before.pending),
            (3, 3, 0)
        );

        actuator.scale(5).await.unwrap();
        let after = actuator.state().await.unwrap();
        assert_eq!((after.spec_replicas, after.ready, after.pending), (5, 3, 2));
        assert_eq!(after.pods.len(), 5);

        // Start-up takes 30 s ± 10 s by default; four 15 s intervals cover it.
        for _ in 0..4 {
            actuator.simulator_mut().step_interval();
        }
        let started = actuator.state().await.unwrap();
        assert_eq!(
            (started.spec_replicas, started.ready, started.pending),
            (5, 5, 0)
        );
    }

    #[tokio::test]
    async fn requests_outside_the_bounds_are_clamped_by_the_simulator() {
        let mut actuator = SimulatedActuator::new(simulator());
        actuator.scale(0).await.unwrap();
        assert_eq!(actuator.state().await.unwrap().spec_replicas, 1);
        actuator.scale(500).await.unwrap();
        assert_eq!(actuator.into_inner().spec_replicas(), 20);
    }
}
