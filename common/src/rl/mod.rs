//! Learning agents on burn: the networks, parameter flattening (for federation and
//! transfer), double DQN, PPO with GAE, the DQN+PPO hybrid, the episode loops that
//! train them on the simulator, and transfer learning from a trained model to a new
//! workload.
//!
//! Learners are deterministic for a seed: parameters are initialised and dropout masks
//! drawn from the learner's own generator, experience comes from the seeded simulator,
//! and nothing reads a clock.

pub mod adam;
pub mod artifact;
pub mod defaults;
pub mod device;
pub mod dqn;
pub mod episodes;
pub mod fleet_model;
pub mod hybrid;
pub mod network;
pub mod params;
pub mod policy;
pub mod ppo;
pub mod replay;
pub mod schedule;
pub mod transfer;

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;
