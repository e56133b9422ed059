//! What `coordinator simulate` prints at the end: a table per cluster comparing the
//! federated model with the same agent trained alone, the HPA and the oracle, the fleet's
//! means, and the transfer race; or all of it as one JSON object.

use comfy_table::presets::UTF8_BORDERS_ONLY;
use comfy_table::{CellAlignment, Table};
use common::rl::transfer::Score;
use serde::Serialize;

/// The whole run's results.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Report {
    /// What was run.
    pub(crate) settings: Settings,
    /// One row per round.
    pub(crate) rounds: Vec<RoundRow>,
    /// Every cluster's comparison.
    pub(crate) clusters: Vec<ClusterRow>,
    /// Means over the clusters.
    pub(crate) fleet_mean: PolicyScores,
    /// The transfer race, unless skipped.
    pub(crate) transfer: Option<TransferRow>,
    /// Wall-clock seconds per phase.
    pub(crate) seconds: Timings,
}

/// The run's parameters, echoed so a saved report says what it measured.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Settings {
    pub(crate) algo: String,
    pub(crate) clusters: usize,
    pub(crate) rounds: u64,
    pub(crate) budget_per_round: u64,
    pub(crate) start: String,
    pub(crate) strategy: String,
    /// FedProx's μ for the federated agents; 0 is plain FedAvg.
    pub(crate) proximal_mu: f64,
    /// How the agents' updates travelled: `f16` or `f32` deltas.
    pub(crate) update_precision: String,
    pub(crate) seed: u64,
    pub(crate) eval_seeds: Vec<u64>,
    pub(crate) final_version: u64,
}

/// One federated round as the coordinator summarised it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RoundRow {
    pub(crate) round: u64,
    pub(crate) version: Option<u64>,
    pub(crate) participants: usize,
    pub(crate) accepted: usize,
    /// Mean over contributors of their local training episodes' cost.
    pub(crate) local_cost: Option<f64>,
    /// Mean over contributors of their local SLO compliance (0–1).
    pub(crate) local_slo_compliance: Option<f64>,
    pub(crate) seconds: f64,
}

/// The four policies' scores on one workload.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct PolicyScores {
    pub(crate) federated: Score,
    /// `None` when the solo baseline was skipped.
    pub(crate) alone: Option<Score>,
    pub(crate) hpa: Score,
    pub(crate) oracle: Score,
}

/// One cluster's comparison on its own workload's held-out episodes.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ClusterRow {
    pub(crate) cluster: String,
    pub(crate) workload: String,
    #[serde(flatten)]
    pub(crate) scores: PolicyScores,
}

/// Transfer to a workload no cluster trained on.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TransferRow {
    pub(crate) workload: String,
    pub(crate) budget: u64,
    pub(crate) eval_every: u64,
    pub(crate) hpa: Score,
    /// Whether the first global model (the shipped one) was trained on this workload,
    /// which makes the race no test of transfer.
    pub(crate) seen_by_start: bool,
    /// Whether the fine-tune trained only the head.
    pub(crate) frozen_extractor: bool,
    /// Steps until HPA-level cost when fine-tuning the global model.
    pub(crate) fine_tuned_steps: Option<u64>,
    /// The same from freshly initialised weights.
    pub(crate) scratch_steps: Option<u64>,
    /// (steps, cost, SLO compliance) of each evaluation, fine-tuned.
    pub(crate) fine_tuned_curve: Vec<(u64, f64, f64)>,
    /// The same, from scratch.
    pub(crate) scratch_curve: Vec<(u64, f64, f64)>,
}

/// Wall-clock time of each phase, seconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub(crate) struct Timings {
    pub(crate) federation: f64,
    pub(crate) alone: f64,
    pub(crate) evaluation: f64,
    pub(crate) transfer: f64,
}

