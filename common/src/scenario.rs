//! Scenarios: a named traffic source, sized to the simulated cluster, played with a seed.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::error::TrafficError;
use crate::sim::SimConfig;
use crate::traffic::{ArrivalSeries, NoiseConfig, PatternKind, TraceOptions, load_trace};

/// Seeds the tuned baseline (and, later, learners) train on. Evaluation uses other seeds,
/// so no policy is scored on traffic it was fitted to.
pub const TRAINING_SEEDS: [u64; 3] = [1001, 1002, 1003];

/// The default evaluation seed.
pub const DEFAULT_EVAL_SEED: u64 = 1;

/// Which traffic: a named pattern or a trace file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScenarioSpec {
    /// One of the named patterns.
    Pattern(PatternKind),
    /// A CSV of `timestamp_or_index,count` rows.
    Trace(PathBuf),
}

impl ScenarioSpec {
    /// Parses a comma-separated list; `all` stands for every named pattern. A trace path
    /// may not contain a comma.
    pub fn parse_list(list: &str) -> Result<Vec<ScenarioSpec>, TrafficError> {
        let mut out = Vec::new();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if item == "all" {
                out.extend(PatternKind::ALL.map(ScenarioSpec::Pattern));
            } else {
                out.push(item.parse()?);
            }
        }
        if out.is_empty() {
            return Err(TrafficError::Invalid("no scenario given".into()));
        }
        Ok(out)
    }
}

impl FromStr for ScenarioSpec {
    type Err = TrafficError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(path) = s.strip_prefix("trace:") {
            if path.is_empty() {
                return Err(TrafficError::Invalid(
                    "`trace:` needs a path, e.g. trace:traces/site.csv".into(),
                ));
            }
            return Ok(ScenarioSpec::Trace(PathBuf::from(path)));
        }
        PatternKind::from_name(s)
            .map(ScenarioSpec::Pattern)
            .ok_or_else(|| TrafficError::UnknownScenario(s.to_owned()))
    }
}

impl fmt::Display for ScenarioSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScenarioSpec::Pattern(k) => f.write_str(k.name()),
            ScenarioSpec::Trace(p) => write!(f, "trace:{}", p.display()),
        }
    }
}

/// How to size and cut a scenario.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScenarioOptions {
    /// Peak request rate; unset means [`default_peak_rps`].
    pub peak_rps: Option<f64>,
    /// Trace window start (from the first row); patterns ignore it.
    pub start_s: Option<u64>,
    /// Length: the pattern's default or the whole trace when unset.
    pub duration_s: Option<u64>,
    /// Trace bucket length override.
    pub trace_step_s: Option<u64>,
    /// Noise added to named patterns (traces carry their own).
    pub noise: NoiseConfig,
}

/// The peak that needs about 80 % of `max` replicas at the HPA's default 70 % target:
/// busy enough to need scaling, with headroom left for a policy that lags.
pub fn default_peak_rps(cfg: &SimConfig) -> f64 {
    0.8 * f64::from(cfg.replicas.max) * cfg.pod.capacity_rps * 0.7
}

#[derive(Debug, Clone)]
enum Source {
    Pattern {
        kind: PatternKind,
        peak_rps: f64,
        duration_s: u64,
        noise: NoiseConfig,
    },
    Trace(ArrivalSeries),
}

/// A scenario ready to play. Traces are read once; patterns are generated per seed.
#[derive(Debug, Clone)]
pub struct Scenario {
    name: String,
    source: Source,
}

