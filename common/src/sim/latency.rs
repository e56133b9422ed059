//! Latency model.

/// `ln(20)`: the p95 of an exponential distribution is `ln(20)` times its mean.
pub const P95_EXP_FACTOR: f64 = 2.995_732_273_553_991;
