//! Command-line interface: one module per subcommand.

mod certs;

use clap::{Parser, Subcommand};

/// Federation coordinator for the reinforcement-learning autoscaler fleet.
///
/// Federation itself, the model registry and the fleet simulation land with the
/// federation work; use `edge-agent evaluate` for the scorecard today.
#[derive(Debug, Parser)]
#[command(name = "coordinator", version, about, long_about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
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
}

impl Cli {
    pub(crate) fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Certs(args) => certs::run(&args),
        }
    }
}
