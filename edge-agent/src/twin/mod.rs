//! Learning on the cluster's own workload (issue 7): a candidate policy is trained in the
//! digital twin (the simulator, configured like this cluster) on the request rate the agent
//! recorded, judged against the policy in service and the HPA on recorded traffic it never
//! trained on, and promoted into the model store only if it is cheaper at no loss of SLO
//! compliance.
//!
//! The parts, in the order `edge-agent retrain` uses them:
//! - `recording`: the experience log's request rate as a per-second series, cut into a
//!   training slice and a held-back slice;
//! - `augment`: seeded variations of the training slice (scaled peaks, injected spikes,
//!   shifted phase), so the candidate also meets traffic somewhat worse than what happened;
//! - `retrain`: the candidate, trained from the current model's weights by the same local
//!   trainer a federation round uses;
//! - `priority`: the process's CPU priority lowered first, so training yields to the node's
//!   workloads;
//! - `gate`: the promotion decision, pure;
//! - `store`: the model directory a running agent loads from, with the previous model kept
//!   for rollback and every verdict logged, each change crash-safe;
//! - `timer`: `run`'s schedule, retraining as a child process every so many hours of
//!   recorded traffic;
//! - `federated` and `global_gate`: a federated agent's rounds trained in the twin, and
//!   the same gate applied to the global models that come back.
//!
//! Everything but `priority`, `store` and the reading of the log is pure and deterministic
//! for a seed: no clock, no I/O.

pub(crate) mod augment;
pub(crate) mod federated;
pub(crate) mod gate;
pub(crate) mod global_gate;
pub(crate) mod offline;
pub(crate) mod priority;
pub(crate) mod recording;
pub(crate) mod retrain;
pub(crate) mod store;
pub(crate) mod synthetic;
#[cfg(test)]
pub(crate) mod test_support;
pub(crate) mod timer;
