//! The 12-entry observation, in the seed's order.

use std::collections::VecDeque;

use crate::policy::ObservedMetrics;
use crate::sim::SimConfig;

/// Number of entries in an observation.
pub const OBSERVATION_LEN: usize = 12;

/// Normalised state, every entry in [0, 1]:
///
/// | index | entry |
/// |---|---|
/// | 0–2 | CPU utilisation of ready pods: current, mean, max over the history window |
/// | 3–5 | memory utilisation: current, mean, max |
/// | 6 | request rate / (max replicas × pod capacity) |
/// | 7 | p95 latency / (5 × SLO) |
/// | 8 | queue length / (max(ready, 1) × per-pod queue limit): how full the backlog is |
/// | 9 | pods (starting or ready) / max replicas |
/// | 10 | pending pods / max replicas |
/// | 11 | error rate (failed / arrived) |
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Observation(pub [f32; OBSERVATION_LEN]);

impl Observation {
    /// The entries as a slice, for networks.
    pub fn as_slice(&self) -> &[f32] {
        &self.0
    }
}

/// Turns lagged metrics into observations, remembering the history window for the
/// mean/max entries.
#[derive(Debug, Clone)]
pub struct ObservationBuilder {
    history_len: usize,
    cpu: VecDeque<f64>,
    memory: VecDeque<f64>,
}

/// Multiples of the SLO that map to 1.0 in the latency entry.
pub(crate) const LATENCY_CEILING_SLOS: f64 = 5.0;

fn unit(x: f64) -> f32 {
    if x.is_nan() {
        0.0
    } else {
        x.clamp(0.0, 1.0) as f32
    }
}

impl ObservationBuilder {
    /// A builder for `cfg`; its history spans `metrics.history_window_s`, one sample per decision.
    pub fn new(cfg: &SimConfig) -> Self {
        let history_len = (cfg.metrics.history_window_s / cfg.decision_interval_s).max(1) as usize;
        Self {
            history_len,
            cpu: VecDeque::with_capacity(history_len),
            memory: VecDeque::with_capacity(history_len),
        }
    }

    /// Forgets the history.
    pub fn reset(&mut self) {
        self.cpu.clear();
        self.memory.clear();
    }

    /// Records `metrics` and returns the observation. `spec_replicas` counts pods asked for
    /// (starting or ready); without metrics yet, rate entries are zero.
    pub fn push(
        &mut self,
        cfg: &SimConfig,
        metrics: Option<&ObservedMetrics>,
        spec_replicas: u32,
    ) -> Observation {
        let max = f64::from(cfg.replicas.max);
        let mut o = [0.0f32; OBSERVATION_LEN];
        o[9] = unit(f64::from(spec_replicas) / max);
        let Some(m) = metrics else {
            return Observation(o);
        };
        for (buf, value) in [
            (&mut self.cpu, m.cpu_utilization),
            (&mut self.memory, m.memory_utilization),
        ] {
            if buf.len() == self.history_len {
                buf.pop_front();
            }
            buf.push_back(value);
        }
        let stats = |buf: &VecDeque<f64>| {
            let mean = buf.iter().sum::<f64>() / buf.len() as f64;
            let max = buf.iter().copied().fold(f64::MIN, f64::max);
            (mean, max)
        };
        let (cpu_mean, cpu_max) = stats(&self.cpu);
        let (mem_mean, mem_max) = stats(&self.memory);
        o[0] = unit(m.cpu_utilization);
        o[1] = unit(cpu_mean);
        o[2] = unit(cpu_max);
        o[3] = unit(m.memory_utilization);
        o[4] = unit(mem_mean);
        o[5] = unit(mem_max);
        o[6] = unit(m.request_rate_rps / cfg.max_capacity_rps());
        o[7] = unit(m.p95_latency_s / (LATENCY_CEILING_SLOS * cfg.slo_s()));
        o[8] = unit(m.queue_length / (f64::from(m.ready_pods.max(1)) * cfg.pod.queue_limit));
        o[10] = unit(f64::from(m.pending_pods) / max);
        o[11] = unit(m.error_rate);
        Observation(o)
    }
}