/// The mean of `scores` field by field.
pub(crate) fn mean(scores: impl IntoIterator<Item = Score>) -> Option<Score> {
    let scores: Vec<Score> = scores.into_iter().collect();
    if scores.is_empty() {
        return None;
    }
    let n = scores.len() as f64;
    let avg = |f: fn(&Score) -> f64| scores.iter().map(f).sum::<f64>() / n;
    Some(Score {
        cost: avg(|s| s.cost),
        slo_compliance: avg(|s| s.slo_compliance),
        error_rate: avg(|s| s.error_rate),
        p95_ms: avg(|s| s.p95_ms),
    })
}

impl Report {
    /// The human-readable form: per-cluster table, fleet means, transfer.
    pub(crate) fn to_text(&self) -> String {
        let mut out = String::new();
        let s = &self.settings;
        out.push_str(&format!(
            "\n{} clusters, {} rounds of {} steps per agent ({}, start: {}, {}, {} deltas), judged on seeds {:?}; final global model v{}\n\n",
            s.clusters,
            s.rounds,
            s.budget_per_round,
            s.algo,
            s.start,
            if s.proximal_mu > 0.0 {
                format!("{}, FedProx μ = {}", s.strategy, s.proximal_mu)
            } else {
                s.strategy.clone()
            },
            s.update_precision,
            s.eval_seeds,
            s.final_version
        ));
        let mut table = Table::new();
        table.load_style(UTF8_BORDERS_ONLY);
        table.set_header([
            "cluster", "workload", "policy", "cost", "vs HPA", "p95 ms", "SLO met", "errors",
        ]);
        let mut add = |cluster: &str, workload: &str, scores: &PolicyScores| {
            let rows = [
                ("federated", Some(scores.federated)),
                ("trained alone", scores.alone),
                ("hpa", Some(scores.hpa)),
                ("oracle", Some(scores.oracle)),
            ];
            for (i, (policy, score)) in rows.into_iter().enumerate() {
                let Some(score) = score else { continue };
                let (c, w) = if i == 0 {
                    (cluster, workload)
                } else {
                    ("", "")
                };
                table.add_row([
                    c.to_owned(),
                    w.to_owned(),
                    policy.to_owned(),
                    format!("{:.3}", score.cost),
                    format!("{:.3}×", score.cost / scores.hpa.cost),
                    format!("{:.0}", score.p95_ms),
                    format!("{:.1} %", 100.0 * score.slo_compliance),
                    format!("{:.2} %", 100.0 * score.error_rate),
                ]);
            }
        };
        for c in &self.clusters {
            add(&c.cluster, &c.workload, &c.scores);
        }
        add("fleet mean", "", &self.fleet_mean);
        for i in 3..8 {
            if let Some(col) = table.column_mut(i) {
                col.set_cell_alignment(CellAlignment::Right);
            }
        }
        out.push_str(&table.to_string());
        out.push('\n');
        if let Some(t) = &self.transfer {
            let steps = |s: Option<u64>| {
                s.map_or_else(
                    || format!("not within {} steps", t.budget),
                    |n| format!("{n} steps"),
                )
            };
            out.push_str(&format!(
                "\ntransfer to held-out `{}` (HPA cost {:.3}, SLO met {:.1} %), steps to HPA-level cost (no dearer, SLO met at most 1 point less often), evaluated every {} steps:\n  fine-tuned from the global model ({}): {}\n  trained from scratch: {}\n",
                t.workload,
                t.hpa.cost,
                100.0 * t.hpa.slo_compliance,
                t.eval_every,
                if t.frozen_extractor { "extractor frozen" } else { "all layers" },
                steps(t.fine_tuned_steps),
                steps(t.scratch_steps)
            ));
            if t.seen_by_start {
                out.push_str(&format!(
                    "  (not a new workload: the shipped model the fleet started from was trained on `{}`; start fresh, or hold out a trace, to measure transfer)\n",
                    t.workload
                ));
            }
        }
        let secs = &self.seconds;
        out.push_str(&format!(
            "\ntime: federation {:.0} s, trained alone {:.0} s, evaluation {:.0} s, transfer {:.0} s\n",
            secs.federation, secs.alone, secs.evaluation, secs.transfer
        ));
        out
    }
}
