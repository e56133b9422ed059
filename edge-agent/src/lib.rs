//! The per-cluster autoscaling agent as a library. The `edge-agent` binary is a thin
//! wrapper around [`cli::main`]; everything else lives here so that other programs can run
//! agents in their own process: the coordinator's `simulate` command starts a whole fleet
//! of real agents on loopback through [`federation`], each with its own certificate,
//! local trainer and reconnecting client. The safety layer, the scorecard commands and the
//! simulated cluster `federate` autoscales stay private to the crate.

/// Reads and changes the scale of the autoscaled workload: Kubernetes or the simulator.
pub mod actuator;
/// Every Kubernetes API call the agent makes: the RBAC its Roles must grant.
pub mod api_access;
mod calibration;
pub mod cli;
mod config;
/// `edge-agent check-config`: a `run` configuration checked as `run` would load it.
pub mod config_check;
mod control;
mod curve;
mod experience;
mod federate_config;
pub mod federation;
mod leader;
mod meter;
/// Metrics sources (simulator, Prometheus); public so end-to-end tests read through the agent's code.
pub mod metrics;
mod model_source;
mod observe;
mod run_config;
mod safety;
mod simulated_cluster;
mod table;
mod twin;

/// Writes the experience log an agent running the HPA rule would have recorded on a
/// simulated workload with known parameters; for the `retrain` end-to-end tests and
/// demonstrations only, which cannot wait hours for an agent to record.
#[doc(hidden)]
pub use twin::synthetic::write_simulated_recording;
