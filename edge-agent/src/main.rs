//! `edge-agent`: the per-cluster autoscaling agent. Today it trains policies on the
//! embedded cluster simulator (`train`) and scores them against the baselines
//! (`evaluate`); its safety layer is ready for the real-cluster control loop, and
//! federation builds on both.

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
