//! What the control loop consults right before each write: the end of this agent's term
//! as the leader-election task last published it. The loop compares it with its own clock
//! at the moment of the write, so a task that stalls (and stops publishing) cannot leave a
//! stale "yes" behind; the term simply runs out.

use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::elector::may_start_write;

/// A receiver of the term's end, and how long a write may take.
#[derive(Debug, Clone)]
pub(crate) struct LeaderGate {
    deadline: watch::Receiver<Option<Instant>>,
    write_timeout: Duration,
}

impl LeaderGate {
    /// A gate reading `deadline`; a write may start while `write_timeout` is left of it.
    pub(crate) fn new(deadline: watch::Receiver<Option<Instant>>, write_timeout: Duration) -> Self {
        Self {
            deadline,
            write_timeout,
        }
    }

    /// Whether a write may start now.
    pub(crate) fn may_write(&self) -> bool {
        may_start_write(*self.deadline.borrow(), Instant::now(), self.write_timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_stop_when_the_published_term_runs_out_without_a_new_publication() {
        let (publish, deadline) = watch::channel(None);
        let gate = LeaderGate::new(deadline, Duration::from_millis(50));
        assert!(!gate.may_write(), "standing by until a term is published");
        publish.send_replace(Some(Instant::now() + Duration::from_millis(200)));
        assert!(gate.may_write());
        std::thread::sleep(Duration::from_millis(160));
        assert!(!gate.may_write(), "less than the write timeout left");
        publish.send_replace(Some(Instant::now() + Duration::from_secs(5)));
        assert!(gate.may_write());
        publish.send_replace(None);
        assert!(!gate.may_write());
    }
}
