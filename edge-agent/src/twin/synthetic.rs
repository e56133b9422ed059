//! Recordings made up for tests: the one place the twin builds [`Transition`] values, so a
//! field added to the record is added here once; a simulated agent's recording of a
//! workload whose true parameters are known; and the writer the end-to-end tests use to
//! put such a recording on disk without running an agent against a cluster for hours.

use std::path::Path;

use common::env::{OBSERVATION_LEN, Observation};
use common::policy::{Hpa, Policy};
use common::sim::{ConfigError, SimConfig, Simulator};
use common::traffic::ArrivalSeries;

use crate::control::startups::StartupTracker;
use crate::experience::{ExperienceLog, MetricsRecord, Retention, Transition};

/// A transition as the agent would have recorded it at `at_s`, having seen
/// `request_rate_rps` served by `ready_pods` pods, and kept the replica count.
#[cfg(test)]
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
        pod_startups_s: Vec::new(),
    }
}

/// What an agent running the HPA rule would have recorded on a cluster that behaves like
/// `truth` while serving `arrivals`: one transition per decision interval, stamped from
/// Unix second `t0_s`, with the simulator's lagged metrics and the start-up time of every
/// pod seen becoming ready. The twin's own tests and demonstrations start here because
/// the true parameters behind the recording are known.
pub(crate) fn simulated_recording(
    truth: &SimConfig,
    arrivals: ArrivalSeries,
    seed: u64,
    t0_s: u64,
) -> Result<Vec<Transition>, ConfigError> {
    let mut sim = Simulator::new(truth.clone(), arrivals, seed)?;
    let mut hpa = Hpa::default();
    let observation = Observation([0.0; OBSERVATION_LEN]);
    let mut startups = StartupTracker::default();
    let mut out = Vec::new();
    while !sim.finished() {
        sim.step_interval();
        let desired = hpa.desired_replicas(&sim.view(&observation));
        let replicas_before = sim.spec_replicas();
        let metrics = sim.observed().map(|m| {
            let mut m = MetricsRecord::from(m);
            m.timestamp_s += t0_s;
            m
        });
        out.push(Transition {
            at_s: t0_s + sim.now_s(),
            observation: observation.0,
            metrics,
            replicas_before,
            action: None,
            proposed: desired,
            decided: desired,
            applied: desired != replicas_before,
            fallback: None,
            pod_startups_s: startups.observe(sim.pods()),
        });
        sim.scale_to(desired);
    }
    Ok(out)
}

/// Writes [`simulated_recording`] of `truth` serving the per-second `rates` into an
/// experience log in `dir`, as a running agent would have. For tests and demonstrations
/// only: a recording worth retraining on holds hours of traffic, which no test can wait
/// for.
#[doc(hidden)]
pub fn write_simulated_recording(
    dir: &Path,
    truth: &SimConfig,
    rates: Vec<f32>,
    seed: u64,
    t0_s: u64,
) -> std::io::Result<()> {
    let arrivals = ArrivalSeries::new("recorded", rates);
    let transitions =
        simulated_recording(truth, arrivals, seed, t0_s).map_err(std::io::Error::other)?;
    let mut log = ExperienceLog::open(dir, Retention::default()).map_err(std::io::Error::other)?;
    for t in &transitions {
        log.append(t).map_err(std::io::Error::other)?;
    }
    Ok(())
}
