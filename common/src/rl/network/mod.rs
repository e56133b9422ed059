//! The networks, built on burn.

mod actor_critic;
mod dropout;
mod init;
mod qnet;

pub use actor_critic::ActorCritic;
pub use qnet::QNetwork;
