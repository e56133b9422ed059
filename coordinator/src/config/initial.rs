//! Where a fleet's first global model comes from when the registry is empty.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The first model of a fleet, used only while the registry holds no version yet; after
/// that the coordinator always resumes from the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitialModel {
    /// The trained model shipped with the project for the configured algorithm
    /// (`"default"`): agents start from a policy that already scales sensibly.
    Default,
    /// Freshly initialised weights from the configured seed (`"fresh"`), for experiments
    /// that must show what federation learns from nothing.
    Fresh,
    /// A trained model directory, as written by `edge-agent train` (any other string;
    /// write `./fresh` for a directory that happens to be called `fresh`).
    Dir(PathBuf),
}

impl fmt::Display for InitialModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Default => f.write_str("default"),
            Self::Fresh => f.write_str("fresh"),
            Self::Dir(path) => write!(f, "{}", path.display()),
        }
    }
}

impl Serialize for InitialModel {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for InitialModel {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Ok(match text.as_str() {
            "default" => Self::Default,
            "fresh" => Self::Fresh,
            "" => {
                return Err(serde::de::Error::custom(
                    "initial_model is empty; use \"default\", \"fresh\" or a model directory",
                ));
            }
            path => Self::Dir(PathBuf::from(path)),
        })
    }
}
