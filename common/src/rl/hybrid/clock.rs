//! The tuner's side of an episode: which decision starts a segment, what the tuner
//! observes there, and what it set for the segment under way. Training and the deployed
//! policy both step through this one type, so the tuner sees the same thing in both.

use super::config::HybridConfig;
use super::outputs::{TUNER_OUTPUTS, TunerOutputs, positions, replica_floor};
use super::segment::{SegmentSummary, TUNER_OBSERVATION_LEN};
use crate::env::Observation;

/// Tuner state for one episode. [`Self::reset`] between episodes.
#[derive(Debug, Clone)]
pub struct TunerClock {
    cfg: HybridConfig,
    decisions: u64,
    summary: SegmentSummary,
    raw: [f32; TUNER_OUTPUTS],
    outputs: TunerOutputs,
}

impl TunerClock {
    /// A clock at the start of an episode, the tuner's settings at the middle of their
    /// ranges until it first acts.
    pub fn new(cfg: &HybridConfig) -> Self {
        let raw = [0.0; TUNER_OUTPUTS];
        Self {
            outputs: TunerOutputs::from_raw(&raw, cfg),
            cfg: cfg.clone(),
            decisions: 0,
            summary: SegmentSummary::default(),
            raw,
        }
    }

    /// Back to the start of an episode.
    pub fn reset(&mut self) {
        *self = Self::new(&self.cfg);
    }

    /// Called once per decision, before deciding, with the observation the decision is
    /// made on. When this decision starts a segment, returns what the tuner observes (the
    /// summary of the segment just ended); the caller lets the tuner act and passes its
    /// raw action to [`Self::set`].
    ///
    /// The observation at decision `t > 0` shows the interval `t − 1`, so it is counted
    /// into the segment that interval belonged to; the first observation of an episode
    /// shows nothing yet and is skipped.
    pub fn decision(&mut self, o: &Observation) -> Option<[f32; TUNER_OBSERVATION_LEN]> {
        if self.decisions > 0 {
            self.summary.push(o);
        }
        let starts = self.decisions.is_multiple_of(self.cfg.segment_steps);
        self.decisions += 1;
        if !starts {
            return None;
        }
        let obs = self.observation();
        self.summary = SegmentSummary::default();
        Some(obs)
    }

    /// What the tuner would observe if the segment ended now.
    pub fn observation(&self) -> [f32; TUNER_OBSERVATION_LEN] {
        self.summary.observation(positions(&self.raw))
    }

    /// Applies the tuner's raw (unsquashed) action for the segment under way.
    pub fn set(&mut self, raw: [f32; TUNER_OUTPUTS]) {
        self.raw = raw;
        self.outputs = TunerOutputs::from_raw(&raw, &self.cfg);
    }

    /// The settings for the segment under way.
    pub fn outputs(&self) -> TunerOutputs {
        self.outputs
    }

    /// The replica floor at observation `o`: see [`replica_floor`].
    pub fn floor(&self, o: &Observation, max_replicas: u32) -> u32 {
        replica_floor(o.0[6], max_replicas, self.outputs.utilization_target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_start_every_segment_steps_and_summarise_the_one_before() {
        let cfg = HybridConfig {
            segment_steps: 3,
            ..HybridConfig::default()
        };
        let mut clock = TunerClock::new(&cfg);
        let obs = |rate: f32| {
            let mut o = Observation::default();
            o.0[6] = rate;
            o
        };
        // Decision 0 starts segment 0 with nothing seen.
        let first = clock.decision(&obs(0.9)).unwrap();
        assert_eq!(first[4], 0.0);
        assert_eq!(&first[5..], &[0.5, 0.5]);
        clock.set([1.0, -1.0]);
        assert!(clock.decision(&obs(0.1)).is_none());
        assert!(clock.decision(&obs(0.2)).is_none());
        // Decision 3 sees intervals 0–2 (observations at decisions 1–3) and the settings.
        let second = clock.decision(&obs(0.6)).unwrap();
        assert!((second[4] - 0.3).abs() < 1e-6, "{second:?}");
        let p = positions(&[1.0, -1.0]);
        assert_eq!(&second[5..], &p);
        clock.reset();
        assert_eq!(clock.decision(&obs(0.5)).unwrap(), first);
        assert_eq!(clock.outputs(), TunerOutputs::from_raw(&[0.0, 0.0], &cfg));
    }
}
