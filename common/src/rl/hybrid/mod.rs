//! The DQN+PPO hybrid: a DQN scales every decision interval while a slower PPO "tuner"
//! with continuous outputs adjusts, once per segment, how the DQN is rewarded and how
//! few pods it may run.
//!
//! **Two timescales.** The DQN is exactly [`crate::rl::dqn`]: same network, replay,
//! ε-greedy and double-DQN target, acting on the 12-entry observation with the discrete
//! action set. The tuner acts at the first decision of every segment (default 240
//! decisions, one simulated hour; an episode's end also ends its segment). It observes a
//! summary of the segment just ended ([`SegmentSummary`]: share of observations meeting
//! the SLO, mean CPU utilisation, mean pods / max, mean error rate, mean request rate, and
//! its own current settings), built from the same observations the agent sees in a real
//! cluster, and outputs two numbers ([`TunerOutputs`]):
//!
//! - a multiplier on the DQN's latency reward weight, squashed log-linearly onto
//!   `latency_weight_range` (default 0.5×–2×). It shapes what the DQN *learns* from the
//!   segment's transitions; the DQN does not observe it, so its effect reaches the tuner's
//!   objective only through later DQN updates.
//! - a utilisation target `u*` in `utilization_range` (default 0.55–0.95) that acts at
//!   decision time as a replica floor: the hybrid asks for
//!   `max(DQN's choice, ⌈rate_norm · max_replicas / u*⌉)` ([`replica_floor`]), i.e. never
//!   fewer pods than serve the observed request rate at `u*` of their capacity. The floor
//!   also lets the hybrid jump several pods at once when load steps up, which the DQN's
//!   ±1 actions cannot. Because it acts at decision time, the tuner shapes greedy
//!   evaluation too, not only training.
//!
//! **The tuner's policy** ([`TunerLearner`]) is a diagonal Gaussian with a
//! state-independent learnable log standard deviation over raw outputs, on a small tanh
//! actor-critic ([`crate::rl::network::GaussianActorCritic`]); raw samples are squashed
//! with tanh (multiplier) and a sigmoid (`u*`). PPO trains it with the discrete learner's
//! GAE, advantage normalisation, clipped surrogate ([`crate::rl::ppo::clipped_surrogate`])
//! and global-norm clipping; only the log-probability and entropy are the Gaussian's
//! ([`gaussian`]), taken on the raw sample (the squashing's Jacobian cancels in the
//! probability ratio).
//!
//! **The tuner's reward** is a fixed operator objective over the segment's true outcome
//! ([`SegmentOutcome::objective`]): `−(mean pods / max pods) − λ·(1 − SLO compliance) −
//! μ·error rate`, with λ (`slo_penalty`, default 2) and μ (`error_penalty`, default 10)
//! from the configuration. The tuner cannot change it, so it cannot make its own job
//! easier by, say, relaxing the SLO weight it is judged by.
//!
//! **Training** ([`train_hybrid`]) alternates naturally: every step the DQN learns from a
//! transition rewarded under the segment's weights; at every segment boundary the tuner
//! records (summary, raw action, log-probability, value, objective) and runs a PPO update
//! every `tuner_n_steps` segments (default 32).
//!
//! **Deployed** ([`crate::rl::policy::LearnedPolicy`]), the hybrid acts greedily: the
//! DQN's best action, raised to the floor of the tuner's *mean* action, with the segment
//! clock ([`TunerClock`]) run exactly as in training. A saved hybrid is one burn record
//! holding both networks ([`crate::rl::network::HybridNetwork`]); the part a fleet
//! federates is its DQN ([`crate::rl::fleet_model`]), which has the plain DQN's layers
//! and parameter count under `ModelKind::Hybrid`.

mod clock;
mod config;
pub mod gaussian;
mod learner;
mod outputs;
mod segment;
mod train;
mod tuner;

pub use clock::TunerClock;
pub use config::HybridConfig;
pub use learner::HybridLearner;
pub use outputs::{TUNER_OUTPUTS, TunerOutputs, positions, replica_floor};
pub use segment::{SegmentOutcome, SegmentSummary, TUNER_OBSERVATION_LEN};
pub use train::train_hybrid;
pub use tuner::{
    TunerAction, TunerLearner, TunerStep, gaussian_ppo_loss, mean_action, tuner_network,
};

#[cfg(test)]
mod tests;
