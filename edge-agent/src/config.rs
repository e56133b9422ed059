//! Loading the environment configuration file.

use std::path::Path;

use anyhow::Context;
use common::env::EnvConfig;

/// Reads a TOML file into `T` and checks it with `validate`; every error names the file
/// (and serde's names the key).
pub(crate) fn read_validated<T: serde::de::DeserializeOwned>(
    path: &Path,
    validate: impl FnOnce(&T) -> anyhow::Result<()>,
) -> anyhow::Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let cfg: T = toml::from_str(&text)
        .with_context(|| format!("invalid configuration in {}", path.display()))?;
    validate(&cfg).with_context(|| format!("invalid configuration in {}", path.display()))?;
    Ok(cfg)
}

/// Reads a TOML environment configuration; missing keys take their defaults, unknown
/// keys and out-of-range values are errors that name the field.
pub(crate) fn load_env_config(path: Option<&Path>) -> anyhow::Result<EnvConfig> {
    let cfg = match path {
        None => EnvConfig::default(),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            toml::from_str(&text)
                .with_context(|| format!("invalid configuration in {}", path.display()))?
        }
    };
    cfg.validate()?;
    Ok(cfg)
}
