//! `edge-agent export-experience`: the retained experience of a log directory as CSV on
//! standard output, one row per control interval, oldest first: the observed request-rate
//! series and what the agent did about it, for plotting, for checking what a calibration
//! will see, and for tools outside this workspace. It streams, so a log of any size is
//! exported in constant memory, and it may run beside a live agent.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::experience::{ExperienceReader, Transition};

#[derive(Debug, Args)]
pub(crate) struct ExportExperienceArgs {
    /// The experience directory (`experience.dir` of the `run` configuration).
    #[arg(long)]
    dir: PathBuf,
}

/// The CSV columns, in order.
const HEADER: &str = "at_s,request_rate_rps,p95_latency_s,ready_pods,replicas_before,action,proposed,decided,applied,fallback,pod_startups_s";

pub(crate) fn run(args: &ExportExperienceArgs) -> anyhow::Result<()> {
    let reader = ExperienceReader::open(&args.dir)?;
    let stdout = std::io::stdout();
    let rows = write_csv(reader, std::io::BufWriter::new(stdout.lock()))?;
    tracing::info!(rows, dir = %args.dir.display(), "experience exported");
    Ok(())
}

/// Writes every transition `reader` yields as a CSV row; returns the number of rows.
fn write_csv(reader: ExperienceReader, mut out: impl Write) -> anyhow::Result<u64> {
    writeln!(out, "{HEADER}").context("cannot write the CSV")?;
    let mut rows = 0;
    for t in reader {
        write_row(&t?, &mut out).context("cannot write the CSV")?;
        rows += 1;
    }
    out.flush().context("cannot write the CSV")?;
    Ok(rows)
}

/// One row; fields the interval did not have (no metrics, no learned action, no fallback)
/// are empty rather than zero, so a missing reading is not mistaken for an idle workload.
fn write_row(t: &Transition, out: &mut impl Write) -> std::io::Result<()> {
    let opt = |v: Option<String>| v.unwrap_or_default();
    let m = t.metrics.as_ref();
    writeln!(
        out,
        "{},{},{},{},{},{},{},{},{},{},{}",
        t.at_s,
        opt(m.map(|m| m.request_rate_rps.to_string())),
        opt(m.map(|m| m.p95_latency_s.to_string())),
        opt(m.map(|m| m.ready_pods.to_string())),
        t.replicas_before,
        opt(t.action.map(|a| a.to_string())),
        t.proposed,
        t.decided,
        t.applied,
        // Fallback reasons are snake_case words; nothing to quote.
        t.fallback.as_deref().unwrap_or(""),
        // Several values in one field, space-separated: no quoting needed either.
        t.pod_startups_s
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(" "),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experience::{ExperienceLog, MetricsRecord, Retention};

    #[test]
    fn the_request_rate_series_is_exported_oldest_first_with_gaps_left_empty() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = ExperienceLog::open(dir.path(), Retention::default()).unwrap();
        let metrics = MetricsRecord {
            timestamp_s: 995,
            request_rate_rps: 120.5,
            cpu_utilization: 0.6,
            memory_utilization: 0.3,
            p95_latency_s: 0.08,
            error_rate: 0.0,
            queue_length: 1.0,
            ready_pods: 3,
            pending_pods: 0,
        };
        let with = Transition {
            at_s: 1_000,
            observation: [0.0; 12],
            metrics: Some(metrics),
            replicas_before: 3,
            action: Some(2),
            proposed: 4,
            decided: 4,
            applied: true,
            fallback: None,
            pod_startups_s: vec![31, 29],
        };
        let without = Transition {
            at_s: 1_015,
            metrics: None,
            action: None,
            decided: 3,
            applied: false,
            fallback: Some("metrics_stale".to_owned()),
            pod_startups_s: Vec::new(),
            ..with.clone()
        };
        log.append(&with).unwrap();
        log.append(&without).unwrap();
        drop(log);

        let mut out = Vec::new();
        let rows = write_csv(ExperienceReader::open(dir.path()).unwrap(), &mut out).unwrap();
        assert_eq!(rows, 2);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!(
                "{HEADER}\n1000,120.5,0.08,3,3,2,4,4,true,,31 29\n1015,,,,3,,4,3,false,metrics_stale,\n"
            )
        );
    }
}
