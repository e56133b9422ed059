//! `coordinator`: the fleet's federation server. It collects every edge agent's update
//! over QUIC with mutual TLS, aggregates them (FedAvg and robust variants) and pushes the
//! new global models back; it also mints development certificates and manages the model
//! registry. Everything lives in the library; this only runs its command line.

fn main() -> std::process::ExitCode {
    coordinator::cli::main()
}
