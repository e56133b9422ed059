//! `edge-agent rollback-model`: the model store's previous model made current again, the
//! very same files, for when a promoted model misbehaves on the real cluster. Running it
//! twice undoes it.

use std::path::PathBuf;

use anyhow::bail;
use clap::Args;

use crate::twin::store::ModelStore;

/// Options of `rollback-model`.
#[derive(Debug, Args)]
pub(crate) struct RollbackArgs {
    /// The model store `retrain` promotes into.
    #[arg(long)]
    store: PathBuf,
}

/// Makes the store's previous model current again.
pub(crate) fn run(args: &RollbackArgs) -> anyhow::Result<()> {
    if !args.store.is_dir() {
        bail!("model store {} does not exist", args.store.display());
    }
    let store = ModelStore::open(&args.store)?;
    let now = store.rollback()?;
    let previous = store.previous_dir()?.map_or_else(
        || "the shipped default".to_owned(),
        |p| p.display().to_string(),
    );
    println!(
        "rolled back: the current model is now {now}; previous (rollback again to undo): {previous}"
    );
    Ok(())
}
