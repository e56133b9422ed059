//! The simulated cluster: one Deployment serving a traffic series, second by second.

use std::collections::VecDeque;

use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};

use super::counters::{Counters, Gauges};
use super::latency::{ShiftedExp, tick_latency};
use super::pods::PodSet;
use super::{ConfigError, SimConfig};
use crate::env::Observation;
use crate::policy::{ClusterView, ObservedMetrics, PodView};
use crate::traffic::ArrivalSeries;

/// What truly happened during one decision interval (not the lagged view policies get).
#[derive(Debug, Clone)]
pub struct IntervalOutcome {
    /// Simulated second the interval started.
    pub start_s: u64,
    /// Counters over the interval.
    pub counters: Counters,
    /// Gauges at its end.
    pub gauges: Gauges,
}

/// A completed scrape: its counters and the gauges read at its end.
#[derive(Debug, Clone)]
struct Scrape {
    end_s: u64,
    counters: Counters,
    gauges: Gauges,
}

/// The simulator. Create it with a traffic series and a seed, then alternate
/// [`Simulator::scale_to`] and [`Simulator::step_interval`].
#[derive(Debug)]
pub struct Simulator {
    cfg: SimConfig,
    arrivals: ArrivalSeries,
    rng: ChaCha8Rng,
    now_s: u64,
    pods: PodSet,
    /// Requests waiting at the start of the next tick.
    backlog: f64,
    /// Requests ever arrived, served and failed: the conservation ledger.
    ledger: Ledger,
    /// The scrape in progress.
    current: Counters,
    /// Served requests of consecutive ticks with the same latency distribution, not yet
    /// in `current`: replayed traces hold their rate for a whole interval, so this turns
    /// fifteen histogram updates into one.
    pending_latency: Option<(ShiftedExp, f64)>,
    /// The decision interval in progress, merged from completed scrapes.
    interval: Counters,
    /// Completed scrapes, newest last; as many as the rate window needs.
    scrapes: VecDeque<Scrape>,
    scrapes_per_window: usize,
    /// The whole run.
    totals: Counters,
    observed: Option<ObservedMetrics>,
}

/// Cumulative request accounting; `arrivals == served + failed + backlog` always.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Ledger {
    /// Requests arrived since the start.
    pub arrivals: f64,
    /// Requests served since the start.
    pub served: f64,
    /// Requests failed since the start.
    pub failed: f64,
}

