//! Named synthetic traffic patterns.

use std::f64::consts::PI;

use serde::{Deserialize, Serialize};

use super::noise::NoiseConfig;
use super::series::ArrivalSeries;

/// The named patterns: the seed's five plus `flash_crowd`.
///
/// Each is a closed-form rate `P·f(t)` (P the peak, T the duration, t the second), so a
/// report can state exactly what a policy faced. Over its default duration every
/// noiseless pattern peaks at exactly P: scenarios differ in shape, not in how much
/// capacity they need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PatternKind {
    /// Constant load near the peak, with a gentle 20-minute wave so the load is never
    /// perfectly flat: `P·(0.95 + 0.05·sin(2πt/1200))`.
    Steady,
    /// Slow climb to the peak and back, which tests whether a policy keeps pace without
    /// overshooting: `0.1P → P` linearly over `[0, 0.6T)`, `P` over `[0.6T, 0.8T)`, then
    /// `P → 0.1P` linearly over `[0.8T, T]`.
    GradualRamp,
    /// Low base load with abrupt steps to the peak, which tests reaction time: `0.25P`,
    /// except for two spikes starting at `s = 0.25T` and `s = 0.65T`, each occupying
    /// `[s, s + 0.1T]`. A spike rises linearly to P over its first `r` seconds and falls
    /// back over its last `r`, with `r = min(30 s, 0.05T)`:
    /// `P·(0.25 + 0.75·clamp(min(t − s, s + 0.1T − t)/r, 0, 1))`.
    SuddenSpike,
    /// One day of diurnal traffic, trough at midnight and peak at noon, which rewards
    /// scaling in overnight: `P·(0.15 + 0.85·sin²(πt/86400))`. The period is always a day
    /// even when T is not, so a shorter run sees part of the day.
    DailyPattern,
    /// Busy stretches separated by near-silence, which tests scaling in and the cold
    /// start after it. A 90-minute cycle, with `u = t mod 5400`: `P` for `u < 2400`;
    /// linear `P → 0.03P` over `[2400, 2520)`; `0.03P` over `[2520, 5280)`; linear
    /// `0.03P → P` over `[5280, 5400)`.
    IdlePeriods,
    /// A surge within a minute that decays slowly (a link on a popular page), which tests
    /// reaction and then patience: `0.2P` before `t0 = 0.4T`; linear `0.2P → P` over
    /// `[t0, t0 + 60)`; then `P·(0.2 + 0.8·e^(−(t − t0 − 60)/1200))`.
    FlashCrowd,
}

impl PatternKind {
    /// Every pattern, in report order.
    pub const ALL: [PatternKind; 6] = [
        PatternKind::Steady,
        PatternKind::GradualRamp,
        PatternKind::SuddenSpike,
        PatternKind::DailyPattern,
        PatternKind::IdlePeriods,
        PatternKind::FlashCrowd,
    ];

    /// Their names, as typed on the command line.
    pub const NAMES: [&'static str; 6] = [
        "steady",
        "gradual_ramp",
        "sudden_spike",
        "daily_pattern",
        "idle_periods",
        "flash_crowd",
    ];

