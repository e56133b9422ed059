//! The scorecard: every policy played on the same scenarios and seeds, reduced to the
//! same numbers (cost, latency, SLO compliance, errors, efficiency, churn, recovery, and
//! distance from the clairvoyant oracle).

mod evaluate;
mod run;
mod score;
mod tuning;

pub use evaluate::{Evaluation, PolicyName, PolicySpec};
pub use run::{IntervalRecord, RunRecord, run_policy};
pub use score::{ScoreRow, load_steps, recovery_s};
pub use tuning::{Candidate, TunedTarget, TuningConfig, tune_hpa};
