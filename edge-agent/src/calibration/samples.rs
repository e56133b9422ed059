//! The recording turned into fit samples: one per interval whose metrics describe a
//! steady state, i.e. the ready pod count had not changed for a whole `rate()` window
//! before the reading. Rates and utilisations are averages over that window, so a reading
//! taken while pods came or went mixes two pod counts and would bias every fit.

use crate::experience::Transition;

/// What one steady interval says about the workload.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Sample {
    /// Requests per second per ready pod.
    pub(super) rate_per_pod: f64,
    /// CPU of ready pods over their requests.
    pub(super) cpu: f64,
    /// Memory of ready pods over their limits.
    pub(super) memory: f64,
    /// p95 latency, seconds.
    pub(super) p95_s: f64,
    /// Failed responses over all.
    pub(super) error_rate: f64,
    /// Requests waiting per ready pod.
    pub(super) queue_per_pod: f64,
}

/// Everything the fits need from a recording.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Evidence {
    /// Transitions read.
    pub(super) transitions: u64,
    /// Transitions that had metrics.
    pub(super) with_metrics: u64,
    /// Steady intervals with traffic and a ready pod.
    pub(super) steady: Vec<Sample>,
    /// Creation-to-Ready seconds of every pod seen becoming ready.
    pub(super) startups_s: Vec<u32>,
}

impl Evidence {
    /// Collects the evidence in `transitions` (oldest first), judging steadiness over
    /// `rate_window_s`.
    pub(super) fn collect(
        transitions: impl IntoIterator<Item = Transition>,
        rate_window_s: u64,
    ) -> Self {
        let mut out = Self::default();
        // The ready count and the first reading that saw it; `None` after a gap.
        let mut steady_since: Option<(u32, u64)> = None;
        for t in transitions {
            out.transitions += 1;
            out.startups_s.extend_from_slice(&t.pod_startups_s);
            let Some(m) = t.metrics else {
                // Nothing is known about the pods meanwhile.
                steady_since = None;
                continue;
            };
            out.with_metrics += 1;
            let since = match steady_since {
                Some((ready, since)) if ready == m.ready_pods => since,
                _ => m.timestamp_s,
            };
            steady_since = Some((m.ready_pods, since));
            let steady = m.timestamp_s.saturating_sub(since) >= rate_window_s;
            let usable = [m.request_rate_rps, m.cpu_utilization, m.p95_latency_s]
                .iter()
                .all(|v| v.is_finite());
            if steady && usable && m.ready_pods > 0 && m.request_rate_rps > 0.0 {
                let ready = f64::from(m.ready_pods);
                out.steady.push(Sample {
                    rate_per_pod: m.request_rate_rps / ready,
                    cpu: m.cpu_utilization,
                    memory: m.memory_utilization,
                    p95_s: m.p95_latency_s,
                    error_rate: if m.error_rate.is_finite() {
                        m.error_rate
                    } else {
                        0.0
                    },
                    queue_per_pod: if m.queue_length.is_finite() {
                        m.queue_length / ready
                    } else {
                        0.0
                    },
                });
            }
        }
        out
    }
}
