//! `edge-agent calibrate`: fits the digital twin to an experience log and reports how well
//! each parameter is determined. With `--out`, the calibrated environment is written as a
//! configuration file that `train`, `evaluate` and `retrain` take as `--config`, so the
//! twin is one file a person can read, diff and keep.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, ValueEnum};
use common::env::EnvConfig;

use crate::calibration::{Calibration, CalibrationOptions, calibrate};
use crate::config::load_env_config;
use crate::experience::ExperienceReader;

#[derive(Debug, Args)]
pub(crate) struct CalibrateArgs {
    /// The experience directory (`experience.dir` of the `run` configuration).
    #[arg(long)]
    dir: PathBuf,
    /// Environment configuration to calibrate (TOML, see `edge-agent default-config`):
    /// what the recording cannot tell (replica bounds, price, SLO, memory limit, reward)
    /// is taken from it. Default: the built-in defaults.
    #[arg(long, env = "EDGE_AGENT_CONFIG")]
    config: Option<PathBuf>,
    /// The `rate()` window of the agent's queries, seconds (`prometheus.rate_window_s` of the
    /// `run` configuration): readings count as steady once the ready pod count has held
    /// this long.
    #[arg(long, default_value_t = 60)]
    rate_window_s: u64,
    /// Write the calibrated environment configuration here (TOML, written atomically).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Output format of the report.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
}

pub(crate) fn run(args: &CalibrateArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.dir.is_dir(),
        "{} is not a directory: pass the experience directory the agent records into",
        args.dir.display()
    );
    let mut env = load_env_config(args.config.as_deref())?;
    let reader = ExperienceReader::open(&args.dir)?;
    // The reader yields results; the first damaged record stops the calibration.
    let mut failure = None;
    let transitions = reader.map_while(|r| r.map_err(|e| failure = Some(e)).ok());
    let opts = CalibrationOptions {
        rate_window_s: args.rate_window_s,
        ..CalibrationOptions::default()
    };
    let result = calibrate(transitions, &env.sim, opts);
    if let Some(e) = failure {
        return Err(e)
            .with_context(|| format!("cannot read the experience in {}", args.dir.display()));
    }
    let calibration = result.with_context(|| format!("calibrating from {}", args.dir.display()))?;
    if let Some(out) = &args.out {
        env.sim = calibration.sim.clone();
        write_config(out, &env)?;
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match args.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &calibration)?;
            writeln!(out)?;
        }
        Format::Text => write_report(&calibration, &mut out)?,
    }
    tracing::info!(
        capacity_rps = calibration.capacity.capacity_rps,
        startup_delay_s = calibration.startup.delay_s,
        "twin calibrated"
    );
    Ok(())
}

/// Writes `env` to `path` through a temporary file and a rename, so a reader never sees
/// half a configuration.
fn write_config(path: &Path, env: &EnvConfig) -> anyhow::Result<()> {
    let text = format!(
        "# The digital twin calibrated by `edge-agent calibrate`.\n{}",
        toml::to_string_pretty(env)?
    );
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    tmp.write_all(text.as_bytes())?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn write_report(c: &Calibration, out: &mut impl Write) -> std::io::Result<()> {
    use crate::calibration::Optional;
    writeln!(
        out,
        "recording: {} transitions, {} with metrics, {} steady intervals with traffic",
        c.transitions, c.with_metrics, c.steady
    )?;
    let cap = &c.capacity;
    writeln!(
        out,
        "pod capacity      {:>8.1} req/s at 100 % CPU   idle CPU {:.1} %   R² {:.3}   {} intervals, {:.1}–{:.1} req/s per pod",
        cap.capacity_rps,
        cap.idle_cpu_fraction * 100.0,
        cap.r2,
        cap.samples,
        cap.rate_per_pod_range.0,
        cap.rate_per_pod_range.1
    )?;
    let s = &c.startup;
    writeln!(
        out,
        "start-up delay    {:>8.1} s ± {:.1} s                          {} pods, {}–{} s",
        s.delay_s, s.jitter_s, s.samples, s.range_s.0, s.range_s.1
    )?;
    match &c.latency {
        Optional::Fitted(l) => writeln!(
            out,
            "latency overhead  {:>8.1} ms   p95 predicted within {:.1} % (median)   R² {}   {} intervals",
            l.base_ms,
            l.p95_median_relative_error * 100.0,
            l.r2.map_or_else(
                || "n/a (p95 hardly varied)".to_owned(),
                |r| format!("{r:.3}")
            ),
            l.samples
        )?,
        Optional::Kept { reason } => writeln!(
            out,
            "latency overhead  {:>8.1} ms   kept: {reason}",
            c.sim.latency.base_ms
        )?,
    }
    match &c.memory {
        Optional::Fitted(m) => writeln!(
            out,
            "memory            {:>8.1} MiB + {:.2} MiB per request in flight   R² {:.3}   {} intervals",
            m.base_mib, m.per_inflight_mib, m.r2, m.samples
        )?,
        Optional::Kept { reason } => writeln!(
            out,
            "memory            {:>8.1} MiB + {:.2} MiB per request in flight   kept: {reason}",
            c.sim.pod.memory_base_mib, c.sim.pod.memory_per_inflight_mib
        )?,
    }
    Ok(())
}
