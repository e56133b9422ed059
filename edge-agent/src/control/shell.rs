//! The async shell around [`ControlStep`]: every interval it reads the metrics and the
//! Deployment (concurrently), lets the step decide, writes what the safety layer allows,
//! records the transition on disk, and reports all of it as metrics and logs. Nothing here
//! decides anything; a failure of one interval is logged and counted, and the next interval
//! starts on time.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tracing::{error, info, warn};

use super::step::{ControlStep, Reading};
use crate::actuator::Actuator;
use crate::experience::ExperienceLog;
use crate::metrics::MetricsSource;
use crate::observe::server::Observed;

/// Unix seconds now.
pub(crate) fn unix_now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// What one interval did, for tests and the exit summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    /// Intervals that reached a decision.
    pub(crate) decisions: u64,
    /// Writes the API confirmed.
    pub(crate) writes: u64,
    /// Intervals without a decision because the Deployment could not be read.
    pub(crate) unread: u64,
}

/// The loop and everything it drives.
#[derive(Debug)]
pub(crate) struct ControlLoop<M, A> {
    step: ControlStep,
    metrics: M,
    actuator: A,
    experience: ExperienceLog,
    observed: Observed,
    interval: Duration,
    tally: Tally,
}

impl<M: MetricsSource, A: Actuator> ControlLoop<M, A> {
    /// A loop deciding with `step` every `interval`.
    pub(crate) fn new(
        step: ControlStep,
        metrics: M,
        actuator: A,
        experience: ExperienceLog,
        observed: Observed,
        interval: Duration,
    ) -> Self {
        observed.metrics.set_model_version(step.model_version());
        Self {
            step,
            metrics,
            actuator,
            experience,
            observed,
            interval,
            tally: Tally::default(),
        }
    }

    /// Runs intervals until `shutdown` resolves. A step under way when it does is finished
    /// (its write made or not, its transition on disk) before the loop returns.
    pub(crate) async fn run(mut self, shutdown: impl Future<Output = ()>) -> Tally {
        let mut ticker = tokio::time::interval(self.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                _ = ticker.tick() => {}
            }
            self.interval_once(unix_now_s()).await;
        }
        info!(
            decisions = self.tally.decisions,
            writes = self.tally.writes,
            transitions = self.experience.len(),
            "control loop stopped"
        );
        self.tally
    }

    /// One interval at `now_s`.
    pub(crate) async fn interval_once(&mut self, now_s: u64) {
        let (read, state) = tokio::join!(self.metrics.read(now_s), self.actuator.state());
        let m = &self.observed.metrics;
        let state = match state {
            Ok(s) => s,
            Err(e) => {
                // Without spec.replicas there is nothing to decide from. It counts towards
                // the actuator breaker like a failed write: the API is what is failing.
                error!(error = %e, "cannot read the Deployment; no decision this interval");
                m.actuator_failed();
                self.step.actuated(now_s, Err(e.to_string()));
                self.tally.unread += 1;
                let (actuator_open, metrics_open) = self.step.breakers_open(now_s);
                m.set_breakers(actuator_open, metrics_open);
                self.observed.health.step_finished(now_s);
                return;
            }
        };
        let read_error = read.as_ref().err().map(ToString::to_string);
        if let Some(e) = &read_error {
            warn!(error = %e, "metrics unavailable; the HPA rule decides this interval");
            m.metrics_failed();
        }
        let metrics = match (&read, &read_error) {
            (Ok(metrics), _) => Ok(metrics),
            (Err(_), Some(text)) => Err(text.as_str()),
            (Err(_), None) => Err("metrics unavailable"),
        };
        if let Ok(metrics) = metrics {
            m.set_latency_p95(metrics.p95_latency_s);
        }
        m.set_replicas(state.spec_replicas);

        let started = Instant::now();
        let mut outcome = self.step.decide(Reading {
            now_s,
            metrics,
            spec_replicas: state.spec_replicas,
            pods: &state.pods,
        });
        let decision = &outcome.decision;
        m.decided(
            decision.current,
            decision.replicas,
            started.elapsed().as_secs_f64(),
        );
        for o in &decision.overrides {
            m.overridden(o.kind);
            info!(reason = o.kind.as_str(), "{}", o.detail);
        }
        self.tally.decisions += 1;

        if decision.apply {
            let (from, to) = (decision.current, decision.replicas);
            match self.actuator.scale(to).await {
                Ok(()) => {
                    self.step.actuated(now_s, Ok(()));
                    m.scaled(to);
                    outcome.transition.applied = true;
                    self.tally.writes += 1;
                    info!(from, to, "scaled");
                }
                Err(e) => {
                    self.step.actuated(now_s, Err(e.to_string()));
                    m.actuator_failed();
                    error!(from, to, error = %e, "scaling failed");
                }
            }
        }
        if let Err(e) = self.experience.append(&outcome.transition) {
            // Losing a transition is bad; stopping to autoscale over it would be worse.
            error!(error = %e, "cannot record the transition; autoscaling goes on");
        }
        let (actuator_open, metrics_open) = self.step.breakers_open(now_s);
        m.set_breakers(actuator_open, metrics_open);
        self.observed.health.step_finished(now_s);
    }
}
