//! How long an agent waits before reconnecting to the coordinator: exponential backoff
//! with jitter.
//!
//! When the coordinator restarts, every agent of the fleet loses its connection at the
//! same instant; if they all retried on the same schedule they would arrive together,
//! again and again. Jitter spreads them out, the exponential growth keeps an unreachable
//! coordinator from being hammered, and the cap keeps an agent from sleeping so long that
//! it misses rounds after the coordinator is back. The schedule is pure (the caller says
//! how long a connection lived; the generator is seeded), so it is tested without clocks.

use std::time::Duration;

use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

/// How the random part of a delay is drawn from the exponential ceiling `c`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Jitter {
    /// Uniform in `[0, c]`: spreads a fleet the most, at the price of the odd very short
    /// wait.
    Full,
    /// `c/2` plus uniform in `[0, c/2]`: never less than half the ceiling, so the growth
    /// still guarantees a minimum pause.
    Equal,
}

/// The backoff schedule. Loadable from TOML; unknown keys are an error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackoffConfig {
    /// Ceiling of the first retry's delay, milliseconds. Default 500.
    pub base_ms: u64,
    /// Growth of the ceiling per failed attempt. Default 2.
    pub factor: f64,
    /// Largest ceiling, milliseconds. Default 30,000: an agent is back within half a
    /// minute of the coordinator, well inside a typical round deadline.
    pub cap_ms: u64,
    /// How delays are spread under the ceiling. Default `full`.
    pub jitter: Jitter,
    /// A connection that lasted at least this long (milliseconds) counts as healthy, and
    /// the next failure starts the schedule from `base_ms` again. Default 10,000. Shorter
    /// connections keep growing the delay, so a coordinator that accepts and then drops
    /// agents at once is not hammered either.
    pub reset_after_ms: u64,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        Self {
            base_ms: 500,
            factor: 2.0,
            cap_ms: 30_000,
            jitter: Jitter::Full,
            reset_after_ms: 10_000,
        }
    }
}

/// The schedule's settings contradict each other.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid backoff.{field}: {reason}")]
pub struct BackoffConfigError {
    /// The offending key.
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl BackoffConfig {
    /// Checks ranges; the error names the key.
    pub fn validate(&self) -> Result<(), BackoffConfigError> {
        if self.base_ms == 0 {
            return Err(BackoffConfigError {
                field: "base_ms",
                reason: "must be at least 1 ms, or a dead coordinator is retried in a busy loop"
                    .into(),
            });
        }
        if !(self.factor.is_finite() && self.factor >= 1.0) {
            return Err(BackoffConfigError {
                field: "factor",
                reason: format!("must be a finite number of at least 1, got {}", self.factor),
            });
        }
        if self.cap_ms < self.base_ms {
            return Err(BackoffConfigError {
                field: "cap_ms",
                reason: format!(
                    "{} ms is below base_ms ({} ms); the cap must be at least the first delay",
                    self.cap_ms, self.base_ms
                ),
            });
        }
        Ok(())
    }

    /// How long a connection must live to reset the schedule.
    pub fn reset_after(&self) -> Duration {
        Duration::from_millis(self.reset_after_ms)
    }
}

/// Where an agent is in its retry schedule.
#[derive(Debug)]
pub struct Backoff {
    cfg: BackoffConfig,
    /// Failed attempts since the last reset; the next delay's ceiling is
    /// `base × factor^failures`.
    failures: u32,
    rng: ChaCha8Rng,
}

impl Backoff {
    /// A schedule at its start. Agents of one fleet should use different seeds, or their
    /// jitter is identical and spreads nothing.
    pub fn new(cfg: BackoffConfig, seed: u64) -> Result<Self, BackoffConfigError> {
        cfg.validate()?;
        Ok(Self {
            cfg,
            failures: 0,
            rng: ChaCha8Rng::seed_from_u64(seed),
        })
    }

    /// Failed attempts since the last reset.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// The largest delay the next [`next_delay`](Self::next_delay) can return.
    pub fn ceiling(&self) -> Duration {
        let grown = self.cfg.base_ms as f64 * self.cfg.factor.powi(self.failures as i32);
        // `min` in f64 first: the growth overflows u64 long before the exponent does.
        Duration::from_millis(grown.min(self.cfg.cap_ms as f64) as u64)
    }

    /// Records a failed attempt (or a connection that ended too soon) and returns how long
    /// to wait before the next one.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling().as_millis() as u64;
        // Stop counting once the cap is reached: the exponent then changes nothing.
        if ceiling < self.cfg.cap_ms {
            self.failures = self.failures.saturating_add(1);
        }
        let millis = match self.cfg.jitter {
            Jitter::Full => self.rng.random_range(0..=ceiling),
            Jitter::Equal => ceiling / 2 + self.rng.random_range(0..=ceiling - ceiling / 2),
        };
        Duration::from_millis(millis)
    }

