//! The seed-compatible environment contract: a 12-entry observation in [0, 1], a discrete
//! action set, and the four-term reward.

mod observation;

pub use observation::{OBSERVATION_LEN, Observation, ObservationBuilder};