    /// The name typed on the command line.
    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    /// Parses a name typed on the command line.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::NAMES
            .iter()
            .position(|n| *n == name)
            .map(|i| Self::ALL[i])
    }

    /// The duration a scenario of this pattern runs when none is given: long enough for
    /// the shape to play out once (a day for the diurnal pattern, four idle cycles).
    pub fn default_duration_s(self) -> u64 {
        const HOUR: u64 = 3600;
        match self {
            PatternKind::DailyPattern => 24 * HOUR,
            PatternKind::IdlePeriods => 6 * HOUR,
            PatternKind::Steady
            | PatternKind::GradualRamp
            | PatternKind::SuddenSpike
            | PatternKind::FlashCrowd => 2 * HOUR,
        }
    }

    /// Materialises `duration_s` seconds of this pattern at `peak_rps`, with `noise` drawn
    /// from `seed`. Without noise the peak is exactly `peak_rps` whenever the run is long
    /// enough to reach it (a daily pattern shorter than noon is not); noise may push single
    /// seconds above it.
    pub fn generate(
        self,
        peak_rps: f64,
        duration_s: u64,
        noise: &NoiseConfig,
        seed: u64,
    ) -> ArrivalSeries {
        let total = duration_s as f64;
        let mut rates: Vec<f64> = (0..duration_s)
            .map(|t| peak_rps * self.fraction_of_peak(t as f64, total))
            .collect();
        noise.apply(&mut rates, seed);
        ArrivalSeries::new(self.name(), rates.into_iter().map(|r| r as f32).collect())
    }

    /// The formula documented on each variant, as a fraction of the peak.
    fn fraction_of_peak(self, t: f64, total: f64) -> f64 {
        match self {
            PatternKind::Steady => 0.95 + 0.05 * (2.0 * PI * t / 1200.0).sin(),
            PatternKind::GradualRamp => {
                let (up_end, hold_end) = (0.6 * total, 0.8 * total);
                if t < up_end {
                    0.1 + 0.9 * t / up_end
                } else if t < hold_end {
                    1.0
                } else {
                    1.0 - 0.9 * ((t - hold_end) / (total - hold_end)).min(1.0)
                }
            }
            PatternKind::SuddenSpike => {
                let width = 0.1 * total;
                let ramp = (0.5 * width).min(30.0);
                let level = [0.25 * total, 0.65 * total]
                    .into_iter()
                    .map(|s| ((t - s).min(s + width - t) / ramp).clamp(0.0, 1.0))
                    .fold(0.0, f64::max);
                0.25 + 0.75 * level
            }
            PatternKind::DailyPattern => 0.15 + 0.85 * (PI * t / 86_400.0).sin().powi(2),
            PatternKind::IdlePeriods => {
                const CYCLE: f64 = 5400.0;
                const BUSY_END: f64 = 2400.0;
                const RAMP: f64 = 120.0;
                const IDLE: f64 = 0.03;
                let u = t % CYCLE;
                if u < BUSY_END {
                    1.0
                } else if u < BUSY_END + RAMP {
                    1.0 - (1.0 - IDLE) * (u - BUSY_END) / RAMP
                } else if u < CYCLE - RAMP {
                    IDLE
                } else {
                    IDLE + (1.0 - IDLE) * (u - (CYCLE - RAMP)) / RAMP
                }
            }
            PatternKind::FlashCrowd => {
                const BASE: f64 = 0.2;
                const RISE_S: f64 = 60.0;
                const DECAY_S: f64 = 1200.0;
                let t0 = 0.4 * total;
                if t < t0 {
                    BASE
                } else if t < t0 + RISE_S {
                    BASE + (1.0 - BASE) * (t - t0) / RISE_S
                } else {
                    BASE + (1.0 - BASE) * (-(t - t0 - RISE_S) / DECAY_S).exp()
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: f64 = 200.0;

    fn clean(kind: PatternKind, duration_s: u64) -> ArrivalSeries {
        kind.generate(P, duration_s, &NoiseConfig::NONE, 1)
    }

    fn assert_at(series: &ArrivalSeries, t: u64, expected: f64) {
        let got = series.rate_at(t);
        assert!(
            (got - expected).abs() < 1e-3 * P,
            "{} at t={t}: expected {expected}, got {got}",
            series.name()
        );
    }

    #[test]
    fn names_lengths_and_default_durations() {
        let hours: Vec<u64> = PatternKind::ALL
            .iter()
            .map(|k| k.default_duration_s() / 3600)
            .collect();
        assert_eq!(hours, [2, 2, 2, 24, 6, 2]);
        for kind in PatternKind::ALL {
            let s = clean(kind, 600);
            assert_eq!(s.name(), kind.name());
            assert_eq!(s.len_s(), 600);
        }
        assert_eq!(clean(PatternKind::Steady, 0).len_s(), 0);
    }

    #[test]
    fn every_clean_pattern_peaks_exactly_at_p() {
        for kind in PatternKind::ALL {
            let s = clean(kind, kind.default_duration_s());
            assert_eq!(s.peak(), P, "{}", kind.name());
        }
    }

    #[test]
    fn steady_waves_five_percent_below_peak() {
        let s = clean(PatternKind::Steady, 7200);
        assert_at(&s, 0, 190.0);
        assert_at(&s, 300, 200.0);
        assert_at(&s, 600, 190.0);
        assert_at(&s, 900, 180.0);
        assert_at(&s, 1200, 190.0);
        let min = s.as_slice().iter().copied().fold(f32::MAX, f32::min);
        assert!((min - 180.0).abs() < 0.01, "min {min}");
    }

    #[test]
    fn gradual_ramp_climbs_holds_and_returns() {
        let s = clean(PatternKind::GradualRamp, 7200);
        assert_at(&s, 0, 20.0);
        assert_at(&s, 2160, 110.0); // halfway up the 0.6T climb
        assert_at(&s, 4320, 200.0); // 0.6T
        assert_at(&s, 5759, 200.0); // still holding just before 0.8T
        assert_at(&s, 6480, 110.0); // halfway down
        assert_at(&s, 7199, 20.125); // one second before T
    }

    #[test]
    fn sudden_spike_steps_at_25_and_65_percent() {
        let s = clean(PatternKind::SuddenSpike, 7200);
        assert_at(&s, 0, 50.0);
        assert_at(&s, 1800, 50.0); // 0.25T: the spike starts
        assert_at(&s, 1815, 125.0); // half-way up after 15 s
        assert_at(&s, 1830, 200.0); // at the peak within 30 s
        assert_at(&s, 2490, 200.0);
        assert_at(&s, 2505, 125.0);
        assert_at(&s, 2520, 50.0); // 0.35T: back to base
        assert_at(&s, 3600, 50.0);
        assert_at(&s, 4680, 50.0); // 0.65T: the second spike starts
        assert_at(&s, 4710, 200.0);
        assert_at(&s, 5400, 50.0); // 0.75T: over
        let at_peak = s.as_slice().iter().filter(|&&r| r == 200.0).count();
        assert_eq!(at_peak, 2 * (2490 - 1830 + 1));
    }

    #[test]
    fn daily_pattern_troughs_at_midnight_and_peaks_at_noon() {
        let s = clean(PatternKind::DailyPattern, 86_400);
        assert_at(&s, 0, 30.0);
        assert_at(&s, 21_600, 115.0); // 06:00: sin² = 1/2
        assert_at(&s, 43_200, 200.0);
        assert_at(&s, 64_800, 115.0);
        // A two-hour run sees the first two hours of the day, not a squeezed day.
        let short = clean(PatternKind::DailyPattern, 7200);
        assert_at(&short, 3600, 32.896);
        assert!(
            (short.peak() - 41.385).abs() < 0.01,
            "peak {}",
            short.peak()
        );
    }

    #[test]
    fn idle_periods_cycle_every_90_minutes() {
        let s = clean(PatternKind::IdlePeriods, 21_600);
        assert_at(&s, 0, 200.0);
        assert_at(&s, 2399, 200.0);
        assert_at(&s, 2460, 103.0); // half-way down the 2-minute ramp
        assert_at(&s, 2520, 6.0); // idle at 3 %
        assert_at(&s, 4000, 6.0);
        assert_at(&s, 5279, 6.0);
        assert_at(&s, 5340, 103.0); // half-way back up
        assert_at(&s, 5400, 200.0); // the next cycle starts busy
        assert_at(&s, 5400 + 2520, 6.0);
        assert_at(&s, 3 * 5400 + 100, 200.0);
    }

    #[test]
    fn flash_crowd_rises_in_a_minute_and_decays_over_twenty() {
        let s = clean(PatternKind::FlashCrowd, 7200);
        assert_at(&s, 0, 40.0);
        assert_at(&s, 2879, 40.0); // just before t0 = 0.4T
        assert_at(&s, 2910, 120.0); // half-way up
        assert_at(&s, 2940, 200.0); // peak 60 s after t0
        assert_at(&s, 2940 + 1200, 40.0 + 160.0 / std::f64::consts::E);
        assert_at(&s, 7199, 40.0 + 160.0 * (-4259.0f64 / 1200.0).exp());
    }

    #[test]
    fn same_seed_same_series_other_seed_other_series() {
        let noise = NoiseConfig::default();
        for kind in PatternKind::ALL {
            let a = kind.generate(P, 3600, &noise, 7);
            assert_eq!(a, kind.generate(P, 3600, &noise, 7), "{}", kind.name());
            assert_ne!(a, kind.generate(P, 3600, &noise, 8), "{}", kind.name());
        }
    }

    #[test]
    fn noise_keeps_the_mean_within_three_percent() {
        let noise = NoiseConfig::default();
        for kind in PatternKind::ALL {
            let d = kind.default_duration_s();
            let clean_total = clean(kind, d).total();
            let noisy = kind.generate(P, d, &noise, 11);
            let ratio = noisy.total() / clean_total;
            assert!((ratio - 1.0).abs() < 0.03, "{}: ratio {ratio}", kind.name());
            assert_ne!(noisy.as_slice(), clean(kind, d).as_slice());
        }
    }
}
