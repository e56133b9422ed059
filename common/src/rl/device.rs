//! Which burn backend runs the networks.
//!
//! burn 0.22 picks the backend at run time through a `Device`. `flex` (pure-Rust CPU) is
//! the default: it trained our MLPs about 1.5× faster than `ndarray` on this hardware.
//! The customer's `ndarray` backend stays available behind the `ndarray` cargo feature,
//! which makes it the device every learner and policy uses.

use burn::tensor::Device;

/// The device inference runs on.
pub fn inference_device() -> Device {
    #[cfg(feature = "ndarray")]
    {
        #[allow(deprecated)]
        Device::ndarray()
    }
    #[cfg(not(feature = "ndarray"))]
    {
        Device::flex()
    }
}

/// The same backend with autodiff, for training.
pub fn training_device() -> Device {
    inference_device().autodiff()
}

/// The backend's name, recorded beside trained models.
pub fn backend_name() -> &'static str {
    if cfg!(feature = "ndarray") {
        "ndarray"
    } else {
        "flex"
    }
}
