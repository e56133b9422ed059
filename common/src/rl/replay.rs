//! Experience replay: the DQN learns from uniformly sampled past transitions, so
//! consecutive, strongly correlated steps do not dominate a gradient.

use rand::RngExt;

use crate::env::OBSERVATION_LEN;

/// One transition.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transition {
    /// Observation the action was taken on.
    pub observation: [f32; OBSERVATION_LEN],
    /// Index of the action.
    pub action: u32,
    /// Reward received.
    pub reward: f32,
    /// Observation after the step.
    pub next_observation: [f32; OBSERVATION_LEN],
    /// True if the episode ended with this step (no bootstrapping past it).
    pub done: bool,
}

/// A ring buffer of transitions; the oldest is overwritten once full.
#[derive(Debug, Clone)]
pub struct ReplayBuffer {
    capacity: usize,
    items: Vec<Transition>,
    next: usize,
}

impl ReplayBuffer {
    /// An empty buffer holding at most `capacity` transitions (at least one).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            capacity,
            items: Vec::with_capacity(capacity.min(1 << 16)),
            next: 0,
        }
    }

    /// Transitions held.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Stores a transition, evicting the oldest when full.
    pub fn push(&mut self, t: Transition) {
        if self.items.len() < self.capacity {
            self.items.push(t);
        } else {
            self.items[self.next] = t;
        }
        self.next = (self.next + 1) % self.capacity;
    }

    /// `n` transitions drawn uniformly with replacement, written into `out`.
    pub fn sample_into(&self, n: usize, rng: &mut impl rand::Rng, out: &mut Vec<Transition>) {
        out.clear();
        if self.items.is_empty() {
            return;
        }
        for _ in 0..n {
            out.push(self.items[rng.random_range(0..self.items.len())]);
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::ChaCha8Rng;

    use super::*;

    fn t(reward: f32) -> Transition {
        Transition {
            observation: [0.0; OBSERVATION_LEN],
            action: 0,
            reward,
            next_observation: [0.0; OBSERVATION_LEN],
            done: false,
        }
    }

    #[test]
    fn evicts_the_oldest_and_samples_only_what_it_holds() {
        let mut b = ReplayBuffer::new(3);
        for r in 0..5 {
            b.push(t(r as f32));
        }
        assert_eq!(b.len(), 3);
        let mut out = Vec::new();
        b.sample_into(200, &mut ChaCha8Rng::seed_from_u64(1), &mut out);
        assert_eq!(out.len(), 200);
        let mut seen: Vec<f32> = out.iter().map(|t| t.reward).collect();
        seen.sort_by(f32::total_cmp);
        seen.dedup();
        assert_eq!(seen, vec![2.0, 3.0, 4.0]);
    }
}
