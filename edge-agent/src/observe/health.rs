//! Liveness and readiness, as the control loop reports them.
//!
//! Readiness means "this agent has completed a control step against the cluster": until
//! then it has read nothing and decided nothing. Liveness means "the loop is still turning":
//! a step that has not finished within the stall limit (a hung API call that escaped its
//! timeout, a deadlock) makes `/healthz` fail so the kubelet restarts the pod. Time is the
//! caller's unix seconds, so the rules are testable without a clock.

use std::sync::atomic::{AtomicU64, Ordering};

/// Shared between the loop (writer) and the probe handlers (readers).
#[derive(Debug)]
pub(crate) struct Health {
    started_at_s: u64,
    /// Unix second the last step finished; 0 before the first.
    last_step_s: AtomicU64,
    /// How long without a finished step before the loop counts as stalled.
    stall_after_s: u64,
}

/// A probe's answer: healthy or not, and why, for the response body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Probe {
    pub(crate) ok: bool,
    pub(crate) detail: String,
}

impl Health {
    /// Health for a loop started at `started_at_s` whose steps should finish at least every
    /// `stall_after_s` seconds.
    pub(crate) fn new(started_at_s: u64, stall_after_s: u64) -> Self {
        Self {
            started_at_s,
            last_step_s: AtomicU64::new(0),
            stall_after_s,
        }
    }

    /// Records that a step finished at `now_s`.
    pub(crate) fn step_finished(&self, now_s: u64) {
        self.last_step_s.store(now_s.max(1), Ordering::Relaxed);
    }

    /// Liveness at `now_s`: the last finished step (or the start, before the first) is
    /// recent enough.
    pub(crate) fn liveness(&self, now_s: u64) -> Probe {
        let last = self.last_step_s.load(Ordering::Relaxed);
        let since = if last == 0 { self.started_at_s } else { last };
        let age = now_s.saturating_sub(since);
        if age <= self.stall_after_s {
            Probe {
                ok: true,
                detail: "ok".to_owned(),
            }
        } else {
            Probe {
                ok: false,
                detail: format!(
                    "the control loop has not finished a step for {age} s (limit {} s)",
                    self.stall_after_s
                ),
            }
        }
    }

    /// Readiness: a step has finished.
    pub(crate) fn readiness(&self) -> Probe {
        if self.last_step_s.load(Ordering::Relaxed) == 0 {
            Probe {
                ok: false,
                detail: "no control step has finished yet".to_owned(),
            }
        } else {
            Probe {
                ok: true,
                detail: "ok".to_owned(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_after_the_first_step_and_alive_while_steps_keep_finishing() {
        let h = Health::new(1_000, 90);
        assert!(!h.readiness().ok);
        assert!(h.liveness(1_090).ok, "starting up is not a stall");
        let stalled = h.liveness(1_091);
        assert!(!stalled.ok);
        assert!(stalled.detail.contains("91 s"), "{}", stalled.detail);

        h.step_finished(1_050);
        assert!(h.readiness().ok);
        assert!(h.liveness(1_140).ok);
        assert!(!h.liveness(1_141).ok);
    }
}
