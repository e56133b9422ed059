//! The federation coordinator as a library: what the `coordinator` binary runs, and what
//! in-process users (the fleet simulation, the round benchmark, integration tests) start
//! directly. [`server::Coordinator`] accepts edge agents over QUIC with mutual TLS, runs
//! federated rounds with the round engine ([`RoundPolicy`]), aggregates the updates
//! (FedAvg and robust variants, [`Strategy`]) and versions each result in the model
//! registry; [`config::ServeConfig`] is the typed configuration of `coordinator serve`,
//! and [`admin`] its metrics and probes.

#![forbid(unsafe_code)]

pub mod admin;
mod aggregate;
pub mod cli;
pub mod config;
mod registry;
mod round;
pub mod server;
mod simulate;
mod transfer;

pub use aggregate::rejection::{Reason, RejectionCounts};
pub use aggregate::round::{AggregationConfig, ConfigError as AggregationConfigError};
pub use aggregate::strategy::Strategy;
pub use registry::error::RegistryError;
pub use round::{
    CloseReason, EngineError, MeanMetrics, PolicyError, RoundOutcome, RoundPolicy, RoundSummary,
};
