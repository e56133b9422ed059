//! `edge-agent`: the per-cluster autoscaling agent. Today it carries the scorecard
//! (`evaluate`), which plays baselines and learned policies on the embedded cluster
//! simulator; the control loop for real clusters, training and federation build on it.

mod cli;
mod config;
mod curve;
mod safety;
mod table;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    cli::init_logging(&cli.log);
    match cli.run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
