//! Where the agent's decisions take effect: an [`Actuator`] reads how many replicas the
//! target workload asks for and which of its pods are serving, and changes the replica
//! count. The control loop is generic over it so the same loop drives a real Deployment
//! through the Kubernetes API ([`KubeActuator`]) or the simulator ([`SimulatedActuator`]),
//! and tests can run the loop without a cluster.

mod error;
mod kube;
mod simulated;

use std::future::Future;

use common::policy::PodView;

pub use self::error::{ActuatorError, ClientError};
pub use self::kube::{
    DEFAULT_TIMEOUT, KubeActuator, client_from_kubeconfig, infer_client, user_agent,
};
pub use self::simulated::SimulatedActuator;

/// The workload as the API reports it at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct ScaleState {
    /// The replicas asked for (`spec.replicas` of the scale subresource): what the
    /// workload converges to, which may differ from the pods that exist right now.
    pub spec_replicas: u32,
    /// The pods that count toward the workload: neither terminating nor finished.
    pub pods: Vec<PodView>,
    /// Pods whose Ready condition is true.
    pub ready: u32,
    /// Pods that exist but are not ready yet (scheduling, pulling, starting, or failing
    /// their readiness probe).
    pub pending: u32,
}

impl ScaleState {
    /// Builds the state from the pods that count, deriving the ready and pending counts
    /// so that the three can never disagree.
    pub fn from_pods(spec_replicas: u32, pods: Vec<PodView>) -> Self {
        let ready = pods.iter().filter(|p| p.ready_at_s.is_some()).count();
        let ready = u32::try_from(ready).unwrap_or(u32::MAX);
        let total = u32::try_from(pods.len()).unwrap_or(u32::MAX);
        Self {
            spec_replicas,
            pods,
            ready,
            pending: total - ready,
        }
    }
}

/// Reads and changes the scale of one workload.
///
/// The futures are `Send` so that a control loop generic over the actuator can run on a
/// multi-threaded runtime.
pub trait Actuator {
    /// The replicas asked for and the pods that exist.
    fn state(&mut self) -> impl Future<Output = Result<ScaleState, ActuatorError>> + Send;

    /// Asks for `replicas` pods. Returns once the API has accepted the change, not once
    /// the pods are ready. An error (a timeout above all) does not prove the change was
    /// not made; the request sets an absolute count, so sending it again is harmless, and
    /// the next [`Actuator::state`] tells what is in force.
    fn scale(&mut self, replicas: u32) -> impl Future<Output = Result<(), ActuatorError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_come_from_the_pods() {
        let pods = vec![
            PodView {
                created_at_s: 10,
                ready_at_s: Some(20),
            },
            PodView {
                created_at_s: 30,
                ready_at_s: None,
            },
            PodView {
                created_at_s: 31,
                ready_at_s: None,
            },
        ];
        let state = ScaleState::from_pods(4, pods);
        assert_eq!(state.spec_replicas, 4);
        assert_eq!(state.ready, 1);
        assert_eq!(state.pending, 2);
        assert_eq!(state.pods.len(), 3);
    }
}
