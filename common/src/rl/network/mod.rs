//! The networks, built on burn.

mod actor_critic;
mod dropout;
mod gaussian;
mod hybrid;
mod init;
mod qnet;
mod tanh;

pub use actor_critic::ActorCritic;
pub use gaussian::GaussianActorCritic;
pub use hybrid::HybridNetwork;
pub use qnet::QNetwork;
