//! The fits themselves, and the calibrated simulator configuration they add up to.

use common::sim::SimConfig;
use common::sim::latency::P95_EXP_FACTOR;
use serde::Serialize;

use super::error::CalibrationError;
use super::regression::{fit_line, median, relative_spread};
use super::samples::{Evidence, Sample};
use crate::experience::Transition;

/// What counts as enough evidence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct CalibrationOptions {
    /// The `rate()` window of the agent's queries, seconds: a reading is steady when the
    /// ready pod count held for this long before it. Default 60.
    pub(crate) rate_window_s: u64,
    /// Steady intervals the capacity fit needs. Default 30.
    pub(crate) min_capacity_samples: usize,
    /// Pod start-ups the delay estimate needs. Default 5.
    pub(crate) min_startups: usize,
}

impl Default for CalibrationOptions {
    fn default() -> Self {
        Self {
            rate_window_s: 60,
            min_capacity_samples: 30,
            min_startups: 5,
        }
    }
}

/// Steady intervals above this CPU are near saturation, where served ≠ arrived.
const MAX_CPU_FOR_CAPACITY: f64 = 0.9;
/// Intervals failing more than this are shedding load: arrivals overstate the work done.
const MAX_ERROR_RATE: f64 = 0.01;
/// The request rate per pod must vary at least this much (relative to its mean) for a
/// slope to be told from noise.
const MIN_RATE_SPREAD: f64 = 0.25;
/// Below this, CPU does not follow the request rate and the fitted capacity means nothing.
const MIN_CAPACITY_R2: f64 = 0.5;
/// Latency and memory fits need at least this many samples; otherwise the base values stay.
const MIN_OPTIONAL_SAMPLES: usize = 10;
/// Above this utilisation the M/M/1 term explodes and one noisy reading dominates.
const MAX_RHO_FOR_LATENCY: f64 = 0.9;

/// Pod capacity and idle CPU, from CPU against the request rate per ready pod.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct CapacityFit {
    /// Requests per second one pod serves at 100 % CPU.
    pub(crate) capacity_rps: f64,
    /// CPU of a pod with no traffic, as a fraction of its request.
    pub(crate) idle_cpu_fraction: f64,
    /// R² of the CPU line.
    pub(crate) r2: f64,
    /// Steady intervals used.
    pub(crate) samples: usize,
    /// Lowest and highest request rate per pod among them.
    pub(crate) rate_per_pod_range: (f64, f64),
}

/// Start-up delay, from creation-to-Ready times.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct StartupFit {
    /// Mean seconds from creation to Ready.
    pub(crate) delay_s: f64,
    /// Half-width of the uniform spread with the same standard deviation.
    pub(crate) jitter_s: f64,
    /// Pods measured.
    pub(crate) samples: usize,
    /// Fastest and slowest start-up seen.
    pub(crate) range_s: (u32, u32),
}

/// The latency model's fixed overhead, from p95 against utilisation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct LatencyFit {
    /// Fixed overhead of every request, ms.
    pub(crate) base_ms: f64,
    /// Median of |predicted − observed| / observed over the samples.
    pub(crate) p95_median_relative_error: f64,
    /// R² of the predicted p95 against the observed one; `None` when p95 hardly varied.
    pub(crate) r2: Option<f64>,
    /// Steady intervals used.
    pub(crate) samples: usize,
}

/// Memory per request in flight, from memory utilisation against requests in flight.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct MemoryFit {
    /// Resident memory of an idle pod, MiB.
    pub(crate) base_mib: f64,
    /// Extra memory per request in flight, MiB.
    pub(crate) per_inflight_mib: f64,
    /// R² of the memory line.
    pub(crate) r2: f64,
    /// Steady intervals used.
    pub(crate) samples: usize,
}

/// An optional fit, or why the base configuration's value was kept.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Optional<T> {
    /// Fitted.
    Fitted(T),
    /// Not fitted; the base value stays.
    Kept {
        /// Why.
        reason: String,
    },
}

