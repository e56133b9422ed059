//! Why a recording cannot calibrate the twin.

/// The recording does not pin a required parameter down.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum CalibrationError {
    /// Too few usable samples.
    #[error(
        "cannot calibrate {parameter}: {have} usable samples, at least {need} are needed ({hint})"
    )]
    TooLittleData {
        /// The parameter that could not be fitted.
        parameter: &'static str,
        /// Usable samples found.
        have: usize,
        /// Samples required.
        need: usize,
        /// What makes a sample usable, and how to get more.
        hint: &'static str,
    },
    /// Enough samples, but they do not determine the parameter.
    #[error("cannot calibrate {parameter}: {reason}")]
    Degenerate {
        /// The parameter that could not be fitted.
        parameter: &'static str,
        /// What is wrong with the data.
        reason: String,
    },
}
