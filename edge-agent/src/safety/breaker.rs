//! A circuit breaker: after repeated failures, stop trying for a while, then try once.
//!
//! Retrying a failing Kubernetes API or Prometheus every 15 s floods logs and the API server
//! and, worse, lets a half-working actuator leave the Deployment at whatever count the last
//! write that happened to succeed set. Holding the current count until one probe succeeds
//! is the predictable choice.

use super::config::BreakerConfig;

/// Where a breaker stands at a given second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BreakerState {
    /// Everything goes through.
    Closed,
    /// Nothing goes through until `until_s`.
    Open {
        /// First second of the half-open state.
        until_s: u64,
    },
    /// One probe may go through; its outcome closes or re-opens the breaker.
    HalfOpen {
        /// Whether the probe has been let through and its outcome is awaited.
        probing: bool,
    },
}

/// One breaker for one failure source (the actuator, or the metrics).
#[derive(Debug, Clone)]
pub(crate) struct CircuitBreaker {
    config: BreakerConfig,
    state: BreakerState,
    consecutive_failures: u32,
    last_error: Option<String>,
}

impl CircuitBreaker {
    pub(crate) fn new(config: BreakerConfig) -> Self {
        Self {
            config,
            state: BreakerState::Closed,
            consecutive_failures: 0,
            last_error: None,
        }
    }

    /// The state at `now_s`: an open breaker whose time is up reads as half-open, so callers
    /// never need to poll it.
    pub(crate) fn state(&self, now_s: u64) -> BreakerState {
        match self.state {
            BreakerState::Open { until_s } if now_s >= until_s => {
                BreakerState::HalfOpen { probing: false }
            }
            state => state,
        }
    }

    /// Failures since the last success.
    #[cfg(test)]
    pub(crate) fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    /// The most recent failure's message, kept for override details and logs.
    pub(crate) fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// Whether an attempt at `now_s` would be let through, without taking the probe.
    #[cfg(test)]
    pub(crate) fn would_allow(&self, now_s: u64) -> bool {
        matches!(
            self.state(now_s),
            BreakerState::Closed | BreakerState::HalfOpen { probing: false }
        )
    }

    /// Asks to make an attempt at `now_s`. In the half-open state only the first caller gets
    /// through, and must report its outcome; later callers wait for it.
    pub(crate) fn try_acquire(&mut self, now_s: u64) -> bool {
        self.state = self.state(now_s);
        match self.state {
            BreakerState::Closed => true,
            BreakerState::HalfOpen { probing: false } => {
                self.state = BreakerState::HalfOpen { probing: true };
                true
            }
            BreakerState::Open { .. } | BreakerState::HalfOpen { probing: true } => false,
        }
    }

    /// The attempt [`Self::try_acquire`] let through was not made after all, so it proves
    /// nothing either way: a half-open breaker lets the next attempt probe instead.
    pub(crate) fn release_probe(&mut self) {
        if self.state == (BreakerState::HalfOpen { probing: true }) {
            self.state = BreakerState::HalfOpen { probing: false };
        }
    }

    /// An attempt worked. A half-open breaker closes; an open one stays open until its time
    /// is up, because the pause is there to let the other side recover, not to be cut short
    /// by a lucky late result.
    pub(crate) fn record_success(&mut self, now_s: u64) {
        self.state = self.state(now_s);
        self.consecutive_failures = 0;
        if let BreakerState::HalfOpen { .. } = self.state {
            self.state = BreakerState::Closed;
        }
    }

