//! The global models a federated agent may decide with: the newest one the federation
//! client holds, loaded as this agent's network, and (with a [`GlobalGate`]) judged in the
//! twin against the policy in service before it is served.
//!
//! A model that cannot be run, or that the gate keeps out, is remembered by version so it
//! is logged once rather than every interval; the next version gets its own chance. The
//! gate plays the held-back slice on a thread of its own at lowered CPU priority, and the
//! control loop picks the verdict up at the first interval after it is ready, so a
//! decision never waits for a verdict.

use std::sync::Arc;

use common::proto::GlobalModel;
use common::rl::artifact::{Algo, TrainConfig};
use common::rl::policy::LearnedPolicy;
use common::sim::SimConfig;
use tokio::sync::{oneshot, watch};
use tracing::debug;

use crate::federation::global_model_policy;
use crate::twin::gate::{GateError, Verdict};
use crate::twin::global_gate::GlobalGate;
use crate::twin::priority::{DEFAULT_NICE, lower_priority};

/// A recalibrated twin, as the control loop takes it: what observations are normalised
/// by from now on, and (with a gate) what global models are judged in.
#[derive(Debug)]
pub(crate) struct TwinUpdate {
    pub(crate) sim: SimConfig,
    pub(crate) gate: Option<GlobalGate>,
}

/// A verdict under way.
#[derive(Debug)]
struct Pending {
    version: u64,
    policy: LearnedPolicy,
    verdict: oneshot::Receiver<Result<Verdict, GateError>>,
}

/// What the control loop should do about global models at this interval.
#[derive(Debug)]
pub(crate) enum Next {
    /// Decide with `policy`, the global model of `version`, from now on; `verdict` is the
    /// gate's when there is a gate.
    Adopt {
        policy: Box<LearnedPolicy>,
        version: u64,
        verdict: Option<Box<Verdict>>,
    },
    /// The gate kept the policy in service.
    Kept { version: u64, verdict: Box<Verdict> },
    /// The model cannot be run, or the gate could not judge it: the policy in service
    /// stays.
    Refused { version: u64, why: String },
}

/// Where global models come from when the agent federates: the client's model channel,
/// and what the fleet's networks are (algorithm and training configuration).
#[derive(Debug)]
pub(crate) struct GlobalModels {
    models: watch::Receiver<Option<Arc<GlobalModel>>>,
    algo: Algo,
    cfg: TrainConfig,
    /// The newest version refused or kept out, so it is dealt with once.
    refused: u64,
    gate: Option<Arc<GlobalGate>>,
    pending: Option<Pending>,
}

impl GlobalModels {
    /// Models from `models`, built as `algo` networks shaped by `cfg`.
    pub(crate) fn new(
        models: watch::Receiver<Option<Arc<GlobalModel>>>,
        algo: Algo,
        cfg: TrainConfig,
    ) -> Self {
        Self {
            models,
            algo,
            cfg,
            refused: 0,
            gate: None,
            pending: None,
        }
    }

    /// Serves a global model only once `gate` has judged it better than the policy in
    /// service.
    pub(crate) fn gated_by(mut self, gate: GlobalGate) -> Self {
        self.gate = Some(Arc::new(gate));
        self
    }

    /// Judges (and builds envelopes) in the recalibrated twin from now on. A verdict under
    /// way finishes in the twin it started in.
    pub(crate) fn retwin(&mut self, update: &TwinUpdate) {
        self.cfg.env.sim = update.sim.clone();
        if let Some(gate) = &update.gate {
            self.gate = Some(Arc::new(gate.clone()));
        }
    }

    /// The training configuration the fleet's networks are shaped by.
    pub(crate) fn config(&self) -> &TrainConfig {
        &self.cfg
    }

    /// What to do now, given the version in service and (only called when a gate needs
    /// it) the learned policy in service, `None` for the HPA rule.
    pub(crate) fn poll(
        &mut self,
        in_service: u64,
        current: impl FnOnce() -> Option<LearnedPolicy>,
    ) -> Option<Next> {
        if let Some(pending) = &mut self.pending {
            let verdict = match pending.verdict.try_recv() {
                Err(oneshot::error::TryRecvError::Empty) => return None,
                Err(oneshot::error::TryRecvError::Closed) => {
                    Err("the gate's thread ended without a verdict".to_owned())
                }
                Ok(Err(e)) => Err(format!("the gate could not judge it: {e}")),
                Ok(Ok(v)) => Ok(v),
            };
            let Pending {
                version, policy, ..
            } = self.pending.take().expect("pending was just matched");
            return Some(match verdict {
                Ok(v) if v.promote => Next::Adopt {
                    policy: Box::new(policy),
                    version,
                    verdict: Some(Box::new(v)),
                },
                Ok(v) => {
                    self.refused = version;
                    Next::Kept {
                        version,
                        verdict: Box::new(v),
                    }
                }
                Err(why) => {
                    self.refused = version;
                    Next::Refused { version, why }
                }
            });
        }
        let model = self.models.borrow().clone()?;
        let version = model.version;
        if version <= in_service || version == self.refused {
            return None;
        }
        let policy = match global_model_policy(&model, self.algo, &self.cfg) {
            Ok(policy) => policy,
            Err(e) => {
                self.refused = version;
                return Some(Next::Refused {
                    version,
                    why: e.to_string(),
                });
            }
        };
        let Some(gate) = &self.gate else {
            return Some(Next::Adopt {
                policy: Box::new(policy),
                version,
                verdict: None,
            });
        };
        let (send, verdict) = oneshot::channel();
        let (gate, candidate, current) = (Arc::clone(gate), policy.clone(), current());
        let spawned = std::thread::Builder::new()
            .name(format!("global-gate-v{version}"))
            .spawn(move || {
                // The nice value is the thread's: only this thread yields to the workloads.
                if let Err(e) = lower_priority(DEFAULT_NICE) {
                    debug!(error = %e, "the gate runs at normal priority");
                }
                let _ = send.send(gate.judge(candidate, current));
            });
        if let Err(e) = spawned {
            self.refused = version;
            return Some(Next::Refused {
                version,
                why: format!("cannot start the gate's thread: {e}"),
            });
        }
        self.pending = Some(Pending {
            version,
            policy,
            verdict,
        });
        None
    }
}
