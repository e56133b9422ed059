//! The registry entry a fine-tune becomes.

use super::{BaseModel, WorkloadTag};
use crate::registry::store::NewVersion;

/// A side-branch version holding `weights` tuned from `base` for `tag`: the fleet line
/// (and so every round) is unaffected, and agents announcing `tag` start from it.
pub(crate) fn fine_tune_version(
    base: &BaseModel,
    weights: Vec<f32>,
    tag: &WorkloadTag,
    created_at: String,
) -> NewVersion {
    NewVersion {
        parent: Some(base.version),
        round: None,
        architecture: base.architecture.clone(),
        weights,
        contributors: Vec::new(),
        tags: vec![tag.as_str().to_owned()],
        created_at,
        fine_tuned_for: Some(tag.as_str().to_owned()),
    }
}
