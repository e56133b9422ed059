//! Exploration schedule.

/// ε for ε-greedy exploration: linear from `start` to `end` over the first `fraction` of
/// training, then flat (the Stable-Baselines3 schedule the seed used).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinearSchedule {
    /// Value at step 0.
    pub start: f64,
    /// Value from the end of the decay on.
    pub end: f64,
    /// Steps the decay takes.
    pub decay_steps: u64,
}

impl LinearSchedule {
    /// The value at `step`.
    pub fn at(&self, step: u64) -> f64 {
        if self.decay_steps == 0 || step >= self.decay_steps {
            return self.end;
        }
        self.start + (self.end - self.start) * step as f64 / self.decay_steps as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decays_linearly_then_holds() {
        let s = LinearSchedule {
            start: 1.0,
            end: 0.07,
            decay_steps: 100,
        };
        assert_eq!(s.at(0), 1.0);
        assert!((s.at(50) - 0.535).abs() < 1e-12);
        assert_eq!(s.at(100), 0.07);
        assert_eq!(s.at(10_000), 0.07);
    }
}
