//! The coordinator's network shell around the [round engine](crate::round): a QUIC
//! listener (mutual TLS), one task per agent connection, and one engine task that owns
//! the model registry and the engine and is the only place where state changes.
//!
//! A connection task authenticates the agent, waits (bounded) for its hello, asks the
//! engine task for the answer (the current model, or a refusal for a model of another
//! shape), and then reads the agent's unidirectional streams one after another, handing
//! each message to the engine task; a writer task per connection sends what the engine
//! addresses to that agent, one stream per message, in order.
//!
//! Memory stays bounded as the fleet grows: a message is only read past its length
//! prefix once its size fits a shared receive budget (so at most a few large updates are
//! buffered and decoded at once, while QUIC flow control holds the rest at the agents),
//! FedAvg folds each update on arrival, and a global model is encoded once per version
//! and its bytes shared by every connection that sends it.
//!
//! [`Coordinator::start`] runs all of this inside the caller's tokio runtime and returns
//! a [`CoordinatorHandle`]: the bound address, a stream of [`Event`]s, the current
//! version, and an orderly shutdown. `coordinator serve`, the round benchmark and the
//! fleet simulation all start it this way.

mod connection;
mod engine_task;
mod error;
mod event;
mod frames;
mod handle;
mod options;
mod receive;

pub use error::ServerError;
pub use event::Event;
pub use handle::{Coordinator, CoordinatorHandle};
pub use options::{CoordinatorOptions, ServerLimits};