/// The twin's calibration, with the evidence and quality behind each parameter.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Calibration {
    /// Transitions read.
    pub(crate) transitions: u64,
    /// Of which had metrics.
    pub(crate) with_metrics: u64,
    /// Of which were steady intervals with traffic.
    pub(crate) steady: usize,
    pub(crate) capacity: CapacityFit,
    pub(crate) startup: StartupFit,
    pub(crate) latency: Optional<LatencyFit>,
    pub(crate) memory: Optional<MemoryFit>,
    /// The base configuration with the fitted values in place.
    pub(crate) sim: SimConfig,
}

/// Calibrates `base` to the recording `transitions` (oldest first).
pub(crate) fn calibrate(
    transitions: impl IntoIterator<Item = Transition>,
    base: &SimConfig,
    opts: CalibrationOptions,
) -> Result<Calibration, CalibrationError> {
    let evidence = Evidence::collect(transitions, opts.rate_window_s);
    let capacity = fit_capacity(&evidence.steady, opts)?;
    let startup = fit_startup(&evidence.startups_s, opts)?;
    let latency = fit_latency(&evidence.steady, &capacity);
    let memory = fit_memory(&evidence.steady, &capacity, &latency, base);

    let mut sim = base.clone();
    sim.pod.capacity_rps = capacity.capacity_rps;
    sim.pod.idle_cpu_fraction = capacity.idle_cpu_fraction;
    sim.pod.startup_delay_s = startup.delay_s;
    sim.pod.startup_jitter_s = startup.jitter_s.min(startup.delay_s);
    if let Optional::Fitted(l) = &latency {
        sim.latency.base_ms = l.base_ms;
    }
    if let Optional::Fitted(m) = &memory {
        sim.pod.memory_base_mib = m.base_mib;
        sim.pod.memory_per_inflight_mib = m.per_inflight_mib;
    }
    sim.validate().map_err(|e| CalibrationError::Degenerate {
        parameter: "the simulator",
        reason: format!("the fitted values make an invalid configuration: {e}"),
    })?;
    Ok(Calibration {
        transitions: evidence.transitions,
        with_metrics: evidence.with_metrics,
        steady: evidence.steady.len(),
        capacity,
        startup,
        latency,
        memory,
        sim,
    })
}

/// Intervals where the pods served what arrived, below saturation.
fn unsaturated(s: &Sample) -> bool {
    s.cpu > 0.0 && s.cpu < MAX_CPU_FOR_CAPACITY && s.error_rate <= MAX_ERROR_RATE
}

fn fit_capacity(
    steady: &[Sample],
    opts: CalibrationOptions,
) -> Result<CapacityFit, CalibrationError> {
    const PARAMETER: &str = "pod capacity";
    let points: Vec<(f64, f64)> = steady
        .iter()
        .filter(|s| unsaturated(s))
        .map(|s| (s.rate_per_pod, s.cpu))
        .collect();
    if points.len() < opts.min_capacity_samples {
        return Err(CalibrationError::TooLittleData {
            parameter: PARAMETER,
            have: points.len(),
            need: opts.min_capacity_samples,
            hint: "a usable interval has metrics, traffic, CPU below 90 %, under 1 % errors, \
                   and a ready pod count unchanged for a whole rate window; record longer",
        });
    }
    let (lo, hi) = points
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
            (lo.min(p.0), hi.max(p.0))
        });
    let spread = relative_spread(points.iter().map(|p| p.0));
    if spread < MIN_RATE_SPREAD {
        return Err(CalibrationError::Degenerate {
            parameter: PARAMETER,
            reason: format!(
                "the request rate per pod only spans {lo:.1}–{hi:.1} req/s ({:.0} % of its mean, \
                 at least {:.0} % is needed to tell CPU's slope from noise); record through \
                 busier and quieter periods",
                spread * 100.0,
                MIN_RATE_SPREAD * 100.0
            ),
        });
    }
    let Some(line) = fit_line(&points) else {
        return Err(CalibrationError::Degenerate {
            parameter: PARAMETER,
            reason: "every interval had the same request rate per pod".to_owned(),
        });
    };
    if line.b <= 0.0 || line.r2 < MIN_CAPACITY_R2 {
        return Err(CalibrationError::Degenerate {
            parameter: PARAMETER,
            reason: format!(
                "CPU does not follow the request rate (slope {:.2e} per req/s, R² {:.2}, at \
                 least {MIN_CAPACITY_R2} is needed); check that the CPU and request-rate \
                 queries select the same workload",
                line.b, line.r2
            ),
        });
    }
    if !(-0.05..0.5).contains(&line.a) {
        return Err(CalibrationError::Degenerate {
            parameter: PARAMETER,
            reason: format!(
                "the fitted CPU at zero traffic is {:.0} % of the request, which no web \
                 workload idles at; the CPU query may count other containers",
                line.a * 100.0
            ),
        });
    }
    let idle = line.a.max(0.0);
    Ok(CapacityFit {
        capacity_rps: (1.0 - idle) / line.b,
        idle_cpu_fraction: idle,
        r2: line.r2,
        samples: points.len(),
        rate_per_pod_range: (lo, hi),
    })
}