impl Simulator {
    /// A cluster serving `arrivals`, with pod start-up jitter drawn from `seed`.
    pub fn new(cfg: SimConfig, arrivals: ArrivalSeries, seed: u64) -> Result<Self, ConfigError> {
        cfg.validate()?;
        let initial = cfg.replicas.initial.unwrap_or_else(|| {
            let needed = arrivals.rate_at(0) / (cfg.pod.capacity_rps * 0.7);
            (needed.ceil() as u32).clamp(cfg.replicas.min, cfg.replicas.max)
        });
        let scrapes_per_window =
            (cfg.metrics.rate_window_s / cfg.metrics.scrape_interval_s) as usize;
        Ok(Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
            now_s: 0,
            pods: PodSet::with_ready(initial),
            backlog: 0.0,
            ledger: Ledger::default(),
            current: Counters::default(),
            pending_latency: None,
            interval: Counters::default(),
            scrapes: VecDeque::with_capacity(scrapes_per_window + 1),
            scrapes_per_window,
            totals: Counters::default(),
            observed: None,
            cfg,
            arrivals,
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &SimConfig {
        &self.cfg
    }

    /// The traffic being served.
    pub fn arrivals(&self) -> &ArrivalSeries {
        &self.arrivals
    }

    /// Simulated seconds since the start.
    pub fn now_s(&self) -> u64 {
        self.now_s
    }

    /// Whether the traffic series has been played to its end.
    pub fn finished(&self) -> bool {
        self.now_s >= self.arrivals.len_s()
    }

    /// Pods asked for (the Deployment's `spec.replicas`).
    pub fn spec_replicas(&self) -> u32 {
        self.pods.total()
    }

    /// Ready pods now.
    pub fn ready_pods(&self) -> u32 {
        self.pods.ready()
    }

    /// Starting pods now.
    pub fn starting_pods(&self) -> u32 {
        self.pods.starting()
    }

    /// Requests waiting now.
    pub fn backlog(&self) -> f64 {
        self.backlog
    }

    /// Every pod, as the Kubernetes API would list it.
    pub fn pods(&self) -> &[PodView] {
        self.pods.views()
    }

    /// Cumulative request accounting.
    pub fn ledger(&self) -> Ledger {
        self.ledger
    }

    /// Counters over the whole run so far (complete scrapes only).
    pub fn totals(&self) -> &Counters {
        &self.totals
    }

    /// Metrics as Prometheus would serve them now; `None` before the first scrape.
    pub fn observed(&self) -> Option<&ObservedMetrics> {
        self.observed.as_ref()
    }

    /// What a policy sees now, given the observation built from [`Simulator::observed`].
    pub fn view<'a>(&'a self, observation: &'a Observation) -> ClusterView<'a> {
        ClusterView {
            now_s: self.now_s,
            spec_replicas: self.pods.total(),
            min_replicas: self.cfg.replicas.min,
            max_replicas: self.cfg.replicas.max,
            pods: self.pods.views(),
            metrics: self.observed.as_ref(),
            observation,
        }
    }

    /// Sets `spec.replicas`, clamped to the replica bounds; returns the value applied.
    /// New pods become ready after the start-up delay ± jitter; removed pods go in
    /// ReplicaSet order (starting first, then the most recently ready).
    pub fn scale_to(&mut self, desired: u32) -> u32 {
        let desired = desired.clamp(self.cfg.replicas.min, self.cfg.replicas.max);
        let current = self.pods.total();
        if desired > current {
            let p = &self.cfg.pod;
            for _ in current..desired {
                let jitter = if p.startup_jitter_s > 0.0 {
                    self.rng
                        .random_range(-p.startup_jitter_s..=p.startup_jitter_s)
                } else {
                    0.0
                };
                let delay = (p.startup_delay_s + jitter).round().max(0.0) as u64;
                self.pods.create(self.now_s, self.now_s + delay);
            }
        } else if desired < current {
            self.pods.delete(current - desired);
        }
        desired
    }

    /// Runs one decision interval and returns what truly happened in it.
    pub fn step_interval(&mut self) -> IntervalOutcome {
        let start_s = self.now_s;
        for _ in 0..self.cfg.decision_interval_s {
            self.tick();
        }
        IntervalOutcome {
            start_s,
            counters: std::mem::take(&mut self.interval),
            gauges: self.gauges(),
        }
    }

    fn gauges(&self) -> Gauges {
        Gauges {
            backlog: self.backlog,
            ready: self.pods.ready(),
            starting: self.pods.starting(),
        }
    }

    /// One simulated second.
    #[inline]
    fn tick(&mut self) {
        let cfg = &self.cfg;
        let pod = &cfg.pod;
        self.pods.promote(self.now_s);
        let ready = self.pods.ready();
        let arrivals = self.arrivals.rate_at(self.now_s);
        let c = &mut self.current;
        c.seconds += 1;
        c.arrivals += arrivals;
        c.pod_s += f64::from(self.pods.total());

        let capacity = f64::from(ready) * pod.capacity_rps;
        let waiting_before = self.backlog;
        let work = waiting_before + arrivals;
        let served = work.min(capacity);
        let left = work - served;
        let room = f64::from(ready) * pod.queue_limit;
        let failed = (left - room).max(0.0);
        self.backlog = left - failed;
        c.served += served;
        c.failed += failed;

        if ready > 0 {
            let ready_f = f64::from(ready);
            let latency = tick_latency(
                cfg.latency.base_ms / 1000.0,
                pod.capacity_rps,
                cfg.latency.max_queueing_utilization,
                ready,
                arrivals,
                waiting_before,
            );
            match &mut self.pending_latency {
                Some((dist, count)) if *dist == latency => *count += served,
                pending => {
                    if let Some((dist, count)) = pending.take() {
                        record_latency(c, dist, count, cfg.latency.slo_ms / 1000.0);
                    }
                    *pending = Some((latency, served));
                }
            }
            let busy = served / capacity;
            let cpu = pod.idle_cpu_fraction + (1.0 - pod.idle_cpu_fraction) * busy;
            c.cpu_pod_s += ready_f * cpu;
            c.ready_pod_s += ready_f;
            // Little's law: in flight per pod = throughput × time in system, plus its share
            // of the backlog.
            let in_flight =
                served / ready_f * (latency.shift_s + latency.mean_s) + self.backlog / ready_f;
            c.memory_mib_pod_s +=
                ready_f * (pod.memory_base_mib + pod.memory_per_inflight_mib * in_flight);
        }

        self.ledger.arrivals += arrivals;
        self.ledger.served += served;
        self.ledger.failed += failed;
        self.now_s += 1;
        if self
            .now_s
            .is_multiple_of(u64::from(cfg.metrics.scrape_interval_s))
        {
            self.complete_scrape();
        }
    }

    fn complete_scrape(&mut self) {
        if let Some((dist, count)) = self.pending_latency.take() {
            record_latency(
                &mut self.current,
                dist,
                count,
                self.cfg.latency.slo_ms / 1000.0,
            );
        }
        let counters = std::mem::take(&mut self.current);
        self.interval.merge(&counters);
        self.totals.merge(&counters);
        if self.scrapes.len() == self.scrapes_per_window {
            self.scrapes.pop_front();
        }
        self.scrapes.push_back(Scrape {
            end_s: self.now_s,
            counters,
            gauges: self.gauges(),
        });
        self.observed = Some(self.observe());
    }

    /// `rate()` over the scrapes in the window, gauges from the newest.
    fn observe(&self) -> ObservedMetrics {
        let mut w = Counters::default();
        for s in &self.scrapes {
            w.merge(&s.counters);
        }
        let newest = self.scrapes.back().expect("called after a scrape");
        let seconds = w.seconds.max(1) as f64;
        let memory_utilization = if w.ready_pod_s > 0.0 {
            w.memory_mib_pod_s / w.ready_pod_s / self.cfg.pod.memory_limit_mib
        } else {
            0.0
        };
        ObservedMetrics {
            timestamp_s: newest.end_s,
            window_s: w.seconds,
            request_rate_rps: w.arrivals / seconds,
            cpu_utilization: w.cpu_utilization(),
            memory_utilization,
            p95_latency_s: w.p95_s(),
            error_rate: w.error_rate(),
            queue_length: newest.gauges.backlog,
            ready_pods: newest.gauges.ready,
            pending_pods: newest.gauges.starting,
        }
    }
}

/// Adds `count` served requests with latencies `dist` to `c`.
fn record_latency(c: &mut Counters, dist: ShiftedExp, count: f64, slo_s: f64) {
    c.latency.add(count, dist);
    c.served_within_slo += count * dist.cdf(slo_s);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn constant(rate: f32, seconds: usize) -> ArrivalSeries {
        ArrivalSeries::new("constant", vec![rate; seconds])
    }

    fn run_fixed(cfg: &SimConfig, arrivals: &ArrivalSeries, replicas: u32) -> Vec<IntervalOutcome> {
        let mut c = cfg.clone();
        c.replicas.initial = Some(replicas);
        let mut sim = Simulator::new(c, arrivals.clone(), 7).unwrap();
        let mut out = Vec::new();
        while !sim.finished() {
            out.push(sim.step_interval());
        }
        out
    }

    #[test]
    fn conservation_holds_at_every_step() {
        // Overload with a scale-up and a scale-down in between: every path of the model runs.
        let mut rates = vec![300.0f32; 600];
        rates.extend(vec![2500.0; 600]);
        rates.extend(vec![50.0; 600]);
        let mut sim =
            Simulator::new(SimConfig::default(), ArrivalSeries::new("x", rates), 1).unwrap();
        let mut k = 0;
        while !sim.finished() {
            sim.scale_to([2, 20, 1, 8][k % 4]);
            sim.step_interval();
            let l = sim.ledger();
            let balance = l.arrivals - (l.served + l.failed + sim.backlog());
            assert!(
                balance.abs() < 1e-6 * l.arrivals.max(1.0),
                "off by {balance} at {}",
                sim.now_s()
            );
            k += 1;
        }
        let l = sim.ledger();
        assert!(l.failed > 0.0, "the overload should have failed requests");
        assert!((l.arrivals - 300.0 * 600.0 - 2500.0 * 600.0 - 50.0 * 600.0).abs() < 1e-6);
    }

    #[test]
    fn more_ready_pods_never_raise_p95_for_the_same_arrivals() {
        let mut rates: Vec<f32> = (0..1800)
            .map(|s| 200.0 + 1200.0 * ((s as f32) / 300.0).sin().abs())
            .collect();
        rates.extend(vec![1900.0; 300]);
        let arrivals = ArrivalSeries::new("wave", rates);
        let cfg = SimConfig::default();
        let mut previous: Option<Vec<IntervalOutcome>> = None;
        for replicas in 1..=20 {
            let run = run_fixed(&cfg, &arrivals, replicas);
            if let Some(prev) = &previous {
                for (fewer, more) in prev.iter().zip(&run) {
                    assert!(
                        more.counters.p95_s() <= fewer.counters.p95_s() + 1e-12,
                        "{replicas} pods at {}: {} > {}",
                        more.start_s,
                        more.counters.p95_s(),
                        fewer.counters.p95_s()
                    );
                    assert!(more.counters.failed <= fewer.counters.failed + 1e-9);
                }
            }
            previous = Some(run);
        }
    }

    #[test]
    fn steady_load_breaches_the_slo_between_80_and_90_percent_cpu() {
        let cfg = SimConfig::default();
        let met_at = |util: f32| {
            let run = run_fixed(&cfg, &constant(util * 1000.0, 900), 10);
            run.iter().skip(4).all(|o| o.counters.slo_met())
        };
        assert!(met_at(0.70));
        assert!(met_at(0.80));
        assert!(!met_at(0.90));
    }

    #[test]
    fn pods_start_within_the_jitter_and_cost_while_starting() {
        let cfg = SimConfig::default();
        let mut sim = Simulator::new(cfg, constant(100.0, 3600), 3).unwrap();
        assert_eq!(sim.spec_replicas(), 2); // ceil(100 / 70)
        sim.scale_to(10);
        sim.step_interval();
        assert_eq!(sim.ready_pods(), 2, "nothing is ready before 20 s");
        sim.step_interval();
        sim.step_interval();
        sim.step_interval(); // t = 60 s: everything is ready (≤ 40 s)
        assert_eq!((sim.ready_pods(), sim.starting_pods()), (10, 0));
        // 10 pods existed for the whole minute: 600 pod-seconds.
        assert!((sim.totals().pod_s - 600.0).abs() < 1e-9);
        assert!(sim.totals().ready_pod_s < 600.0);
    }

    #[test]
    fn observations_lag_like_a_one_minute_rate() {
        let mut rates = vec![100.0f32; 300];
        rates.extend(vec![500.0; 300]);
        let mut c = SimConfig::default();
        c.replicas.initial = Some(10);
        let mut sim = Simulator::new(c, ArrivalSeries::new("step", rates), 1).unwrap();
        assert!(sim.observed().is_none());
        while sim.now_s() < 315 {
            sim.step_interval();
        }
        // 15 s of the 60 s window are at 500 req/s: (45·100 + 15·500) / 60 = 200.
        let seen = sim.observed().unwrap().request_rate_rps;
        assert!((seen - 200.0).abs() < 1e-9, "{seen}");
        while sim.now_s() < 360 {
            sim.step_interval();
        }
        assert!((sim.observed().unwrap().request_rate_rps - 500.0).abs() < 1e-9);
    }

    #[test]
    fn no_ready_pod_fails_everything() {
        let mut c = SimConfig::default();
        c.replicas.min = 0;
        c.replicas.initial = Some(0);
        let mut sim = Simulator::new(c, constant(10.0, 60), 1).unwrap();
        let o = sim.step_interval();
        assert_eq!(o.counters.served, 0.0);
        assert!((o.counters.failed - 150.0).abs() < 1e-9);
        assert!(!o.counters.slo_met());
    }

    #[test]
    fn same_seed_same_run() {
        let run = |seed| {
            let mut sim = Simulator::new(SimConfig::default(), constant(400.0, 900), seed).unwrap();
            sim.scale_to(12);
            let mut p = Vec::new();
            while !sim.finished() {
                p.push(sim.step_interval().counters.p95_s().to_bits());
            }
            p
        };
        assert_eq!(run(5), run(5));
    }
}
