//! Recordings made up for tests: the one place the twin builds [`Transition`] values, so a
//! field added to the record (the calibration's pod start-up durations) is added here
//! once, and the writer the end-to-end tests use to put a recording on disk without
//! running an agent against a cluster for hours.

use std::path::Path;

use common::env::OBSERVATION_LEN;

use crate::experience::{ExperienceLog, MetricsRecord, Retention, Transition};

/// A transition as the agent would have recorded it at `at_s`, having seen
/// `request_rate_rps` served by `ready_pods` pods, and kept the replica count.
pub(crate) fn recorded_transition(at_s: u64, request_rate_rps: f64, ready_pods: u32) -> Transition {
    Transition {
        at_s,
        observation: [0.0; OBSERVATION_LEN],
        metrics: Some(MetricsRecord {
            timestamp_s: at_s,
            request_rate_rps,
            cpu_utilization: 0.5,
            memory_utilization: 0.3,
            p95_latency_s: 0.05,
            error_rate: 0.0,
            queue_length: 0.0,
            ready_pods,
            pending_pods: 0,
        }),
        replicas_before: ready_pods,
        action: Some(1),
        proposed: ready_pods,
        decided: ready_pods,
        applied: true,
        fallback: None,
    }
}

/// Writes an experience log into `dir` with one transition per `(unix second, request
/// rate)` sample, in the order given, as a running agent would have. For tests only: the
/// `retrain` end-to-end test needs hours of recording, which no test can wait for.
#[doc(hidden)]
pub fn write_recording(dir: &Path, samples: &[(u64, f64)]) -> std::io::Result<()> {
    let mut log = ExperienceLog::open(dir, Retention::default()).map_err(std::io::Error::other)?;
    for &(at_s, rate) in samples {
        log.append(&recorded_transition(at_s, rate, 2))
            .map_err(std::io::Error::other)?;
    }
    Ok(())
}
