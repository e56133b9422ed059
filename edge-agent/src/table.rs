//! The scorecard as an aligned table, with a per-policy summary.

use std::collections::BTreeMap;

use comfy_table::presets::UTF8_BORDERS_ONLY;
use comfy_table::{CellAlignment, Table};
use common::scorecard::ScoreRow;

fn num(v: f64, decimals: usize) -> String {
    format!("{v:.decimals$}")
}

/// Renders one line per run, then one line per policy summed over the runs (each run
/// weighs equally in the means).
pub(crate) fn render(rows: &[ScoreRow]) -> String {
    let mut t = Table::new();
    t.load_style(UTF8_BORDERS_ONLY);
    t.set_header([
        "policy",
        "scenario",
        "seed",
        "pod-hours",
        "cost",
        "p95 (ms)",
        "SLO met (%)",
        "errors (%)",
        "CPU (%)",
        "actions/h",
        "recovery (s)",
        "cost/M req",
        "vs oracle (%)",
    ]);
    for r in rows {
        t.add_row([
            r.policy.clone(),
            r.scenario.clone(),
            r.seed.to_string(),
            num(r.pod_hours, 2),
            num(r.cost, 3),
            num(r.p95_ms, 0),
            num(100.0 * r.slo_compliance, 1),
            num(100.0 * r.error_rate, 3),
            num(100.0 * r.cpu_utilization, 1),
            num(r.actions_per_hour, 1),
            r.recovery_s.map_or_else(|| "-".to_owned(), |v| num(v, 0)),
            num(r.cost_per_million, 4),
            r.over_oracle_pct
                .map_or_else(|| "-".to_owned(), |v| format!("{v:+.1}")),
        ]);
    }
    for i in 3..13 {
        if let Some(c) = t.column_mut(i) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    let mut out = t.to_string();
    out.push('\n');

    // Summary: per policy, in first-seen order.
    let mut order: Vec<&str> = Vec::new();
    let mut by_policy: BTreeMap<&str, Vec<&ScoreRow>> = BTreeMap::new();
    for r in rows {
        if !by_policy.contains_key(r.policy.as_str()) {
            order.push(&r.policy);
        }
        by_policy.entry(&r.policy).or_default().push(r);
    }
    let mut s = Table::new();
    s.load_style(UTF8_BORDERS_ONLY);
    s.set_header([
        "policy",
        "runs",
        "total cost",
        "vs oracle (%)",
        "mean SLO met (%)",
        "mean errors (%)",
        "worst SLO met (%)",
    ]);
    for p in order {
        let rs = &by_policy[p];
        let n = rs.len() as f64;
        let cost: f64 = rs.iter().map(|r| r.cost).sum();
        // The oracle's cost on the same runs, recovered from each row's percentage.
        let oracle_cost: f64 = rs
            .iter()
            .filter_map(|r| r.over_oracle_pct.map(|p| r.cost / (1.0 + p / 100.0)))
            .sum();
        let worst = rs
            .iter()
            .map(|r| r.slo_compliance)
            .fold(f64::INFINITY, f64::min);
        s.add_row([
            p.to_owned(),
            rs.len().to_string(),
            num(cost, 3),
            if oracle_cost > 0.0 {
                format!("{:+.1}", (cost / oracle_cost - 1.0) * 100.0)
            } else {
                "-".into()
            },
            num(
                100.0 * rs.iter().map(|r| r.slo_compliance).sum::<f64>() / n,
                1,
            ),
            num(100.0 * rs.iter().map(|r| r.error_rate).sum::<f64>() / n, 3),
            num(100.0 * worst, 1),
        ]);
    }
    for i in 1..7 {
        if let Some(c) = s.column_mut(i) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    out.push_str(&s.to_string());
    out.push('\n');
    out
}
