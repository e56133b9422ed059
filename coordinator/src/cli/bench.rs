//! `coordinator bench`: round time and coordinator memory over real QUIC + mutual TLS on
//! loopback. The coordinator runs in this process; the agents run in a child process
//! (`coordinator bench-agents`), so the peak resident memory read from this process is
//! the coordinator's alone. Agents answer each offer at once with a delta (`f16` on the
//! wire, as agents send by default, or `f32`), so a round's time is the framework's cost: offers, model transfer, update transfer, validation,
//! aggregation, the registry write (with fsync), and pushing the new model.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use clap::{Args, ValueEnum};
use comfy_table::Table;
use comfy_table::presets::UTF8_BORDERS_ONLY;
use common::proto::{ModelArchitecture, ModelKind};
use common::transport::certs::DevCa;
use common::transport::{ClusterId, TransportSettings};
use serde::Serialize;
use tokio::sync::broadcast::error::RecvError;

use crate::aggregate::round::AggregationConfig;
use crate::aggregate::strategy::Strategy;
use crate::round::RoundPolicy;
use crate::server::{Coordinator, CoordinatorOptions, Event, ServerLimits};

/// The name in the benchmark's server certificate, which the agents dial.
pub(super) const SERVER_NAME: &str = "localhost";

/// Longest the whole benchmark may take before it is declared stuck.
const OVERALL_TIMEOUT: Duration = Duration::from_secs(1800);

/// Options of `coordinator bench`.
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// Agents, each with its own certificate, UDP socket and QUIC connection.
    #[arg(long, default_value_t = 10, env = "COORDINATOR_BENCH_AGENTS")]
    agents: usize,
    /// Parameters of the model (a synthetic dense network with exactly this many).
    #[arg(long, default_value_t = 100_000, env = "COORDINATOR_BENCH_PARAMS")]
    params: u32,
    /// Rounds to time; every agent takes part in every round.
    #[arg(long, default_value_t = 10, env = "COORDINATOR_BENCH_ROUNDS")]
    rounds: u64,
    /// Output: a table, or one JSON object.
    #[arg(long, value_enum, default_value_t = Format::Table, env = "COORDINATOR_BENCH_FORMAT")]
    format: Format,
    /// How the agents' deltas travel: `f16` (what agents send by default) or `f32`.
    #[arg(long, value_enum, default_value_t = UpdatePrecision::F16, env = "COORDINATOR_BENCH_UPDATE_PRECISION")]
    update_precision: UpdatePrecision,
    /// Registry directory for the published versions (default: a temporary directory,
    /// removed afterwards). Its file system's fsync speed is part of the round time.
    #[arg(long, value_name = "DIR", env = "COORDINATOR_BENCH_REGISTRY")]
    registry: Option<PathBuf>,
}

/// The precision of the benchmark agents' deltas on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum UpdatePrecision {
    F16,
    F32,
}

