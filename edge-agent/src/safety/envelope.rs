//! The range of observations a policy was trained on. A network extrapolates outside it
//! with no warning, so the layer treats such an observation as one the policy cannot be
//! trusted with.

use common::env::{OBSERVATION_LEN, Observation};
use serde::{Deserialize, Serialize};

/// Per-entry `[low, high]` of every observation seen in training. Saved beside a model so
/// the agent running it knows where it is on solid ground.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TrainingEnvelope {
    /// Smallest value seen, per observation entry.
    pub(crate) low: [f32; OBSERVATION_LEN],
    /// Largest value seen, per observation entry.
    pub(crate) high: [f32; OBSERVATION_LEN],
}

/// The first entry of an observation found outside the envelope.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Excursion {
    /// Index into the observation (see `common::env::Observation` for the meaning).
    pub(crate) index: usize,
    /// The offending value.
    pub(crate) value: f32,
    /// The smallest value of that entry seen in training, before tolerance.
    pub(crate) low: f32,
    /// The largest value of that entry seen in training, before tolerance.
    pub(crate) high: f32,
}

impl TrainingEnvelope {
    /// The envelope of exactly one observation; widen it with [`Self::include`].
    pub(crate) fn around(observation: &Observation) -> Self {
        Self {
            low: observation.0,
            high: observation.0,
        }
    }

    /// The envelope of every observation given, or `None` when there are none (no training
    /// data means no envelope, not an empty one that rejects everything).
    pub(crate) fn from_observations<'a>(
        observations: impl IntoIterator<Item = &'a Observation>,
    ) -> Option<Self> {
        let mut it = observations.into_iter();
        let mut envelope = Self::around(it.next()?);
        for o in it {
            envelope.include(o);
        }
        Some(envelope)
    }

    /// Widens the envelope to cover `observation`. NaN entries are skipped: they say
    /// nothing about the range the policy saw.
    pub(crate) fn include(&mut self, observation: &Observation) {
        for (i, &v) in observation.0.iter().enumerate() {
            if v.is_nan() {
                continue;
            }
            // A NaN bound (from an envelope built around a NaN) is replaced, not kept.
            if self.low[i].is_nan() || v < self.low[i] {
                self.low[i] = v;
            }
            if self.high[i].is_nan() || v > self.high[i] {
                self.high[i] = v;
            }
        }
    }

    /// The first entry lying more than `tolerance` outside its trained range, if any. NaN
    /// never lies inside.
    pub(crate) fn excursion(&self, observation: &Observation, tolerance: f64) -> Option<Excursion> {
        observation
            .0
            .iter()
            .enumerate()
            .find_map(|(index, &value)| {
                let (low, high) = (self.low[index], self.high[index]);
                let v = f64::from(value);
                let inside = v >= f64::from(low) - tolerance && v <= f64::from(high) + tolerance;
                (!inside).then_some(Excursion {
                    index,
                    value,
                    low,
                    high,
                })
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(values: [f32; OBSERVATION_LEN]) -> Observation {
        Observation(values)
    }

    #[test]
    fn from_observations_takes_per_entry_min_and_max() {
        let mut a = [0.5; OBSERVATION_LEN];
        let mut b = [0.5; OBSERVATION_LEN];
        a[0] = 0.1;
        b[0] = 0.9;
        a[11] = 0.3;
        b[11] = f32::NAN;
        let e = TrainingEnvelope::from_observations([&obs(a), &obs(b)]).unwrap();
        assert_eq!((e.low[0], e.high[0]), (0.1, 0.9));
        assert_eq!((e.low[5], e.high[5]), (0.5, 0.5));
        // The NaN in b is skipped.
        assert_eq!((e.low[11], e.high[11]), (0.3, 0.3));
        assert_eq!(TrainingEnvelope::from_observations([]), None);

        // A NaN bound is replaced by the first real value.
        let mut e = TrainingEnvelope::around(&obs([f32::NAN; OBSERVATION_LEN]));
        e.include(&obs([0.4; OBSERVATION_LEN]));
        assert_eq!((e.low[3], e.high[3]), (0.4, 0.4));
    }

    #[test]
    fn excursion_names_the_first_entry_beyond_the_tolerance() {
        let mut low = [0.0; OBSERVATION_LEN];
        let mut high = [1.0; OBSERVATION_LEN];
        // Entry 6 (request rate) was trained on 0.2–0.6, entry 9 (pods) on 0.1–0.5.
        (low[6], high[6]) = (0.2, 0.6);
        (low[9], high[9]) = (0.1, 0.5);
        let e = TrainingEnvelope { low, high };

        let mut o = [0.5; OBSERVATION_LEN];
        // 0.64 is within 0.6 + 0.05: inside.
        o[6] = 0.64;
        // 0.06 is within 0.1 − 0.05 as well.
        o[9] = 0.06;
        assert_eq!(e.excursion(&obs(o), 0.05), None);

        // 0.66 > 0.65: out, and entry 6 is reported before entry 9 (also out at 0.04).
        o[6] = 0.66;
        o[9] = 0.04;
        assert_eq!(
            e.excursion(&obs(o), 0.05),
            Some(Excursion {
                index: 6,
                value: 0.66,
                low: 0.2,
                high: 0.6
            })
        );
        o[6] = 0.5;
        assert_eq!(e.excursion(&obs(o), 0.05).map(|x| x.index), Some(9));
        // With no tolerance, 0.64 is already outside.
        o[9] = 0.3;
        o[6] = 0.64;
        assert_eq!(e.excursion(&obs(o), 0.0).map(|x| x.index), Some(6));
        // NaN is never inside.
        o[6] = 0.4;
        o[2] = f32::NAN;
        assert_eq!(e.excursion(&obs(o), 0.05).map(|x| x.index), Some(2));
    }

    #[test]
    fn round_trips_through_json() {
        let e = TrainingEnvelope::around(&obs([0.25; OBSERVATION_LEN]));
        let text = serde_json::to_string(&e).unwrap();
        assert_eq!(serde_json::from_str::<TrainingEnvelope>(&text).unwrap(), e);
    }
}