    /// An attempt failed. The breaker opens at the threshold, and re-opens at once from
    /// half-open; failures while open do not extend the pause.
    pub(crate) fn record_failure(&mut self, now_s: u64, error: impl Into<String>) {
        self.state = self.state(now_s);
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        self.last_error = Some(error.into());
        let open = BreakerState::Open {
            until_s: now_s.saturating_add(self.config.open_duration_s),
        };
        match self.state {
            BreakerState::Closed if self.consecutive_failures >= self.config.failure_threshold => {
                self.state = open;
            }
            BreakerState::HalfOpen { .. } => self.state = open,
            BreakerState::Closed | BreakerState::Open { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Threshold 3, open for 120 s.
    fn breaker() -> CircuitBreaker {
        CircuitBreaker::new(BreakerConfig::default())
    }

    #[test]
    fn opens_after_three_consecutive_failures_and_holds() {
        let mut b = breaker();
        b.record_failure(100, "timeout");
        b.record_failure(115, "timeout");
        assert_eq!(b.state(115), BreakerState::Closed);
        assert!(b.try_acquire(115));
        b.record_failure(130, "403 Forbidden");
        // Open from 130 until 130 + 120 = 250.
        assert_eq!(b.state(130), BreakerState::Open { until_s: 250 });
        assert_eq!(b.consecutive_failures(), 3);
        assert_eq!(b.last_error(), Some("403 Forbidden"));
        for now in [130, 145, 249] {
            assert!(!b.would_allow(now), "at {now}");
            assert!(!b.try_acquire(now), "at {now}");
        }
    }

    #[test]
    fn a_success_resets_the_count() {
        let mut b = breaker();
        b.record_failure(100, "e");
        b.record_failure(115, "e");
        b.record_success(130);
        b.record_failure(145, "e");
        b.record_failure(160, "e");
        // Two since the success: still closed. The third opens it.
        assert_eq!(b.state(160), BreakerState::Closed);
        b.record_failure(175, "e");
        assert_eq!(b.state(175), BreakerState::Open { until_s: 295 });
    }

    #[test]
    fn half_open_after_the_open_duration_lets_one_probe_through() {
        let mut b = breaker();
        for t in [0, 15, 30] {
            b.record_failure(t, "e");
        }
        assert_eq!(b.state(149), BreakerState::Open { until_s: 150 });
        assert_eq!(b.state(150), BreakerState::HalfOpen { probing: false });
        assert!(b.would_allow(150));
        // would_allow does not take the probe.
        assert!(b.would_allow(150));
        assert!(b.try_acquire(150));
        assert_eq!(b.state(150), BreakerState::HalfOpen { probing: true });
        // A second attempt waits for the probe's outcome.
        assert!(!b.would_allow(165));
        assert!(!b.try_acquire(165));
    }

    #[test]
    fn probe_success_closes() {
        let mut b = breaker();
        for t in [0, 15, 30] {
            b.record_failure(t, "e");
        }
        assert!(b.try_acquire(150));
        b.record_success(152);
        assert_eq!(b.state(152), BreakerState::Closed);
        assert_eq!(b.consecutive_failures(), 0);
        assert!(b.try_acquire(165));
        assert!(b.try_acquire(180));
    }

    #[test]
    fn probe_failure_reopens_for_another_open_duration() {
        let mut b = breaker();
        for t in [0, 15, 30] {
            b.record_failure(t, "e");
        }
        assert!(b.try_acquire(150));
        // One failure is enough from half-open: open until 152 + 120 = 272.
        b.record_failure(152, "still down");
        assert_eq!(b.state(152), BreakerState::Open { until_s: 272 });
        assert!(!b.try_acquire(271));
        assert!(b.try_acquire(272));
    }

    #[test]
    fn failures_and_successes_while_open_do_not_move_the_deadline() {
        let mut b = breaker();
        for t in [0, 15, 30] {
            b.record_failure(t, "e");
        }
        // Open until 150. A failure at 60 does not push it to 180…
        b.record_failure(60, "e");
        assert_eq!(b.state(60), BreakerState::Open { until_s: 150 });
        // …and a success at 90 does not close it early, though it resets the count.
        b.record_success(90);
        assert_eq!(b.state(90), BreakerState::Open { until_s: 150 });
        assert_eq!(b.consecutive_failures(), 0);
        // A success reported once the time is up closes it (the half-open probe).
        b.record_success(150);
        assert_eq!(b.state(150), BreakerState::Closed);
    }

    #[test]
    fn threshold_one_opens_on_the_first_failure() {
        let mut b = CircuitBreaker::new(BreakerConfig {
            failure_threshold: 1,
            open_duration_s: 10,
        });
        b.record_failure(5, "e");
        assert_eq!(b.state(5), BreakerState::Open { until_s: 15 });
    }
}