impl UpdatePrecision {
    fn as_str(self) -> &'static str {
        match self {
            Self::F16 => "f16",
            Self::F32 => "f32",
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Json,
}

/// What the benchmark measured.
#[derive(Debug, Serialize)]
struct Report {
    agents: usize,
    params: u32,
    rounds: u64,
    update_precision: UpdatePrecision,
    /// Median over rounds of the time from opening a round (offers sent, preceded by the
    /// previous round's model) to closing it (every update folded, the result written to
    /// the registry).
    median_round_s: f64,
    mean_round_s: f64,
    max_round_s: f64,
    /// Peak resident memory of this process (`VmHWM`): the coordinator, with the
    /// benchmark's small bookkeeping.
    peak_rss_mb: f64,
    /// CPU time (user + system) per round of this process, from the first round's
    /// opening to the last round's close: unlike wall time, it does not grow when other
    /// work shares the machine.
    coordinator_cpu_s_per_round: f64,
    /// The same for the agents' process.
    agents_cpu_s_per_round: f64,
    /// Updates accepted over all rounds; `agents × rounds` when nothing was lost.
    accepted_updates: usize,
    round_s: Vec<f64>,
}

/// The benchmark's model: a dense layer from `params − 1` inputs to one output, exactly
/// `params` parameters. Both the coordinator and the agents use it.
pub(super) fn architecture(params: u32) -> ModelArchitecture {
    ModelArchitecture::dense(ModelKind::Dqn, vec![params - 1, 1])
}

/// The cluster id of agent `i`.
pub(super) fn cluster_name(i: usize) -> String {
    format!("bench-{i}")
}

pub(crate) fn run(args: &BenchArgs) -> anyhow::Result<()> {
    ensure!(args.agents >= 1, "--agents must be at least 1");
    ensure!(args.params >= 2, "--params must be at least 2");
    ensure!(args.rounds >= 1, "--rounds must be at least 1");
    let work = tempfile::tempdir().context("cannot create a temporary directory")?;
    let certs = work.path().join("certs");
    let ca = write_certs(&certs, args.agents)?;
    let server = ca.issue_server(&[SERVER_NAME.to_owned(), "127.0.0.1".to_owned()])?;
    let registry = args
        .registry
        .clone()
        .unwrap_or_else(|| work.path().join("registry"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let rounds = runtime.block_on(async {
        let options = CoordinatorOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            registry,
            architecture: architecture(args.params),
            initial_weights: vec![0.0; args.params as usize],
            aggregation: AggregationConfig {
                strategy: Strategy::FedAvg,
                clip_norm: None,
            },
            rounds: RoundPolicy {
                participation: 1.0,
                min_agents: args.agents,
                quorum: 1.0,
                grace: Duration::ZERO,
                deadline: Duration::from_secs(120),
                budget_env_steps: 1,
                interval: Duration::ZERO,
                max_rounds: Some(args.rounds),
            },
            transport: TransportSettings::default(),
            limits: ServerLimits::default(),
            seed: 0,
        };
        let handle = Coordinator::start(options, &ca.fleet_ca(), &server.credentials()).await?;
        let events = handle.events();
        let mut agents = spawn_agents(handle.local_addr(), args, &certs)?;
        let outcome = collect(events, &mut agents, args).await;
        handle.shutdown().await;
        stop(agents);
        outcome
    })?;
    let report = report(args, &rounds)?;
    match args.format {
        Format::Json => println!("{}", serde_json::to_string(&report)?),
        Format::Table => print!("{}", table(&report)),
    }
    Ok(())
}

/// The CA, and each agent's certificate and key as PEM files in `dir`.
fn write_certs(dir: &Path, agents: usize) -> anyhow::Result<DevCa> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let ca = DevCa::generate()?;
    std::fs::write(dir.join("ca.pem"), ca.cert_pem())?;
    for i in 0..agents {
        let name = cluster_name(i);
        let cert = ca.issue_client(&ClusterId::new(&name)?)?;
        std::fs::write(dir.join(format!("{name}.pem")), cert.cert_pem())?;
        std::fs::write(dir.join(format!("{name}-key.pem")), cert.key_pem())?;
    }
    Ok(ca)
}

fn spawn_agents(addr: SocketAddr, args: &BenchArgs, certs: &Path) -> anyhow::Result<Child> {
    let exe = std::env::current_exe().context("cannot find the coordinator executable")?;
    std::process::Command::new(exe)
        .arg("bench-agents")
        .arg("--addr")
        .arg(addr.to_string())
        .arg("--agents")
        .arg(args.agents.to_string())
        .arg("--params")
        .arg(args.params.to_string())
        .arg("--certs")
        .arg(certs)
        .arg("--update-precision")
        .arg(args.update_precision.as_str())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .context("cannot start the benchmark's agent process")
}

/// One timed round.
#[derive(Debug)]
struct Round {
    duration: Duration,
    accepted: usize,
}

/// What the rounds took.
#[derive(Debug)]
struct Rounds {
    rounds: Vec<Round>,
    /// CPU seconds of this process and of the agents' over all rounds.
    coordinator_cpu_s: f64,
    agents_cpu_s: f64,
}

/// Waits for every round to close, watching that the agents' process stays alive.
async fn collect(
    mut events: tokio::sync::broadcast::Receiver<Event>,
    agents: &mut Child,
    args: &BenchArgs,
) -> anyhow::Result<Rounds> {
    let mut rounds = Vec::new();
    let mut cpu_at_start = None;
    let started = tokio::time::Instant::now();
    let mut check = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Ok(Event::RoundClosed(summary)) => {
                    if summary.accepted != args.agents {
                        tracing::warn!(
                            round = summary.round,
                            accepted = summary.accepted,
                            "not every agent's update was accepted"
                        );
                    }
                    rounds.push(Round {
                        duration: summary.duration,
                        accepted: summary.accepted,
                    });
                }
                Ok(Event::RoundOpened { .. }) if cpu_at_start.is_none() => {
                    cpu_at_start = Some((cpu_seconds("self")?, cpu_seconds(&agents.id().to_string())?));
                }
                Ok(Event::Finished) => {
                    let (own, theirs) = cpu_at_start.context("no round opened")?;
                    return Ok(Rounds {
                        rounds,
                        coordinator_cpu_s: cpu_seconds("self")? - own,
                        agents_cpu_s: cpu_seconds(&agents.id().to_string())? - theirs,
                    });
                }
                Ok(_) => {}
                Err(RecvError::Lagged(n)) => bail!("missed {n} coordinator events"),
                Err(RecvError::Closed) => bail!("the coordinator stopped before the rounds ran"),
            },
            _ = check.tick() => {
                if let Some(status) = agents.try_wait()? {
                    bail!("the benchmark's agent process exited early ({status})");
                }
                if started.elapsed() > OVERALL_TIMEOUT {
                    bail!("the rounds did not finish within {OVERALL_TIMEOUT:?}");
                }
            }
        }
    }
}

