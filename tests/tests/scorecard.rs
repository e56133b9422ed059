//! The scorecard end to end: the `edge-agent evaluate` binary on the six named scenarios
//! and on a real trace, judged on the numbers it prints.

use rl_autoscaler_tests::{edge_agent, edge_agent_json, shared_traces};
use serde_json::Value;

const FIELDS: [&str; 13] = [
    "policy",
    "scenario",
    "seed",
    "pod_hours",
    "cost",
    "p95_ms",
    "slo_compliance",
    "error_rate",
    "cpu_utilization",
    "actions_per_hour",
    "recovery_s",
    "cost_per_million",
    "over_oracle_pct",
];

fn rows(v: &Value) -> &Vec<Value> {
    v.as_array().expect("a JSON array")
}

fn find<'a>(rows: &'a [Value], policy: &str, scenario: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["policy"] == policy && r["scenario"] == scenario)
        .unwrap_or_else(|| panic!("no row for {policy} on {scenario}"))
}

fn f(row: &Value, field: &str) -> f64 {
    row[field]
        .as_f64()
        .unwrap_or_else(|| panic!("{field} is not a number in {row}"))
}

#[test]
fn same_seed_gives_byte_identical_json() {
    let args = [
        "evaluate",
        "--policy",
        "hpa,tuned,oracle",
        "--scenario",
        "all",
        "--seed",
        "7",
        "--format",
        "json",
    ];
    let a = edge_agent(&args);
    let b = edge_agent(&args);
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    assert!(!a.stdout.is_empty());
    assert_eq!(a.stdout, b.stdout);
    let other = edge_agent(&[
        "evaluate",
        "--policy",
        "hpa,tuned,oracle",
        "--scenario",
        "all",
        "--seed",
        "8",
        "--format",
        "json",
    ]);
    assert_ne!(
        a.stdout, other.stdout,
        "a different seed should change the numbers"
    );
}

#[test]
fn rows_carry_exactly_the_documented_fields() {
    let v = edge_agent_json(&[
        "evaluate",
        "--policy",
        "hpa,oracle",
        "--scenario",
        "steady,flash_crowd",
        "--seed",
        "1,2",
        "--duration",
        "1h",
        "--format",
        "json",
    ]);
    let rows = rows(&v);
    assert_eq!(rows.len(), 2 * 2 * 2);
    for r in rows {
        let keys: Vec<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
        let mut want = FIELDS.to_vec();
        want.sort_unstable();
        let mut got = keys.clone();
        got.sort_unstable();
        assert_eq!(got, want);
    }
    let oracle = find(rows, "oracle", "steady");
    assert_eq!(f(oracle, "over_oracle_pct"), 0.0);
}

/// The yardsticks behave as the issue expects on the default evaluation seed: the oracle is
/// the floor and keeps the SLO; the HPA keeps it on smooth load and misses it on spikes.
#[test]
fn oracle_is_the_floor_and_the_hpa_misses_spikes() {
    let v = edge_agent_json(&[
        "evaluate",
        "--policy",
        "hpa,oracle",
        "--scenario",
        "all",
        "--format",
        "json",
    ]);
    let rows = rows(&v);
    for scenario in [
        "steady",
        "gradual_ramp",
        "sudden_spike",
        "daily_pattern",
        "idle_periods",
        "flash_crowd",
    ] {
        let hpa = find(rows, "hpa", scenario);
        let oracle = find(rows, "oracle", scenario);
        assert!(
            f(oracle, "cost") <= f(hpa, "cost"),
            "{scenario}: oracle {oracle} vs hpa {hpa}"
        );
        assert!(f(oracle, "slo_compliance") >= 0.99, "{scenario}: {oracle}");
        assert!(f(oracle, "error_rate") < 1e-6, "{scenario}: {oracle}");
    }
    for smooth in ["steady", "daily_pattern"] {
        assert!(
            f(find(rows, "hpa", smooth), "slo_compliance") >= 0.95,
            "{smooth}"
        );
    }
    for spiky in ["sudden_spike", "flash_crowd"] {
        let hpa = find(rows, "hpa", spiky);
        assert!(f(hpa, "slo_compliance") < 0.99, "{spiky}: {hpa}");
        assert!(f(hpa, "error_rate") > 0.0, "{spiky}: {hpa}");
        assert!(f(hpa, "recovery_s") > 60.0, "{spiky}: {hpa}");
    }
}

#[test]
fn nasa_trace_replays_end_to_end_at_a_chosen_peak() {
    let trace = shared_traces().join("nasa_http_1995_per_minute.csv");
    let scenario = format!("trace:{}", trace.display());
    let v = edge_agent_json(&[
        "evaluate",
        "--policy",
        "hpa,oracle",
        "--scenario",
        &scenario,
        "--start",
        "7d",
        "--duration",
        "2d",
        "--peak-rps",
        "900",
        "--format",
        "json",
    ]);
    let rows = rows(&v);
    assert_eq!(rows.len(), 2);
    let hpa = find(rows, "hpa", "trace:nasa_http_1995_per_minute.csv");
    let oracle = find(rows, "oracle", "trace:nasa_http_1995_per_minute.csv");
    // Two days of pods: at least min replicas (1) for 48 h, at most max (20).
    for r in [hpa, oracle] {
        assert!((48.0..=20.0 * 48.0).contains(&f(r, "pod_hours")), "{r}");
        assert!(f(r, "cost_per_million") > 0.0);
    }
    assert!(f(oracle, "cost") <= f(hpa, "cost"));
    assert!(f(oracle, "slo_compliance") >= 0.99);
    // Diurnal web traffic makes the HPA scale many times a day.
    assert!(f(hpa, "actions_per_hour") > 1.0, "{hpa}");
}

#[test]
fn a_malformed_trace_is_refused_with_its_line_number() {
    let dir = std::env::temp_dir().join(format!("scorecard-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.csv");
    std::fs::write(&path, "minute,requests\n0,10\n1,eleven\n2,12\n").unwrap();
    let out = edge_agent(&[
        "evaluate",
        "--policy",
        "hpa",
        "--scenario",
        &format!("trace:{}", path.display()),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.csv:3"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_table_has_units_in_its_headers() {
    let out = edge_agent(&[
        "evaluate",
        "--policy",
        "hpa",
        "--scenario",
        "steady",
        "--duration",
        "30m",
    ]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for header in [
        "p95 (ms)",
        "SLO met (%)",
        "errors (%)",
        "recovery (s)",
        "vs oracle (%)",
    ] {
        assert!(text.contains(header), "missing {header} in\n{text}");
    }
}
