//! Training's CPU budget: retraining runs beside the node's workloads (it may run in the
//! agent's pod), so before it starts the process lowers its own CPU priority and the
//! kernel gives the workloads the CPU whenever they want it.
//!
//! The niceness is raised with `setpriority(2)` through rustix, a safe API. On Linux the
//! nice value belongs to the thread and threads inherit it, so this must run on the thread
//! that trains, before it starts any other: `retrain` calls it first, on the main thread,
//! which then trains itself. Only raising is attempted: an unprivileged process may not
//! lower its niceness, and a process started already nicer than asked stays as it is.
//!
//! The learners stay on that one thread: burn's `flex` backend (the default) and
//! `ndarray` backend are both built here without their `rayon` feature (see Cargo.lock:
//! neither depends on rayon, and `gemm` runs with `Parallelism::None`), so a training run
//! never uses more than one core.

/// The default niceness of a retraining run: half way to the lowest priority, so training
/// still progresses on a busy node but yields to anything at the default 0.
pub(crate) const DEFAULT_NICE: i32 = 10;

/// The priority could not be lowered.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PriorityError {
    /// Outside the range the kernel accepts.
    #[error("niceness {0} is outside -20..=19")]
    Range(i32),
    /// The system call failed.
    #[error("cannot set the process niceness to {wanted}: {source}")]
    Os {
        /// The niceness asked for.
        wanted: i32,
        /// Why.
        source: std::io::Error,
    },
    /// No way to do it on this platform.
    #[cfg(not(unix))]
    #[error("lowering the CPU priority is not supported on this platform")]
    Unsupported,
}

/// The niceness to set, if any: `wanted` when it is nicer than `current`, else nothing
/// (never raise the priority back).
pub(crate) fn niceness_change(current: i32, wanted: i32) -> Option<i32> {
    (wanted > current).then_some(wanted)
}

/// Makes the calling thread (and the threads it starts afterwards) at least as nice as
/// `wanted`; returns the niceness in effect afterwards.
pub(crate) fn lower_priority(wanted: i32) -> Result<i32, PriorityError> {
    if !(-20..=19).contains(&wanted) {
        return Err(PriorityError::Range(wanted));
    }
    os::lower(wanted)
}

#[cfg(unix)]
mod os {
    use rustix::process::{getpriority_process, setpriority_process};

    use super::{PriorityError, niceness_change};

    pub(super) fn lower(wanted: i32) -> Result<i32, PriorityError> {
        let os = |source: rustix::io::Errno| PriorityError::Os {
            wanted,
            source: source.into(),
        };
        let current = getpriority_process(None).map_err(os)?;
        match niceness_change(current, wanted) {
            Some(n) => {
                setpriority_process(None, n).map_err(os)?;
                getpriority_process(None).map_err(os)
            }
            None => Ok(current),
        }
    }
}

#[cfg(not(unix))]
mod os {
    use super::PriorityError;

    pub(super) fn lower(_wanted: i32) -> Result<i32, PriorityError> {
        Err(PriorityError::Unsupported)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_nicer_value_is_set() {
        assert_eq!(niceness_change(0, 10), Some(10));
        assert_eq!(niceness_change(10, 10), None);
        assert_eq!(
            niceness_change(15, 10),
            None,
            "never raise the priority back"
        );
    }

    #[test]
    fn out_of_range_is_refused() {
        assert!(matches!(lower_priority(20), Err(PriorityError::Range(20))));
        assert!(matches!(
            lower_priority(-21),
            Err(PriorityError::Range(-21))
        ));
    }

    /// On its own thread: Linux nice values are per thread, so the test runner's other
    /// threads keep theirs.
    #[cfg(target_os = "linux")]
    #[test]
    fn the_calling_thread_becomes_nicer_and_stays_so() {
        std::thread::spawn(|| {
            let now = rustix::process::getpriority_process(None).unwrap();
            let wanted = (now + 3).min(19);
            assert_eq!(lower_priority(wanted).unwrap(), wanted);
            // Asking for less is not an error and changes nothing.
            assert_eq!(lower_priority(wanted - 1).unwrap(), wanted);
        })
        .join()
        .unwrap();
    }
}
