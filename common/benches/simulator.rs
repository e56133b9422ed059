//! Simulator speed: simulated seconds per wall-clock second on one core.
//!
//! Target (issue 2): ≥ 1,000,000 simulated seconds per second, so a two-month per-minute
//! trace evaluates in well under a second. Criterion reports throughput in "elements",
//! one element being one simulated second.

use std::hint::black_box;

use common::env::{Env, EnvConfig};
use common::policy::{Hpa, Policy};
use common::scenario::{Scenario, ScenarioOptions, ScenarioSpec};
use common::sim::Simulator;
use common::traffic::PatternKind;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const SECONDS: u64 = 24 * 3600;

fn daily() -> common::traffic::ArrivalSeries {
    let cfg = EnvConfig::default();
    let opts = ScenarioOptions {
        duration_s: Some(SECONDS),
        ..ScenarioOptions::default()
    };
    Scenario::build(
        &ScenarioSpec::Pattern(PatternKind::DailyPattern),
        &opts,
        &cfg.sim,
    )
    .expect("scenario")
    .arrivals(1)
}

fn bench(c: &mut Criterion) {
    let arrivals = daily();
    let mut g = c.benchmark_group("simulator");
    g.throughput(Throughput::Elements(SECONDS));
    g.sample_size(20);

    // The bare simulator stepping one day, scaling with a cheap proportional rule so pods
    // start and stop as they would under a real policy.
    g.bench_function("step_one_day", |b| {
        b.iter(|| {
            let cfg = EnvConfig::default();
            let mut sim = Simulator::new(cfg.sim, arrivals.clone(), 1).expect("config");
            while !sim.finished() {
                let rate = sim.observed().map_or(0.0, |m| m.request_rate_rps);
                sim.scale_to((rate / 70.0).ceil() as u32);
                black_box(sim.step_interval());
            }
            sim.ledger()
        });
    });

    // The full evaluation path: observation, reward and the HPA port every 15 s.
    g.bench_function("env_with_hpa_one_day", |b| {
        b.iter(|| {
            let mut env = Env::new(EnvConfig::default(), arrivals.clone(), 1).expect("config");
            let mut hpa = Hpa::default();
            loop {
                let desired = hpa.desired_replicas(&env.view());
                if env.step_to(desired).done {
                    break;
                }
            }
            black_box(env.sim().ledger())
        });
    });
    g.finish();

    // A two-month per-minute trace, whole, with the HPA: the scorecard's longest workload.
    let nasa = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/traces/nasa_http_1995_per_minute.csv");
    if nasa.exists() {
        let cfg = EnvConfig::default();
        let trace = Scenario::build(
            &ScenarioSpec::Trace(nasa),
            &ScenarioOptions::default(),
            &cfg.sim,
        )
        .expect("trace")
        .arrivals(1);
        let mut g = c.benchmark_group("trace");
        g.throughput(Throughput::Elements(trace.len_s()));
        g.sample_size(10);
        g.bench_function("nasa_two_months_with_hpa", |b| {
            b.iter(|| {
                let mut env = Env::new(cfg.clone(), trace.clone(), 1).expect("config");
                let mut hpa = Hpa::default();
                loop {
                    let desired = hpa.desired_replicas(&env.view());
                    if env.step_to(desired).done {
                        break;
                    }
                }
                black_box(env.sim().ledger())
            });
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
