//! The manifest: everything about a version except its weights, as human-readable JSON.

use common::proto::{LocalMetrics, ModelArchitecture};
use serde::{Deserialize, Serialize};

/// The manifest layout this build writes and reads. Any change an older build would
/// misread bumps it, so an old coordinator refuses a newer registry instead of guessing.
pub(crate) const FORMAT: u32 = 1;

/// File name of the manifest inside a version directory.
pub(crate) const MANIFEST_FILE: &str = "manifest.json";

/// File name of the weights inside a version directory.
pub(crate) const WEIGHTS_FILE: &str = "weights.bin";

/// Everything recorded about one published global model.
///
/// Every field is required when reading: a manifest missing one was not written by this
/// registry, and guessing a default could silently misdescribe a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Manifest {
    /// [`FORMAT`] at the time of writing.
    pub(crate) format: u32,
    /// This version's number, also its directory's name (`v000042`).
    pub(crate) version: u64,
    /// The version it was derived from: the round's base, or the newest version when
    /// it was rolled back to. `None` only for a registry's first model.
    pub(crate) parent: Option<u64>,
    /// The federated round that produced it; `None` for an initial model or a rollback,
    /// which no round produced.
    pub(crate) round: Option<u64>,
    /// When it was published, as the caller supplied it (RFC 3339 from the CLI). The
    /// registry reads no clock, so tests and replays are deterministic.
    pub(crate) created_at: String,
    /// The weights' shape; `weights.bin` holds `parameter_count` values.
    pub(crate) architecture: ModelArchitecture,
    /// CRC-32 (IEEE) of `weights.bin`, to catch bit rot and truncation before a corrupt
    /// model is served to the fleet.
    pub(crate) weights_crc32: u32,
    /// The updates aggregated into it, with what each agent reported.
    pub(crate) contributors: Vec<Contributor>,
    /// Sum of the contributors' sample counts (saturating).
    pub(crate) total_samples: u64,
    /// Workload labels (e.g. `web`), for choosing a starting model for a new workload.
    pub(crate) tags: Vec<String>,
    /// For a rollback, the version whose weights were republished.
    pub(crate) rolled_back_from: Option<u64>,
    /// For a transfer fine-tune, the workload tag it was tuned for. Such a version is a
    /// side branch: agents whose hello carries the tag start from it, but rounds keep
    /// building on the fleet line (versions where this is `None`), so one workload's
    /// specialisation never becomes every cluster's base.
    pub(crate) fine_tuned_for: Option<String>,
}

/// One agent's share in a version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Contributor {
    /// The cluster, as its certificate names it.
    pub(crate) cluster_id: String,
    /// The samples behind its update.
    pub(crate) sample_count: u64,
    /// What its local training reported.
    pub(crate) metrics: LocalMetrics,
}

/// A version's directory name, zero-padded to six digits so a plain directory listing
/// sorts like the versions do (up to a million versions; larger numbers still work).
pub(crate) fn version_name(version: u64) -> String {
    format!("v{version:06}")
}

/// [`version_name`] of an optional version, `none` when absent (a first model's parent).
pub(crate) fn version_label(version: Option<u64>) -> String {
    version.map_or_else(|| "none".to_owned(), version_name)
}

/// The version a directory name stands for, if it is exactly what [`version_name`] would
/// write: `v42` or `v0000042` are someone else's and are left alone.
pub(crate) fn parse_version_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix('v')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let version = digits.parse().ok()?;
    (version_name(version) == name).then_some(version)
}

/// `at` as a manifest's `created_at`: RFC 3339 in UTC, to the second. `None` for a time
/// before 1970 or beyond chrono's range, i.e. a broken system clock.
pub(crate) fn rfc3339(at: std::time::SystemTime) -> Option<String> {
    let since_epoch = at.duration_since(std::time::UNIX_EPOCH).ok()?;
    let secs = i64::try_from(since_epoch.as_secs()).ok()?;
    let time = chrono::DateTime::from_timestamp(secs, 0)?;
    Some(time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// Sum of sample counts, as recorded in [`Manifest::total_samples`].
pub(crate) fn total_samples(contributors: &[Contributor]) -> u64 {
    contributors
        .iter()
        .fold(0, |sum: u64, c| sum.saturating_add(c.sample_count))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_canonical_version_names_parse() {
        assert_eq!(version_name(42), "v000042");
        assert_eq!(version_name(12_345_678), "v12345678");
        assert_eq!(parse_version_name("v000042"), Some(42));
        assert_eq!(parse_version_name("v12345678"), Some(12_345_678));
        for other in [
            "v42",
            "v0000042",
            "v",
            "v00004a",
            "000042",
            ".tmp-v000042-1",
            "V000042",
        ] {
            assert_eq!(parse_version_name(other), None, "{other}");
        }
    }

    /// A publication is refused unless its manifest reads back exactly as written, so the
    /// JSON parser must return every float it printed bit for bit. serde_json only
    /// guarantees that with its `float_roundtrip` feature; without it, a federated round
    /// whose contributors reported an unlucky mean reward failed to publish.
    #[test]
    fn every_metric_reads_back_bit_for_bit() {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(3);
        for _ in 0..20_000 {
            let metrics = LocalMetrics {
                mean_reward: -rng.random::<f64>(),
                episodes: 1,
                slo_compliance: rng.random::<f64>(),
                cost: rng.random::<f64>() * 100.0,
            };
            let json = serde_json::to_string(&metrics).unwrap();
            let back: LocalMetrics = serde_json::from_str(&json).unwrap();
            assert_eq!(back, metrics, "{json}");
        }
    }
}
