//! Scheduled retraining for `run` (`[twin] retrain_every_h`): whenever the experience log
//! holds that much recorded traffic past the newest sample the last verdict saw, the agent
//! runs `edge-agent retrain` on its log and model store as a child process at a lower CPU
//! priority. A separate process keeps training's memory, CPU and any crash away from the
//! control loop; the loop itself only notices the store's `current` move (see
//! `control::store_models`) and counts the verdict from the decision log.
//!
//! [`due`] is the whole schedule and pure; [`RetrainTimer::run`] is its shell.

use std::path::PathBuf;
use std::time::Duration;

use tracing::{info, warn};

use super::store::DecisionTail;
use crate::experience::ExperienceReader;

/// Whether a retrain is due: `every_s` of recorded traffic between the newest sample the
/// last verdict saw (or, before any verdict, the oldest retained sample) and the newest
/// sample now.
pub(crate) fn due(
    oldest_s: u64,
    newest_s: u64,
    last_verdict_until_s: Option<u64>,
    every_s: u64,
) -> bool {
    let since = last_verdict_until_s.unwrap_or(oldest_s);
    newest_s.saturating_sub(since) >= every_s
}

/// What the timer needs to run `retrain`.
#[derive(Debug, Clone)]
pub(crate) struct RetrainTimer {
    pub(crate) experience: PathBuf,
    pub(crate) store: PathBuf,
    /// `dqn`, `ppo` or `hybrid`.
    pub(crate) algo: &'static str,
    pub(crate) every_s: u64,
    pub(crate) check_every: Duration,
    pub(crate) timesteps: u64,
    pub(crate) nice: i32,
    /// The agent's `rate()` window, for the calibration.
    pub(crate) rate_window_s: u64,
}

/// The first and last metrics timestamps of the log in `dir`.
fn recorded_span(dir: &std::path::Path) -> Result<Option<(u64, u64)>, String> {
    let mut span: Option<(u64, u64)> = None;
    for t in ExperienceReader::open(dir).map_err(|e| e.to_string())? {
        let t = t.map_err(|e| e.to_string())?;
        if let Some(m) = t.metrics {
            let at = m.timestamp_s;
            span = Some(span.map_or((at, at), |(first, last)| (first.min(at), last.max(at))));
        }
    }
    Ok(span)
}

impl RetrainTimer {
    /// Checks every `check_every` until `shutdown` resolves; a retrain under way then is
    /// killed (the store is left consistent by construction).
    pub(crate) async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(self.check_every) => {}
            }
            let probe = self.clone();
            let checked = tokio::task::spawn_blocking(move || probe.is_due()).await;
            match checked {
                Ok(Ok(true)) => {}
                Ok(Ok(false)) => continue,
                Ok(Err(e)) => {
                    warn!(error = %e, "cannot tell whether a retrain is due");
                    continue;
                }
                Err(e) => {
                    warn!(error = %e, "the retrain check panicked");
                    continue;
                }
            }
            tokio::select! {
                () = &mut shutdown => return,
                () = self.retrain() => {}
            }
        }
    }

    fn is_due(&self) -> Result<bool, String> {
        let Some((oldest, newest)) = recorded_span(&self.experience)? else {
            return Ok(false);
        };
        let (verdicts, _) = DecisionTail::default()
            .read_new(&self.store)
            .map_err(|e| e.to_string())?;
        let last = verdicts.iter().filter_map(|v| v.recorded_until_s).max();
        Ok(due(oldest, newest, last, self.every_s))
    }

    async fn retrain(&self) {
        let exe = match std::env::current_exe() {
            Ok(exe) => exe,
            Err(e) => {
                warn!(error = %e, "cannot find the agent's own executable to retrain with");
                return;
            }
        };
        info!(
            store = %self.store.display(),
            timesteps = self.timesteps,
            "retraining in the twin: enough new traffic recorded"
        );
        let output = tokio::process::Command::new(exe)
            .arg("retrain")
            .arg("--experience")
            .arg(&self.experience)
            .arg("--store")
            .arg(&self.store)
            .args(["--algo", self.algo])
            .args(["--timesteps", &self.timesteps.to_string()])
            .args(["--nice", &self.nice.to_string()])
            .args(["--rate-window-s", &self.rate_window_s.to_string()])
            .args(["--format", "json", "--log-format", "json"])
            .env_remove("EDGE_AGENT_CONFIG")
            .kill_on_drop(true)
            .output()
            .await;
        match output {
            Ok(out) if out.status.success() => {
                let report: serde_json::Value =
                    serde_json::from_slice(&out.stdout).unwrap_or_default();
                info!(
                    promoted = report["promoted"].as_bool().unwrap_or(false),
                    reason = report["reason"].as_str().unwrap_or(""),
                    "retrain finished"
                );
            }
            Ok(out) => {
                let stderr = String::from_utf8_lossy(&out.stderr);
                let last = stderr
                    .lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("");
                warn!(status = %out.status, error = %last, "retrain failed; the model in service keeps deciding");
            }
            Err(e) => warn!(error = %e, "cannot start retrain"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retrain_is_due_after_every_s_of_recorded_traffic_since_the_last_verdict() {
        const H: u64 = 3600;
        // Before any verdict, counted from the oldest sample.
        assert!(!due(0, 6 * H - 1, None, 6 * H));
        assert!(due(0, 6 * H, None, 6 * H));
        // After one, from the newest sample it saw, however old the log is.
        assert!(!due(0, 20 * H, Some(15 * H), 6 * H));
        assert!(due(0, 21 * H, Some(15 * H), 6 * H));
        // A clock that went backwards is never due.
        assert!(!due(10 * H, 5 * H, Some(8 * H), H));
    }
}