fn fit_startup(
    startups_s: &[u32],
    opts: CalibrationOptions,
) -> Result<StartupFit, CalibrationError> {
    if startups_s.len() < opts.min_startups {
        return Err(CalibrationError::TooLittleData {
            parameter: "pod start-up delay",
            have: startups_s.len(),
            need: opts.min_startups,
            hint: "each pod the agent saw go from created to Ready is one sample; record \
                   through scale-ups (or a rollout)",
        });
    }
    let n = startups_s.len() as f64;
    let mean = startups_s.iter().map(|&s| f64::from(s)).sum::<f64>() / n;
    let var = startups_s
        .iter()
        .map(|&s| (f64::from(s) - mean).powi(2))
        .sum::<f64>()
        / (n - 1.0).max(1.0);
    let min = startups_s.iter().copied().min().unwrap_or(0);
    let max = startups_s.iter().copied().max().unwrap_or(0);
    Ok(StartupFit {
        delay_s: mean,
        // A uniform spread of ± j has standard deviation j / √3.
        jitter_s: var.sqrt() * 3f64.sqrt(),
        samples: startups_s.len(),
        range_s: (min, max),
    })
}

/// The M/M/1 part of the p95 at busy fraction `rho`: `ln 20 / (μ (1 − ρ))`.
fn queueing_p95_s(capacity_rps: f64, rho: f64) -> f64 {
    P95_EXP_FACTOR / (capacity_rps * (1.0 - rho))
}

/// Busy fraction from CPU, undoing the idle share.
fn busy(s: &Sample, capacity: &CapacityFit) -> f64 {
    (s.cpu - capacity.idle_cpu_fraction) / (1.0 - capacity.idle_cpu_fraction)
}

fn fit_latency(steady: &[Sample], capacity: &CapacityFit) -> Optional<LatencyFit> {
    let points: Vec<(f64, f64)> = steady
        .iter()
        .filter(|s| unsaturated(s) && s.p95_s > 0.0)
        .filter_map(|s| {
            let rho = busy(s, capacity);
            (rho > 0.0 && rho <= MAX_RHO_FOR_LATENCY)
                .then(|| (queueing_p95_s(capacity.capacity_rps, rho), s.p95_s))
        })
        .collect();
    if points.len() < MIN_OPTIONAL_SAMPLES {
        return Optional::Kept {
            reason: format!(
                "{} intervals with a p95 below {:.0} % utilisation, at least \
                 {MIN_OPTIONAL_SAMPLES} are needed",
                points.len(),
                MAX_RHO_FOR_LATENCY * 100.0
            ),
        };
    }
    let mut overheads: Vec<f64> = points.iter().map(|(q, p95)| p95 - q).collect();
    let base_s = median(&mut overheads).unwrap_or(0.0).max(0.0);
    let mut errors: Vec<f64> = points
        .iter()
        .map(|(q, p95)| ((base_s + q) - p95).abs() / p95)
        .collect();
    let mean = points.iter().map(|p| p.1).sum::<f64>() / points.len() as f64;
    let total: f64 = points.iter().map(|p| (p.1 - mean).powi(2)).sum();
    let residual: f64 = points
        .iter()
        .map(|(q, p95)| (base_s + q - p95).powi(2))
        .sum();
    // Under 1 % of the mean in spread, R² measures noise.
    let r2 =
        (total.sqrt() > 0.01 * mean * (points.len() as f64).sqrt()).then(|| 1.0 - residual / total);
    Optional::Fitted(LatencyFit {
        base_ms: base_s * 1000.0,
        p95_median_relative_error: median(&mut errors).unwrap_or(0.0),
        r2,
        samples: points.len(),
    })
}

