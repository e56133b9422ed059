//! `edge-agent bench-decision`: the overhead one control interval adds on top of its two
//! network reads — observation built from the metrics, the policy's forward pass and
//! confidence, the safety layer's checks, the transition assembled — measured on readings
//! replayed from a simulated day, with no I/O in the timed part.

use std::time::Instant;

use clap::Args;
use common::env::EnvConfig;
use common::policy::{Hpa, ObservedMetrics, PodView};
use common::rl::artifact::Algo;
use common::rl::policy::{DEFAULT_DQN_CONFIDENCE_TEMPERATURE, LearnedPolicy};
use common::scenario::{Scenario, ScenarioOptions, ScenarioSpec};
use common::sim::Simulator;

use crate::control::envelope::replay_envelope;
use crate::control::step::{ControlStep, Decider, Reading};
use crate::model_source::load_model;
use crate::safety::config::SafetyConfig;
use crate::safety::layer::SafetyLayer;

#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// `hpa`, or a shipped model: `dqn`, `ppo`, `hybrid`.
    #[arg(long, default_value = "dqn")]
    policy: String,
    /// Decisions timed (after 1,000 untimed warm-up ones).
    #[arg(long, default_value_t = 100_000)]
    iterations: usize,
    /// `table` for people, `json` for scripts.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Table,
    Json,
}

/// One recorded interval of the simulated day.
struct Recorded {
    metrics: Option<ObservedMetrics>,
    spec: u32,
    pods: Vec<PodView>,
}

pub(crate) fn run(args: &BenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.iterations > 0, "--iterations must be at least 1");
    let env = EnvConfig::default();
    // A day of the daily pattern under the HPA: the readings a real loop would see.
    let spec = ScenarioSpec::parse_list("daily_pattern")?;
    let scenario = Scenario::build(&spec[0], &ScenarioOptions::default(), &env.sim)?;
    let mut sim = Simulator::new(env.sim.clone(), scenario.arrivals(1), 1)?;
    let mut hpa = Hpa::default();
    let mut recorded = Vec::new();
    let mut builder = common::env::ObservationBuilder::new(&env.sim);
    while !sim.finished() {
        let observation = builder.push(&env.sim, sim.observed(), sim.spec_replicas());
        let desired = common::policy::Policy::desired_replicas(&mut hpa, &sim.view(&observation));
        recorded.push(Recorded {
            metrics: sim.observed().copied(),
            spec: sim.spec_replicas(),
            pods: sim.pods().to_vec(),
        });
        sim.scale_to(desired);
        sim.step_interval();
    }

    let mut safety = SafetyLayer::new(SafetyConfig::default())?;
    let (decider, label) = match args.policy.as_str() {
        "hpa" => (
            Decider::Baseline(Box::new(Hpa::default())),
            "hpa".to_owned(),
        ),
        name => {
            let algo = [Algo::Dqn, Algo::Ppo, Algo::Hybrid]
                .into_iter()
                .find(|a| a.name() == name)
                .ok_or_else(|| anyhow::anyhow!("--policy must be hpa, dqn, ppo or hybrid"))?;
            let (label, model) = load_model(algo, None)?;
            safety.set_envelope(replay_envelope(&model).ok());
            (
                Decider::Learned {
                    policy: Box::new(LearnedPolicy::new(label.clone(), model)),
                    version: 0,
                    dqn_temperature: DEFAULT_DQN_CONFIDENCE_TEMPERATURE,
                },
                label,
            )
        }
    };
    let mut step = ControlStep::new(env.sim.clone(), decider, safety);
    let interval = u64::from(env.sim.decision_interval_s);
    let mut now_s = 1_700_000_000;
    let mut decide = |r: &Recorded, now_s: u64| {
        let metrics = r.metrics.as_ref().ok_or("no scrape yet");
        let outcome = step.decide(Reading {
            now_s,
            metrics,
            spec_replicas: r.spec,
            pods: &r.pods,
        });
        if outcome.decision.apply {
            step.actuated(now_s, Ok(()));
        }
        outcome.decision.replicas
    };
    for r in recorded.iter().cycle().take(1_000) {
        now_s += interval;
        std::hint::black_box(decide(r, now_s));
    }
    let mut samples = Vec::with_capacity(args.iterations);
    for r in recorded.iter().cycle().take(args.iterations) {
        now_s += interval;
        let t = Instant::now();
        std::hint::black_box(decide(r, now_s));
        samples.push(t.elapsed().as_secs_f64() * 1e6);
    }
    samples.sort_by(f64::total_cmp);
    let mean = samples.iter().sum::<f64>() / samples.len() as f64;
    let q = |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize];
    let (median, p99) = (q(0.5), q(0.99));
    if args.format == Format::Json {
        println!(
            "{}",
            serde_json::json!({
                "policy": label,
                "iterations": args.iterations,
                "mean_us": mean,
                "median_us": median,
                "p99_us": p99,
            })
        );
    } else {
        println!(
            "{label}: one control step (observation → policy → safety layer → transition), {} decisions: mean {mean:.2} µs, median {median:.2} µs, p99 {p99:.2} µs",
            args.iterations
        );
    }
    Ok(())
}
