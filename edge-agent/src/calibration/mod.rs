//! The digital twin's calibration: the simulator's workload parameters fitted to what the
//! experience log recorded on the real cluster, so that policies trained and judged in the
//! twin meet the workload they will serve rather than the defaults.
//!
//! Each parameter comes from the evidence that pins it down, and carries a fit quality:
//! - pod capacity and idle CPU from CPU utilisation against the request rate per ready
//!   pod (the simulator's CPU model is linear in it);
//! - start-up delay and its jitter from the pods' creation-to-Ready times;
//! - the latency model's fixed overhead from p95 against utilisation, with the error of
//!   the p95 the calibrated model predicts;
//! - memory per in-flight request from memory utilisation against requests in flight.
//!
//! Capacity and start-up delay are required: without enough varied data for them the
//! calibration is refused, saying what is missing. Latency and memory are fitted when the
//! data allow and otherwise keep the base configuration's values, with the reason.
//!
//! Pure: transitions in, a [`Calibration`] out; reading the log is the caller's business.

mod error;
mod fit;
mod regression;
mod samples;

pub(crate) use fit::{Calibration, CalibrationOptions, Optional, calibrate};
