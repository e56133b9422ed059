//! `coordinator`: the fleet's federation server. It will collect every edge agent's
//! update over QUIC with mutual TLS, aggregate them (FedAvg and robust variants) and push
//! the new global models back (issue 4). The pieces are here: the aggregation, the model
//! registry that versions its results (`coordinator models`), and the development
//! certificates the transport needs (`coordinator certs`).

mod aggregate;
mod cli;
mod registry;
mod transfer;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    cli::logging::init(&cli.log);
    match cli.run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
