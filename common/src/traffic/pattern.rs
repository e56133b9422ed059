//! Named synthetic traffic patterns.

use serde::{Deserialize, Serialize};

/// The named patterns: the seed's five plus `flash_crowd`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PatternKind {
    /// Constant load near the peak.
    Steady,
    /// Slow climb to the peak and back.
    GradualRamp,
    /// Low base load with abrupt steps to the peak.
    SuddenSpike,
    /// One day of diurnal traffic.
    DailyPattern,
    /// Busy stretches separated by near-silence.
    IdlePeriods,
    /// A surge within a minute that decays slowly.
    FlashCrowd,
}

impl PatternKind {
    /// Every pattern, in report order.
    pub const ALL: [PatternKind; 6] = [
        PatternKind::Steady,
        PatternKind::GradualRamp,
        PatternKind::SuddenSpike,
        PatternKind::DailyPattern,
        PatternKind::IdlePeriods,
        PatternKind::FlashCrowd,
    ];

    /// Their names, as typed on the command line.
    pub const NAMES: [&'static str; 6] = [
        "steady",
        "gradual_ramp",
        "sudden_spike",
        "daily_pattern",
        "idle_periods",
        "flash_crowd",
    ];

    /// The name typed on the command line.
    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    /// Parses a name typed on the command line.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::NAMES
            .iter()
            .position(|n| *n == name)
            .map(|i| Self::ALL[i])
    }
}
