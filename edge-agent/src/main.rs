//! `edge-agent`: the per-cluster autoscaling agent. It trains policies on the embedded
//! cluster simulator (`train`) and scores them against the baselines (`evaluate`). All of
//! it lives in the `edge_agent` library; this file only hands over the process.

fn main() -> std::process::ExitCode {
    edge_agent::cli::main()
}