fn fit_memory(
    steady: &[Sample],
    capacity: &CapacityFit,
    latency: &Optional<LatencyFit>,
    base: &SimConfig,
) -> Optional<MemoryFit> {
    let base_s = match latency {
        Optional::Fitted(l) => l.base_ms / 1000.0,
        Optional::Kept { .. } => base.latency.base_ms / 1000.0,
    };
    let limit = base.pod.memory_limit_mib;
    let points: Vec<(f64, f64)> = steady
        .iter()
        .filter(|s| unsaturated(s) && s.memory > 0.0)
        .filter_map(|s| {
            let rho = busy(s, capacity);
            (rho > 0.0 && rho <= MAX_RHO_FOR_LATENCY).then(|| {
                // Little's law with the M/M/1 mean sojourn, as the simulator counts it.
                let mean_s = base_s + queueing_p95_s(capacity.capacity_rps, rho) / P95_EXP_FACTOR;
                (s.rate_per_pod * mean_s + s.queue_per_pod, s.memory * limit)
            })
        })
        .collect();
    if points.len() < MIN_OPTIONAL_SAMPLES {
        return Optional::Kept {
            reason: format!(
                "{} intervals with memory readings below {:.0} % utilisation, at least \
                 {MIN_OPTIONAL_SAMPLES} are needed",
                points.len(),
                MAX_RHO_FOR_LATENCY * 100.0
            ),
        };
    }
    let spread = relative_spread(points.iter().map(|p| p.0));
    match fit_line(&points) {
        Some(line) if spread >= MIN_RATE_SPREAD && line.b > 0.0 && line.a > 0.0 => {
            Optional::Fitted(MemoryFit {
                base_mib: line.a,
                per_inflight_mib: line.b,
                r2: line.r2,
                samples: points.len(),
            })
        }
        Some(line) => Optional::Kept {
            reason: format!(
                "requests in flight varied by {:.0} % of their mean and memory's line has \
                 slope {:.3} MiB and intercept {:.1} MiB: not enough to tell memory per request",
                spread * 100.0,
                line.b,
                line.a
            ),
        },
        None => Optional::Kept {
            reason: "requests in flight never varied".to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use common::traffic::ArrivalSeries;

    use super::*;
    use crate::twin::synthetic::simulated_recording;

    /// A workload unlike the defaults in every calibrated parameter.
    fn truth() -> SimConfig {
        let mut cfg = SimConfig::default();
        cfg.pod.capacity_rps = 60.0;
        cfg.pod.idle_cpu_fraction = 0.05;
        cfg.pod.startup_delay_s = 45.0;
        cfg.pod.startup_jitter_s = 8.0;
        cfg.latency.base_ms = 35.0;
        cfg.pod.memory_per_inflight_mib = 3.0;
        cfg.replicas.max = 30;
        cfg
    }

    /// A day-like wave between 100 and 700 req/s with a 30-minute period.
    fn wave(seconds: usize) -> ArrivalSeries {
        let rates = (0..seconds)
            .map(|t| {
                let phase = t as f32 / 1800.0 * std::f32::consts::TAU;
                400.0 + 300.0 * phase.sin()
            })
            .collect();
        ArrivalSeries::new("wave", rates)
    }

    /// What an agent running the HPA rule on `cfg`'s workload would record.
    fn record(cfg: &SimConfig, arrivals: ArrivalSeries, seed: u64) -> Vec<Transition> {
        simulated_recording(cfg, arrivals, seed, 1_700_000_000).unwrap()
    }

    fn within(got: f64, want: f64, tolerance: f64) -> bool {
        (got - want).abs() <= tolerance * want.abs()
    }

    #[test]
    fn a_recorded_day_recovers_the_workloads_parameters() {
        let truth = truth();
        let recording = record(&truth, wave(3 * 3600), 11);
        let c = calibrate(
            recording,
            &SimConfig::default(),
            CalibrationOptions::default(),
        )
        .unwrap();
        let pod = &c.sim.pod;
        assert!(within(pod.capacity_rps, 60.0, 0.05), "{c:#?}");
        assert!((pod.idle_cpu_fraction - 0.05).abs() < 0.02, "{c:#?}");
        assert!(c.capacity.r2 > 0.95, "{c:#?}");
        assert!(within(pod.startup_delay_s, 45.0, 0.05), "{c:#?}");
        assert!(within(pod.startup_jitter_s, 8.0, 0.3), "{c:#?}");
        assert!(c.startup.samples >= 20, "{c:#?}");
        let Optional::Fitted(latency) = &c.latency else {
            panic!("latency not fitted: {c:#?}");
        };
        assert!(within(latency.base_ms, 35.0, 0.25), "{c:#?}");
        assert!(latency.p95_median_relative_error < 0.15, "{c:#?}");
        // Everything the calibration does not fit is the base configuration's.
        assert_eq!(c.sim.replicas, SimConfig::default().replicas);
        assert_eq!(c.sim.cost, SimConfig::default().cost);
    }

    #[test]
    fn a_steady_load_is_refused_for_capacity_naming_the_range_it_covered() {
        let truth = truth();
        let flat = ArrivalSeries::new("flat", vec![300.0; 3 * 3600]);
        let err = calibrate(
            record(&truth, flat, 3),
            &SimConfig::default(),
            CalibrationOptions::default(),
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                CalibrationError::Degenerate {
                    parameter: "pod capacity",
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("req/s"), "{err}");
    }

    #[test]
    fn too_short_a_recording_says_how_much_is_missing() {
        let truth = truth();
        let short: Vec<_> = record(&truth, wave(3 * 3600), 11)
            .into_iter()
            .take(20)
            .collect();
        let err =
            calibrate(short, &SimConfig::default(), CalibrationOptions::default()).unwrap_err();
        match &err {
            CalibrationError::TooLittleData {
                parameter, need, ..
            } => {
                assert_eq!(*parameter, "pod capacity");
                assert_eq!(*need, 30);
            }
            other => panic!("{other}"),
        }
        assert!(err.to_string().contains("record longer"), "{err}");
    }

    #[test]
    fn no_scale_up_means_no_start_up_delay() {
        let truth = truth();
        let mut recording = record(&truth, wave(3 * 3600), 11);
        for t in &mut recording {
            t.pod_startups_s.clear();
        }
        let err = calibrate(
            recording,
            &SimConfig::default(),
            CalibrationOptions::default(),
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                CalibrationError::TooLittleData {
                    parameter: "pod start-up delay",
                    have: 0,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn cpu_unrelated_to_traffic_is_refused() {
        let truth = truth();
        let mut recording = record(&truth, wave(3 * 3600), 11);
        // A CPU query that selects some other workload: constant 50 %.
        for t in &mut recording {
            if let Some(m) = &mut t.metrics {
                m.cpu_utilization = 0.5 + 0.01 * ((t.at_s / 15) % 3) as f64;
            }
        }
        let err = calibrate(
            recording,
            &SimConfig::default(),
            CalibrationOptions::default(),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("CPU does not follow the request rate"),
            "{err}"
        );
    }
}
