//! The agent's control loop on a real cluster, split the way the rest of the workspace is:
//! [`step::ControlStep`] is the pure decision (observation → policy → safety layer →
//! the transition to record), with no I/O and no clock, so it runs unchanged in tests, in
//! benchmarks and against the simulator; the async shell that reads Prometheus, writes
//! through the Kubernetes API and persists experience wraps it.

pub(crate) mod envelope;
pub(crate) mod global_models;
pub(crate) mod shell;
pub(crate) mod startups;
pub(crate) mod step;
pub(crate) mod store_models;
