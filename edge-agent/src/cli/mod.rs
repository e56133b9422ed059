//! The command-line interface of the `edge-agent` binary: argument parsing, logging set-up
//! and dispatch to one module per command.

mod bench;
mod calibrate;
mod evaluate;
mod export_experience;
mod federate;
mod retrain;
mod rollback_model;
mod run;
mod train;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Reinforcement-learning autoscaler agent for one Kubernetes workload.
///
/// Runs on the built-in cluster simulator by default, so every command works on a
/// laptop without Kubernetes.
#[derive(Debug, Parser)]
#[command(name = "edge-agent", version, about, long_about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    log: LogArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Score policies on simulated scenarios: cost, latency, SLO compliance, errors, churn.
    ///
    /// Every (policy, scenario, seed) run is compared with a clairvoyant oracle that sees
    /// future traffic. Example:
    ///   edge-agent evaluate --policy hpa,tuned,oracle --scenario all
    ///   edge-agent evaluate --policy hpa --scenario trace:../shared/traces/nasa_http_1995_per_minute.csv --start 7d --duration 1d
    // Verbatim, or clap joins the example commands into one line.
    #[command(verbatim_doc_comment)]
    Evaluate(Box<evaluate::EvaluateArgs>),
    /// Train a policy on the simulator and write a model directory.
    ///
    /// The directory holds the model (burn record), the full resolved configuration with
    /// its seed, a manifest, and the training curve (CSV, PNG, SVG). Example:
    ///   edge-agent train --algo dqn --timesteps 200000 --out models/my-dqn
    // Verbatim, or clap joins the example commands into one line.
    #[command(verbatim_doc_comment)]
    Train(Box<train::TrainArgs>),
    /// Fit the digital twin (the simulator's workload parameters) to an experience log.
    ///
    /// Pod capacity and idle CPU come from CPU against the request rate per pod, the
    /// start-up delay from the pods' creation-to-Ready times, the latency overhead from p95
    /// against utilisation, memory per request from memory against requests in flight.
    /// Each is reported with its fit quality; too little or too uniform data is refused,
    /// saying what is missing. Example:
    ///   edge-agent calibrate --dir /var/lib/edge-agent/experience --out twin.toml
    ///   edge-agent evaluate --config twin.toml --policy hpa,dqn --scenario all
    // Verbatim, or clap joins the example commands into one line.
    #[command(verbatim_doc_comment)]
    Calibrate(Box<calibrate::CalibrateArgs>),
    /// Print the default environment configuration (TOML) that `--config` files override.
    DefaultConfig,
    /// Take part in federated training while autoscaling a simulated cluster.
    ///
    /// Connects to the coordinator over QUIC with the cluster's client certificate (mutual
    /// TLS), adopts every global model it publishes, and answers its round offers with
    /// updates trained locally on the configured scenarios. Meanwhile it autoscales a
    /// simulated cluster with the newest model: with the HPA rule until the first model
    /// arrives, and with the last good model whenever the coordinator is unreachable
    /// (reconnecting with exponential backoff and jitter). Example:
    ///   coordinator certs --out certs --clusters alpha
    ///   edge-agent default-federate-config > agent.toml   # then set cluster_id = "alpha"
    ///   edge-agent federate --config agent.toml
    // Verbatim, or clap joins the example commands into one line.
    #[command(verbatim_doc_comment)]
    Federate(Box<federate::FederateArgs>),
    /// Print the default `federate` configuration (TOML), every key with its default.
    DefaultFederateConfig,
    /// Autoscale a real Deployment: Prometheus metrics in, Kubernetes scaling out.
    ///
    /// Every interval the agent reads the workload's metrics from Prometheus and its
    /// Deployment from the Kubernetes API, lets the policy propose a replica count, checks
    /// it against the safety layer (bounds, cooldowns, rate limits, circuit breakers, the
    /// HPA rule as fallback when metrics are missing or stale or the policy is unsure) and
    /// writes the Deployment's scale subresource. Every transition is kept on disk;
    /// `/metrics`, `/healthz` and `/readyz` are served over HTTP. SIGTERM finishes the
    /// current step and exits. Example:
    ///   edge-agent default-run-config > agent.toml   # set target, prometheus.url, policy
    ///   edge-agent run --config agent.toml --shadow  # decide and record, write nothing
    // Verbatim, or clap joins the example commands into one line.
    #[command(verbatim_doc_comment)]
    Run(Box<run::RunArgs>),
    /// Print the default `run` configuration (TOML), every key with its default.
    DefaultRunConfig,
    /// Check a `run` configuration without a cluster: the file, its federation file and
    /// the certificates that names, loaded and validated as `run` would. Example:
    ///   edge-agent check-config --config /etc/edge-agent/agent.toml
    // Verbatim, or clap joins the example commands into one line.
    #[command(verbatim_doc_comment)]
    CheckConfig(CheckConfigArgs),
    /// Measure one control step without network: observation, policy, safety layer.
    ///
    /// Replays a simulated day's readings through the same code `run` uses between its
    /// reads and its write, and prints the time per decision. Example:
    ///   cargo run --release -p edge-agent -- bench-decision --policy dqn
    // Verbatim, or clap joins the example commands into one line.
    #[command(verbatim_doc_comment)]
    BenchDecision(bench::BenchArgs),
    /// Print the experience an agent recorded as CSV, oldest first: the observed request
    /// rate, latency and pods, and what the agent decided, one row per interval. Example:
    ///   edge-agent export-experience --dir /var/lib/edge-agent/experience > series.csv
    // Verbatim, or clap joins the example commands into one line.
    #[command(verbatim_doc_comment)]
    ExportExperience(export_experience::ExportExperienceArgs),
    /// Learn on the cluster's own workload: train a candidate in the digital twin on the
    /// recorded traffic and promote it only if it beats the model in service.
    ///
    /// The recording's last quarter (--held-back) is kept out of training. The candidate
    /// starts from the store's current model (the shipped default while the store is
    /// empty) and trains, at lowered CPU priority, on the rest and on seeded variations of
    /// it (peaks ×1.5, spikes, shifted phase). The gate then plays candidate, current
    /// model and HPA (70 % CPU) through the held-back traffic in the twin and promotes the
    /// candidate only if it is cheaper at equal or better SLO compliance; the old model is
    /// kept as `previous`. Every verdict is appended to STORE/decisions.jsonl. Example:
    ///   edge-agent retrain --experience /var/lib/edge-agent/experience --store /var/lib/edge-agent/models --algo dqn
    ///   edge-agent retrain ... --twin twin.toml --timesteps 50000 --dry-run --format json
    // Verbatim, or clap joins the example commands into one line.
    #[command(verbatim_doc_comment)]
    Retrain(Box<retrain::RetrainArgs>),
    /// Make the model store's previous model current again (byte for byte); run it twice
    /// to undo. Rolling back the first promotion returns to the shipped default. Example:
    ///   edge-agent rollback-model --store /var/lib/edge-agent/models
    // Verbatim, or clap joins the example commands into one line.
    #[command(verbatim_doc_comment)]
    RollbackModel(rollback_model::RollbackArgs),
}

