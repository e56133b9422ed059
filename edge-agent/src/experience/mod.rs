//! Experience collected on a real cluster: one [`Transition`] per control interval, kept on
//! disk as it happens so that a restart (an upgrade, an OOM kill, a node drain) loses none
//! of it. Online learning, the federation round's local training and the digital twin all
//! start from this record of what the workload did and what the agent decided.

mod log;
mod transition;

pub(crate) use log::ExperienceLog;
pub(crate) use transition::{MetricsRecord, Transition};
