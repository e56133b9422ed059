//! Command-line interface: one file per subcommand, this one only dispatching.

pub(crate) mod logging;
mod models;

use clap::{Parser, Subcommand};

/// Federation coordinator for the reinforcement-learning autoscaler fleet.
///
/// Federation itself (rounds over QUIC) lands with the coordinator server; today the
/// coordinator manages the model registry that server publishes into.
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
    /// Inspect the model registry, or roll the fleet back to an earlier global model.
    Models(models::ModelsArgs),
}

impl Cli {
    /// Runs the chosen command.
    pub(crate) fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Models(args) => models::run(args),
        }
    }
}
