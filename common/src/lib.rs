//! The pieces both binaries share: a deterministic cluster simulator and its traffic, the
//! seed-compatible observation/action/reward contract, baseline policies (HPA, tuned HPA,
//! oracle), the scorecard that judges every policy the same way, and the federation wire
//! protocol (`proto`) agents and coordinator speak over QUIC with mutual TLS (`transport`).
//!
//! Outside `transport`, nothing here does I/O except reading a trace file on request, and
//! nothing reads a clock: simulated time is a counter, randomness comes from seeded
//! generators, so every result can be reproduced bit for bit from its seed.

pub mod env;
pub mod error;
pub mod policy;
pub mod proto;
pub mod rl;
pub mod scenario;
pub mod scorecard;
pub mod sim;
pub mod traffic;
pub mod transport;

pub use error::{ConfigError, TrafficError};
