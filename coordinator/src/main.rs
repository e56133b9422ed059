//! `coordinator`: the fleet's federation server. It will collect every edge agent's
//! weights over QUIC with mutual TLS, aggregate them (FedAvg and robust variants), version
//! the results in a model registry and push global models back (issue 4). Today it mints
//! the development certificates that transport needs (`coordinator certs`).

mod cli;

use clap::Parser;

fn main() -> std::process::ExitCode {
    match cli::Cli::parse().run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