impl Scenario {
    /// Builds `spec` for a cluster configured as `cfg`.
    pub fn build(
        spec: &ScenarioSpec,
        opts: &ScenarioOptions,
        cfg: &SimConfig,
    ) -> Result<Self, TrafficError> {
        let peak_rps = opts.peak_rps.unwrap_or_else(|| default_peak_rps(cfg));
        if !(peak_rps.is_finite() && peak_rps > 0.0) {
            return Err(TrafficError::Invalid(format!(
                "peak rate must be positive, got {peak_rps}"
            )));
        }
        match spec {
            ScenarioSpec::Pattern(kind) => {
                opts.noise.validate()?;
                let duration_s = opts.duration_s.unwrap_or_else(|| kind.default_duration_s());
                if duration_s < u64::from(cfg.decision_interval_s) {
                    return Err(TrafficError::Invalid(format!(
                        "duration {duration_s} s is shorter than one decision interval"
                    )));
                }
                Ok(Self {
                    name: kind.name().to_owned(),
                    source: Source::Pattern {
                        kind: *kind,
                        peak_rps,
                        duration_s,
                        noise: opts.noise.clone(),
                    },
                })
            }
            ScenarioSpec::Trace(path) => {
                let (series, _info) = load_trace(&TraceOptions {
                    path: path.clone(),
                    peak_rps,
                    start_s: opts.start_s,
                    duration_s: opts.duration_s,
                    step_s: opts.trace_step_s,
                    interval_s: cfg.decision_interval_s,
                })?;
                Ok(Self {
                    name: series.name().to_owned(),
                    source: Source::Trace(series),
                })
            }
        }
    }

    /// A scenario that replays `series` as it is, for every seed (tests, recorded traffic).
    pub fn fixed(series: ArrivalSeries) -> Self {
        Self {
            name: series.name().to_owned(),
            source: Source::Trace(series),
        }
    }

    /// The name reports use.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The traffic for `seed` (a trace is the same for every seed).
    pub fn arrivals(&self, seed: u64) -> ArrivalSeries {
        match &self.source {
            Source::Pattern {
                kind,
                peak_rps,
                duration_s,
                noise,
            } => kind.generate(*peak_rps, *duration_s, noise, derive_seed(seed, 1)),
            Source::Trace(series) => series.clone(),
        }
    }

    /// The seed the simulator's own randomness (pod start-up jitter) uses for `seed`, kept
    /// apart from the traffic's stream so the two never correlate.
    pub fn sim_seed(seed: u64) -> u64 {
        derive_seed(seed, 2)
    }
}

/// SplitMix64 of `seed` and `stream`: independent-looking seeds from one user-facing seed.
fn derive_seed(seed: u64, stream: u64) -> u64 {
    let mut z = seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_list_expands_all_and_keeps_traces() {
        let l = ScenarioSpec::parse_list("all,trace:x.csv").unwrap();
        assert_eq!(l.len(), 7);
        assert_eq!(l[6], ScenarioSpec::Trace("x.csv".into()));
        assert_eq!(l[0].to_string(), "steady");
        let e = ScenarioSpec::parse_list("stedy").unwrap_err().to_string();
        assert!(
            e.contains("unknown scenario `stedy`") && e.contains("flash_crowd"),
            "{e}"
        );
        assert!(ScenarioSpec::parse_list("trace:").is_err());
        assert!(ScenarioSpec::parse_list(" , ").is_err());
    }

    #[test]
    fn default_peak_needs_80_percent_of_max_at_70_percent_cpu() {
        let cfg = SimConfig::default();
        let peak = default_peak_rps(&cfg);
        assert!((peak / (cfg.pod.capacity_rps * 0.7) - 16.0).abs() < 1e-9);
    }

    #[test]
    fn patterns_depend_on_the_seed_and_traces_do_not() {
        let cfg = SimConfig::default();
        let s = Scenario::build(
            &ScenarioSpec::Pattern(PatternKind::Steady),
            &ScenarioOptions::default(),
            &cfg,
        )
        .unwrap();
        assert_eq!(s.arrivals(1), s.arrivals(1));
        assert_ne!(s.arrivals(1), s.arrivals(2));
        assert_ne!(Scenario::sim_seed(1), derive_seed(1, 1));
    }
}
