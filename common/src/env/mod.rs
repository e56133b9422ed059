//! The seed-compatible environment contract: a 12-entry observation in [0, 1], a discrete
//! action set, and the four-term reward, wrapped around the simulator as an episode.

mod action;
mod episode;
mod observation;
mod reward;

pub use action::ActionSpace;
pub use episode::{Env, EnvConfig, Step};
pub(crate) use observation::LATENCY_CEILING_SLOS;
pub use observation::{OBSERVATION_LEN, Observation, ObservationBuilder};
pub use reward::{RewardConfig, RewardInputs, RewardTerms, ThrashTracker};
