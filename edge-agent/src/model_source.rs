//! Loading the model a policy name points at: a directory `edge-agent train` wrote, or the
//! shipped default for the algorithm. Shared by the scorecard and the control loop so both
//! refuse the same mistakes (a directory holding another algorithm's model) the same way.

use std::path::Path;

use anyhow::{Context, bail};
use common::rl::artifact::{Algo, TrainedModel};

/// The model `algo[:dir]` names, with the label reports and logs show for it.
pub(crate) fn load_model(algo: Algo, dir: Option<&Path>) -> anyhow::Result<(String, TrainedModel)> {
    let (label, model) = match dir {
        Some(dir) => (
            format!("{}:{}", algo.name(), dir.display()),
            TrainedModel::load(dir).with_context(|| {
                format!("cannot load the {} model in {}", algo.name(), dir.display())
            })?,
        ),
        None => (algo.name().to_owned(), common::rl::defaults::load(algo)?),
    };
    if model.manifest.algo != algo {
        bail!(
            "{} holds a {} model, not {}",
            label,
            model.manifest.algo.name(),
            algo.name()
        );
    }
    Ok((label, model))
}