/// Options of `check-config`.
#[derive(Debug, Args)]
struct CheckConfigArgs {
    /// The `run` configuration file (TOML).
    #[arg(long, env = "EDGE_AGENT_CONFIG")]
    config: std::path::PathBuf,
}

/// Logging options.
#[derive(Debug, Args)]
struct LogArgs {
    /// Log format on standard error.
    #[arg(long, value_enum, default_value_t = LogFormat::Human, global = true, env = "EDGE_AGENT_LOG_FORMAT")]
    log_format: LogFormat,
    /// Log filter, e.g. `info` or `common=debug` (RUST_LOG syntax).
    #[arg(long, default_value = "info", global = true, env = "EDGE_AGENT_LOG")]
    log: String,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

/// Parses the command line, sets up logging and runs the command: the whole `edge-agent`
/// program, kept here so the binary stays a one-liner.
pub fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.log);
    match cli.run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Sends `tracing` events to standard error, so standard output stays machine-readable.
fn init_logging(args: &LogArgs) {
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match args.log_format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

impl Cli {
    /// Runs the chosen command.
    fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Evaluate(args) => evaluate::run(&args),
            Command::Train(args) => train::run(&args),
            Command::Federate(args) => federate::run(&args),
            Command::Run(args) => run::run(&args),
            Command::CheckConfig(args) => {
                println!("{}", crate::config_check::check(&args.config)?);
                Ok(())
            }
            Command::BenchDecision(args) => bench::run(&args),
            Command::ExportExperience(args) => export_experience::run(&args),
            Command::Calibrate(args) => calibrate::run(&args),
            Command::Retrain(args) => retrain::run(&args),
            Command::RollbackModel(args) => rollback_model::run(&args),
            Command::DefaultRunConfig => {
                print!("{}", crate::run_config::RunConfig::default_toml()?);
                Ok(())
            }
            Command::DefaultFederateConfig => {
                print!(
                    "{}",
                    crate::federate_config::FederateConfig::default_toml()?
                );
                Ok(())
            }
            Command::DefaultConfig => {
                print!(
                    "{}",
                    toml::to_string_pretty(&common::env::EnvConfig::default())?
                );
                Ok(())
            }
        }
    }
}
