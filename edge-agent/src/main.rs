//! `edge-agent`: the per-cluster autoscaling agent. It trains policies on the embedded
//! cluster simulator (`train`), scores them against the baselines (`evaluate`), and takes
//! part in federated training while autoscaling a simulated cluster (`federate`). All of it
//! lives in the `edge_agent` library; this file only hands over the process.

fn main() -> std::process::ExitCode {
    edge_agent::cli::main()
}
