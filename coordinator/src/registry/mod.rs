//! The model registry: every global model the coordinator publishes, with how it was
//! made, on disk so the coordinator can resume after a crash or restart and an operator
//! can inspect or undo what the fleet learned. Versions are immutable and never deleted;
//! a rollback republishes old weights as a new version, so history only grows and every
//! version an agent ever ran stays reproducible.
//!
//! Layout of a registry directory:
//!
//! ```text
//! DIR/
//!   v000001/
//!     manifest.json   version, parent, round, created_at, architecture, weights_crc32,
//!                     contributors (cluster, samples, metrics), total_samples, tags,
//!                     rolled_back_from; pretty JSON, see manifest::Manifest
//!     weights.bin     parameter_count little-endian f32, in parameter order
//!   v000002/ …
//!   .tmp-v000003-<pid>/   a publication in progress, or the remains of a crashed one
//! ```
//!
//! A version directory appears only complete (assembled aside, synced, renamed), and a
//! version is read only after its manifest parses and agrees with itself and its weights
//! match the manifest's size and CRC-32, so a crash or bit rot can make the registry
//! refuse to start but never make it serve a half-written or corrupted model.

mod durable;
pub(crate) mod error;
pub(crate) mod manifest;
pub(crate) mod store;
#[cfg(test)]
mod tests;
mod weights;
