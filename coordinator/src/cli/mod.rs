//! Command-line interface: one file per subcommand, this one only dispatching.

mod bench;
mod bench_agents;
mod certs;
mod fine_tune;
pub(crate) mod logging;
mod models;
mod serve;
mod simulate;

use clap::{Parser, Subcommand};

/// Parses the command line, installs logging and runs the chosen command: the whole of
/// the `coordinator` binary.
pub fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    logging::init(&cli.log);
    match cli.run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Federation coordinator for the reinforcement-learning autoscaler fleet.
///
/// `serve` runs federated rounds with the edge agents over QUIC with mutual TLS: it
/// offers each round to a sample of the connected agents, aggregates their updates
/// (FedAvg, trimmed mean or median) and publishes every new global model to a versioned
/// registry and to the agents. `certs` mints development certificates, `models` manages
/// the registry, `bench` measures round time and memory.
///
/// Quick start:
///   coordinator certs --out certs --clusters a,b --san localhost --san 127.0.0.1
///   coordinator default-config > serve.toml
///   coordinator serve --config serve.toml
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
    /// Run the federation server: accept agents, run rounds, publish global models.
    ///
    /// Prints `listening on ADDRESS` on standard output once it accepts connections, then
    /// `admin listening on ADDRESS` for the HTTP admin port (`/metrics`, `/healthz`,
    /// `/readyz`); logs go to standard error. Stops on Ctrl-C or SIGTERM (agents keep autoscaling with
    /// their last model and reconnect when it is back), or after `rounds.max_rounds`.
    /// After a restart it resumes from the registry's newest version and round.
    Serve(serve::ServeArgs),
    /// The whole fleet on this machine, no Kubernetes needed: a coordinator and one edge
    /// agent per simulated cluster federate over QUIC with mutual TLS on loopback, each
    /// cluster with different traffic; then every cluster's held-out episodes are played
    /// by the federated model, the same agent trained alone, the HPA and the oracle, and
    /// a workload no cluster saw is learned from the global model and from scratch.
    ///
    /// Example:
    ///   coordinator simulate --clusters 4 --rounds 20
    Simulate(simulate::SimulateArgs),
    /// Print the default `serve` configuration, every key commented.
    DefaultConfig,
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
    /// Measure round time and coordinator memory over real QUIC + mutual TLS on loopback,
    /// with agents in a child process that answer every offer at once (framework cost
    /// only, no training).
    ///
    /// Example:
    ///   coordinator bench --agents 50 --params 100000 --rounds 10 --format json
    Bench(bench::BenchArgs),
    /// The benchmark's agents (started by `bench`, not meant to be run by hand).
    #[command(hide = true)]
    BenchAgents(bench_agents::BenchAgentsArgs),
}

impl Cli {
    /// Runs the chosen command.
    pub(crate) fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Certs(args) => certs::run(&args),
            Command::Models(args) => models::run(args),
            Command::Serve(args) => serve::run(&args),
            Command::Simulate(args) => simulate::run(&args),
            Command::DefaultConfig => {
                print!("{}", crate::config::DEFAULT_CONFIG);
                Ok(())
            }
            Command::FineTune(args) => fine_tune::run(*args),
            Command::Bench(args) => bench::run(&args),
            Command::BenchAgents(args) => bench_agents::run(&args),
        }
    }
}
