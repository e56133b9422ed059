//! Liveness and readiness of a running coordinator, as its tasks report them.
//!
//! Readiness means "agents can be served": the registry is open (the fleet model loaded
//! or seeded) and the QUIC endpoint is bound, and the coordinator is not shutting down.
//! Liveness means "restarting would not help less than waiting": it fails when the round
//! engine task or the endpoint's accept loop has ended (returned or panicked) while no
//! shutdown was asked for, or when the engine has not completed a turn of its loop for
//! longer than the stall limit. The engine turns at least every few seconds even when
//! idle (see [`ENGINE_HEARTBEAT`]), so a silent engine is one stuck in a publication or
//! deadlocked, not one with nothing to do. Before the coordinator is listening, the
//! stall limit runs from the moment the health was created, so a start-up hung on a
//! registry volume fails too. Times are the caller's, so the rules are tested without
//! waiting.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

/// How often the engine task turns its loop when nothing else wakes it.
pub(crate) const ENGINE_HEARTBEAT: Duration = Duration::from_secs(5);

/// How long the engine may go without a turn before liveness fails: twelve heartbeats,
/// far more than publishing even a large model takes on a healthy disk (well under a
/// second for the 4 MB models measured by `coordinator bench`).
pub const DEFAULT_STALL_LIMIT: Duration = Duration::from_secs(60);

/// A task whose end makes the coordinator unhealthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Task {
    /// The task that owns the round engine and the registry.
    Engine,
    /// The loop that accepts QUIC connections.
    Endpoint,
}

impl Task {
    fn describe(self) -> &'static str {
        match self {
            Self::Engine => "the round engine task",
            Self::Endpoint => "the QUIC endpoint's accept loop",
        }
    }
}

/// Shared between the coordinator's tasks (writers) and the probe handlers (readers).
#[derive(Debug)]
pub struct Health {
    origin: Instant,
    stall_limit: Duration,
    /// Milliseconds from `origin` to the engine's last turn, plus one; 0 before the first.
    engine_turn_ms: AtomicU64,
    listening: AtomicBool,
    stopping: AtomicBool,
    /// The first task end that was not asked for; it never clears.
    failure: Mutex<Option<String>>,
}

/// A probe's answer: healthy or not, and why, for the response body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// Whether the probe passes.
    pub ok: bool,
    /// `ok`, or what is wrong.
    pub detail: String,
}

impl Probe {
    fn pass() -> Self {
        Self {
            ok: true,
            detail: "ok".to_owned(),
        }
    }

    fn fail(detail: String) -> Self {
        Self { ok: false, detail }
    }
}

impl Default for Health {
    fn default() -> Self {
        Self::new(Instant::now(), DEFAULT_STALL_LIMIT)
    }
}

impl Health {
    /// Health of a coordinator starting at `origin` whose engine must turn at least every
    /// `stall_limit`.
    pub fn new(origin: Instant, stall_limit: Duration) -> Self {
        Self {
            origin,
            stall_limit,
            engine_turn_ms: AtomicU64::new(0),
            listening: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            failure: Mutex::new(None),
        }
    }

    /// The registry is open and the endpoint bound.
    pub(crate) fn listening(&self) {
        self.listening.store(true, Ordering::Relaxed);
    }

    /// A shutdown was asked for: stop taking traffic, and let tasks end without it
    /// counting as a failure.
    pub(crate) fn stopping(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }

    /// The engine completed a turn of its loop at `at`.
    pub(crate) fn engine_turned(&self, at: Instant) {
        let ms = u64::try_from(at.saturating_duration_since(self.origin).as_millis())
            .unwrap_or(u64::MAX - 1);
        self.engine_turn_ms.store(ms + 1, Ordering::Relaxed);
    }

    /// `task` ended, by panicking or not. Only the first unexpected end is kept: it is
    /// the cause, later ones are consequences.
    pub(crate) fn task_ended(&self, task: Task, panicked: bool) {
        if self.stopping.load(Ordering::Relaxed) {
            return;
        }
        let how = if panicked { "panicked" } else { "stopped" };
        let mut failure = self.failure.lock().unwrap_or_else(PoisonError::into_inner);
        failure.get_or_insert_with(|| format!("{} {how}", task.describe()));
    }

