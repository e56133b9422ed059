//! The workload tag a fine-tune is made for.

use std::fmt;
use std::str::FromStr;

use super::TransferError;

/// A workload label as agents announce it in their hello, e.g. `checkout-api`. Kept to
/// a conservative alphabet so it survives configuration files, shells and logs as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WorkloadTag(String);

impl FromStr for WorkloadTag {
    type Err = TransferError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = (1..=64).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(TransferError::BadTag(s.to_owned()))
        }
    }
}

impl WorkloadTag {
    /// The tag.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for WorkloadTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
