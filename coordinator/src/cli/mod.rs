//! Command-line interface: one file per subcommand, this one only dispatching.

mod certs;
pub(crate) mod logging;
mod models;

use clap::{Parser, Subcommand};

/// Federation coordinator for the reinforcement-learning autoscaler fleet.
///
/// Federation itself (rounds over QUIC) lands with the coordinator server; today the
/// coordinator mints the fleet's development certificates and manages the model registry
/// that server publishes into.
#[derive(Debug, Parser)]
#[command(name = "coordinator", version, about, long_about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    pub(crate) log: logging::LogArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a development fleet CA, the coordinator's server certificate and one client
    /// certificate per cluster (development only: production should use its own PKI,
    /// e.g. cert-manager).
    ///
    /// Example:
    ///   coordinator certs --out certs --clusters eu-west-1,us-east-1 --san localhost --san 127.0.0.1
    Certs(certs::CertsArgs),
    /// Inspect the model registry, or roll the fleet back to an earlier global model.
    Models(models::ModelsArgs),
}

impl Cli {
    /// Runs the chosen command.
    pub(crate) fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Certs(args) => certs::run(&args),
            Command::Models(args) => models::run(args),
        }
    }
}