    /// Liveness at `now`.
    pub fn liveness(&self, now: Instant) -> Probe {
        if let Some(failure) = self.failure() {
            return Probe::fail(failure);
        }
        let turn = self.engine_turn_ms.load(Ordering::Relaxed);
        let since = if turn == 0 {
            self.origin
        } else {
            self.origin + Duration::from_millis(turn - 1)
        };
        let age = now.saturating_duration_since(since);
        if age <= self.stall_limit {
            return Probe::pass();
        }
        let what = if turn == 0 {
            "the coordinator has been starting"
        } else {
            "the round engine has not completed a turn"
        };
        Probe::fail(format!(
            "{what} for {} s (limit {} s)",
            age.as_secs(),
            self.stall_limit.as_secs()
        ))
    }

    /// Readiness: listening, not shutting down, and no task has failed.
    pub fn readiness(&self) -> Probe {
        if let Some(failure) = self.failure() {
            Probe::fail(failure)
        } else if self.stopping.load(Ordering::Relaxed) {
            Probe::fail("shutting down".to_owned())
        } else if !self.listening.load(Ordering::Relaxed) {
            Probe::fail("starting: the registry is not open or the endpoint not bound yet".into())
        } else {
            Probe::pass()
        }
    }

    fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Held by a task for its whole life; dropping it (the task returned, or its future was
/// dropped while unwinding from a panic) tells [`Health`] the task is gone.
#[derive(Debug)]
pub(crate) struct TaskGuard {
    health: Arc<Health>,
    task: Task,
}

impl TaskGuard {
    /// Watches `task`.
    pub(crate) fn new(health: Arc<Health>, task: Task) -> Self {
        Self { health, task }
    }
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.health.task_ended(self.task, std::thread::panicking());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(h: &Health, s: u64) -> Instant {
        h.origin + Duration::from_secs(s)
    }

    #[test]
    fn ready_once_listening_until_shutdown() {
        let h = Health::new(Instant::now(), Duration::from_secs(60));
        let probe = h.readiness();
        assert!(!probe.ok);
        assert!(probe.detail.starts_with("starting"), "{}", probe.detail);
        h.listening();
        assert_eq!(h.readiness(), Probe::pass());
        h.stopping();
        assert_eq!(h.readiness().detail, "shutting down");
    }

    #[test]
    fn alive_while_the_engine_keeps_turning() {
        let h = Health::new(Instant::now(), Duration::from_secs(60));
        assert!(h.liveness(at(&h, 60)).ok, "starting up is not a stall");
        let slow_start = h.liveness(at(&h, 61));
        assert!(!slow_start.ok);
        assert!(
            slow_start.detail.contains("starting for 61 s"),
            "{}",
            slow_start.detail
        );

        h.listening();
        h.engine_turned(at(&h, 50));
        assert!(h.liveness(at(&h, 110)).ok);
        let stalled = h.liveness(at(&h, 111));
        assert!(!stalled.ok);
        assert!(
            stalled
                .detail
                .contains("not completed a turn for 61 s (limit 60 s)"),
            "{}",
            stalled.detail
        );
        h.engine_turned(at(&h, 111));
        assert!(h.liveness(at(&h, 111)).ok, "a turn revives it");
    }

    #[test]
    fn a_task_that_ends_unasked_fails_both_probes_for_good() {
        let h = Arc::new(Health::new(Instant::now(), Duration::from_secs(60)));
        h.listening();
        h.engine_turned(at(&h, 1));
        drop(TaskGuard::new(h.clone(), Task::Endpoint));
        h.task_ended(Task::Engine, true);
        let probe = h.liveness(at(&h, 2));
        assert_eq!(
            probe,
            Probe::fail("the QUIC endpoint's accept loop stopped".to_owned()),
            "the first end is the cause"
        );
        assert_eq!(h.readiness(), probe);
        h.engine_turned(at(&h, 3));
        assert!(!h.liveness(at(&h, 3)).ok, "a failure never clears");
    }

    #[test]
    fn a_panicking_task_is_reported_as_such_and_a_shutdown_is_no_failure() {
        let h = Arc::new(Health::default());
        let guarded = h.clone();
        let outcome = std::thread::spawn(move || {
            let _guard = TaskGuard::new(guarded, Task::Engine);
            panic!("engine bug");
        })
        .join();
        assert!(outcome.is_err());
        assert_eq!(
            h.liveness(Instant::now()).detail,
            "the round engine task panicked"
        );

        let h = Arc::new(Health::default());
        h.listening();
        h.stopping();
        drop(TaskGuard::new(h.clone(), Task::Engine));
        assert!(h.liveness(Instant::now()).ok);
    }
}
