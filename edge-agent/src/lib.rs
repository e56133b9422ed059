//! The per-cluster autoscaling agent as a library. The `edge-agent` binary is a thin
//! wrapper around [`cli::main`]; everything else lives here so that other programs can
//! run agents in their own process, as the coordinator's fleet simulation will. The safety
//! layer and the scorecard commands stay private to the crate.

pub mod cli;
mod config;
mod curve;
pub mod federation;
mod meter;
mod safety;
mod table;
