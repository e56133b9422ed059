//! Command-line interface: one file per subcommand, this one only dispatching.

mod certs;
mod fine_tune;
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
    /// Fine-tune a registry version for one workload and publish it as that workload's
    /// model (transfer learning).
    ///
    /// Trains from the base version's weights on the workload's traffic (named scenarios
    /// or a trace), by default with the feature extractor frozen so only the head
    /// adapts; prints the tuned model against its base and the HPA on held-out episodes;
    /// and publishes it as a new version with the base as parent, tagged and marked
    /// `fine_tuned_for` the workload. Rounds keep building on the fleet line; agents
    /// whose hello carries the tag receive the fine-tune. Like `models rollback`, run it
    /// while the coordinator is stopped. Example:
    ///   coordinator fine-tune --registry models --base latest --scenario flash_crowd --steps 50000 --tag shop
    ///   coordinator fine-tune --registry models --base 7 --trace nasa.csv --start 0d --duration 7d --eval-start 14d --steps 50000 --tag nasa
    FineTune(Box<fine_tune::FineTuneArgs>),
}

impl Cli {
    /// Runs the chosen command.
    pub(crate) fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Certs(args) => certs::run(&args),
            Command::Models(args) => models::run(args),
            Command::FineTune(args) => fine_tune::run(*args),
        }
    }
}
