//! A request-rate series with one value per simulated second.

use std::sync::Arc;

/// Request rate (req/s) for each second of a scenario; cheap to clone and share between
/// the simulator and the oracle.
#[derive(Debug, Clone, PartialEq)]
pub struct ArrivalSeries {
    name: Arc<str>,
    per_second: Arc<[f32]>,
}

impl ArrivalSeries {
    /// Wraps a series. Negative and non-finite rates are clamped to zero.
    pub fn new(name: impl Into<Arc<str>>, mut per_second: Vec<f32>) -> Self {
        for r in &mut per_second {
            if !r.is_finite() || *r < 0.0 {
                *r = 0.0;
            }
        }
        Self {
            name: name.into(),
            per_second: per_second.into(),
        }
    }

    /// The scenario's name as shown in reports.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Length in seconds.
    pub fn len_s(&self) -> u64 {
        self.per_second.len() as u64
    }

    /// Request rate during second `s`; zero past the end.
    #[inline]
    pub fn rate_at(&self, s: u64) -> f64 {
        usize::try_from(s)
            .ok()
            .and_then(|i| self.per_second.get(i))
            .map_or(0.0, |&r| f64::from(r))
    }

    /// The whole series.
    pub fn as_slice(&self) -> &[f32] {
        &self.per_second
    }

    /// Highest rate in the series.
    pub fn peak(&self) -> f64 {
        self.per_second
            .iter()
            .copied()
            .fold(0.0f32, f32::max)
            .into()
    }

    /// Total requests over the series.
    pub fn total(&self) -> f64 {
        self.per_second.iter().map(|&r| f64::from(r)).sum()
    }
}