    /// Records that a connection ended after living for `lived`, and returns how long to
    /// wait before reconnecting: from the start of the schedule if the connection was
    /// healthy, further along it otherwise.
    pub fn after_connection(&mut self, lived: Duration) -> Duration {
        if lived >= self.cfg.reset_after() {
            self.reset();
        }
        self.next_delay()
    }

    /// Back to the first delay.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(jitter: Jitter) -> BackoffConfig {
        BackoffConfig {
            base_ms: 100,
            factor: 2.0,
            cap_ms: 1_000,
            jitter,
            reset_after_ms: 5_000,
        }
    }

    #[test]
    fn ceilings_grow_geometrically_up_to_the_cap() {
        let mut b = Backoff::new(config(Jitter::Full), 1).unwrap();
        let mut ceilings = Vec::new();
        for _ in 0..8 {
            ceilings.push(b.ceiling().as_millis());
            b.next_delay();
        }
        assert_eq!(ceilings, [100, 200, 400, 800, 1000, 1000, 1000, 1000]);
    }

    #[test]
    fn full_jitter_stays_within_zero_and_the_ceiling_and_uses_the_range() {
        let mut lowest = u128::MAX;
        let mut highest = 0;
        for seed in 0..200 {
            let mut b = Backoff::new(config(Jitter::Full), seed).unwrap();
            for _ in 0..3 {
                b.next_delay();
            }
            // The fourth attempt's ceiling is 800 ms.
            let d = b.next_delay().as_millis();
            assert!(d <= 800, "{d}");
            lowest = lowest.min(d);
            highest = highest.max(d);
        }
        assert!(lowest < 200 && highest > 600, "{lowest}..{highest}");
    }

    #[test]
    fn equal_jitter_never_waits_less_than_half_the_ceiling() {
        for seed in 0..200 {
            let mut b = Backoff::new(config(Jitter::Equal), seed).unwrap();
            for expected_ceiling in [100, 200, 400, 800, 1000, 1000] {
                let d = b.next_delay().as_millis();
                assert!(
                    (expected_ceiling / 2..=expected_ceiling).contains(&d),
                    "seed {seed}: {d} outside [{}, {expected_ceiling}]",
                    expected_ceiling / 2
                );
            }
        }
    }

    #[test]
    fn a_long_lived_connection_resets_the_schedule_and_a_short_one_does_not() {
        let mut b = Backoff::new(config(Jitter::Equal), 3).unwrap();
        for _ in 0..4 {
            b.next_delay();
        }
        assert_eq!(b.ceiling().as_millis(), 1000);
        // Dropped right after connecting: the coordinator is still unwell, keep backing off.
        let d = b.after_connection(Duration::from_millis(4_999));
        assert!(d.as_millis() >= 500, "{d:?}");
        assert_eq!(b.ceiling().as_millis(), 1000);
        // Healthy for long enough: start over from the base.
        let d = b.after_connection(Duration::from_secs(5));
        assert!((50..=100).contains(&d.as_millis()), "{d:?}");
        assert_eq!(b.ceiling().as_millis(), 200);
    }

    #[test]
    fn the_same_seed_gives_the_same_schedule_and_another_seed_another() {
        let run = |seed| {
            let mut b = Backoff::new(config(Jitter::Full), seed).unwrap();
            (0..10).map(|_| b.next_delay()).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn a_huge_number_of_failures_stays_at_the_cap() {
        let mut b = Backoff::new(config(Jitter::Full), 0).unwrap();
        for _ in 0..10_000 {
            assert!(b.next_delay().as_millis() <= 1000);
        }
        assert_eq!(b.ceiling().as_millis(), 1000);
    }

    #[test]
    fn contradictory_settings_are_refused_with_the_key() {
        let bad = [
            (
                BackoffConfig {
                    base_ms: 0,
                    ..BackoffConfig::default()
                },
                "base_ms",
            ),
            (
                BackoffConfig {
                    factor: 0.5,
                    ..BackoffConfig::default()
                },
                "factor",
            ),
            (
                BackoffConfig {
                    factor: f64::NAN,
                    ..BackoffConfig::default()
                },
                "factor",
            ),
            (
                BackoffConfig {
                    cap_ms: 100,
                    ..BackoffConfig::default()
                },
                "cap_ms",
            ),
        ];
        for (cfg, field) in bad {
            let err = Backoff::new(cfg, 0).unwrap_err();
            assert_eq!(err.field, field);
            assert!(err.to_string().contains(field), "{err}");
        }
        BackoffConfig::default().validate().unwrap();
    }
}
