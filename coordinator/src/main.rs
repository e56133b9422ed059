//! `coordinator`: the fleet's federation server. It will collect every edge agent's
//! weights over QUIC with mutual TLS, aggregate them (FedAvg and robust variants), version
//! the results in a model registry and push global models back (issue 4). Until then it
//! only answers `--help` and `--version`, so deployments and scripts can already name it.

mod aggregate;
mod registry;

use clap::Parser;

/// Federation coordinator for the reinforcement-learning autoscaler fleet.
///
/// No subcommands yet: federation, the model registry and the fleet simulation land with
/// the federation work. Use `edge-agent evaluate` for the scorecard today.
#[derive(Debug, Parser)]
#[command(name = "coordinator", version, about, long_about)]
struct Cli {}

fn main() {
    let _ = Cli::parse();
    eprintln!("coordinator: nothing to run yet; see `coordinator --help`");
    std::process::exit(2);
}