/// Ends the agents' process: it exits by itself once the coordinator closes its
/// connections; kill it if it does not within a few seconds.
fn stop(mut agents: Child) {
    for _ in 0..50 {
        if matches!(agents.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = agents.kill();
    let _ = agents.wait();
}

fn report(args: &BenchArgs, measured: &Rounds) -> anyhow::Result<Report> {
    let rounds = &measured.rounds;
    ensure!(!rounds.is_empty(), "no round closed");
    let mut seconds: Vec<f64> = rounds.iter().map(|r| r.duration.as_secs_f64()).collect();
    let round_s = seconds.clone();
    seconds.sort_by(f64::total_cmp);
    let n = seconds.len();
    let median = if n % 2 == 1 {
        seconds[n / 2]
    } else {
        (seconds[n / 2 - 1] + seconds[n / 2]) / 2.0
    };
    Ok(Report {
        agents: args.agents,
        params: args.params,
        rounds: n as u64,
        update_precision: args.update_precision,
        median_round_s: median,
        mean_round_s: seconds.iter().sum::<f64>() / n as f64,
        max_round_s: seconds[n - 1],
        peak_rss_mb: peak_rss_bytes()? as f64 / 1e6,
        coordinator_cpu_s_per_round: measured.coordinator_cpu_s / n as f64,
        agents_cpu_s_per_round: measured.agents_cpu_s / n as f64,
        accepted_updates: rounds.iter().map(|r| r.accepted).sum(),
        round_s,
    })
}

/// CPU time (user + system) a process has used, from `/proc/PID/stat` (Linux), whose
/// times are in clock ticks of 1/100 s on every Linux ABI.
fn cpu_seconds(pid: &str) -> anyhow::Result<f64> {
    const TICKS_PER_SECOND: f64 = 100.0;
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {path} (the CPU figures need Linux)"))?;
    // The command name may contain spaces; the fields after it are space-separated, and
    // utime and stime are the 12th and 13th of them.
    let after_name = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .with_context(|| format!("{path} is not in the expected format"))?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| -> anyhow::Result<f64> {
        let field = fields
            .get(i)
            .with_context(|| format!("{path} has too few fields"))?;
        Ok(field.parse::<u64>()? as f64)
    };
    Ok((ticks(11)? + ticks(12)?) / TICKS_PER_SECOND)
}

/// This process's peak resident set size, from `VmHWM` in `/proc/self/status` (Linux).
fn peak_rss_bytes() -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")
        .context("cannot read /proc/self/status (the memory figure needs Linux)")?;
    let kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .context("no VmHWM line in /proc/self/status")?;
    Ok(kib * 1024)
}

fn table(report: &Report) -> String {
    let mut table = Table::new();
    table.load_style(UTF8_BORDERS_ONLY);
    table.set_header([
        "agents",
        "params",
        "deltas",
        "rounds",
        "median s/round",
        "max s/round",
        "peak RSS MB",
        "CPU s/round (coordinator, agents)",
        "accepted",
    ]);
    table.add_row([
        report.agents.to_string(),
        report.params.to_string(),
        report.update_precision.as_str().to_owned(),
        report.rounds.to_string(),
        format!("{:.4}", report.median_round_s),
        format!("{:.4}", report.max_round_s),
        format!("{:.1}", report.peak_rss_mb),
        format!(
            "{:.3}, {:.3}",
            report.coordinator_cpu_s_per_round, report.agents_cpu_s_per_round
        ),
        format!(
            "{}/{}",
            report.accepted_updates,
            report.agents as u64 * report.rounds
        ),
    ]);
    let mut out = table.to_string();
    let _ = writeln!(out);
    out
}
