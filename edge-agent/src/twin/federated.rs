//! The federation round's local training in the digital twin (`[twin] federate_in_twin`
//! of `run`): instead of the federation file's named scenarios, the agent trains its
//! rounds in the simulator calibrated to this cluster, on the traffic it recorded and the
//! same seeded variations `retrain` uses, through the same `LocalTrainer`. The global
//! model then learns from every cluster's own workload while no cluster explores on its
//! production traffic.
//!
//! Built once when the agent starts, from the recording it has then; a recording that
//! cannot calibrate the twin yet is an error the caller answers by training on the
//! configured scenarios.

use std::path::Path;

use anyhow::Context;
use common::env::EnvConfig;
use common::rl::artifact::{Algo, TrainConfig};
use common::scenario::Scenario;
use common::traffic::ArrivalSeries;

use super::augment::{AugmentOptions, augment};
use super::recording::{RecordingOptions, sample_of, series_of};
use super::retrain::{DEFAULT_EPISODE_S, episode_windows};
use crate::calibration::{CalibrationOptions, calibrate};
use crate::experience::{ExperienceReader, Transition};
use crate::federation::{LocalTrainer, PayloadForm};

/// Least recorded traffic worth training the rounds on.
const MIN_RECORDED_S: u64 = 2 * 3600;

/// What the twin trainer was built from, for the log.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TwinTraining {
    pub(crate) recorded_s: u64,
    pub(crate) capacity_rps: f64,
    pub(crate) startup_delay_s: f64,
    pub(crate) episodes: usize,
}

/// A round trainer for `algo` with `train`'s learner settings, training in the twin
/// calibrated from the log in `experience` on its recorded traffic.
pub(crate) fn twin_trainer(
    algo: Algo,
    mut train: TrainConfig,
    payload: PayloadForm,
    experience: &Path,
    rate_window_s: u64,
) -> anyhow::Result<(LocalTrainer, TwinTraining)> {
    let log: Vec<Transition> = ExperienceReader::open(experience)?
        .collect::<Result<_, _>>()
        .context("reading the experience log")?;
    let calibration = calibrate(
        log.iter().cloned(),
        &train.env.sim,
        CalibrationOptions {
            rate_window_s,
            ..CalibrationOptions::default()
        },
    )
    .context("calibrating the twin")?;
    let interval_s = u64::from(calibration.sim.decision_interval_s);
    let (rates, summary) = series_of(
        log.iter().filter_map(sample_of),
        &RecordingOptions {
            interval_s,
            max_gap_s: 4 * interval_s,
            ..RecordingOptions::default()
        },
    );
    anyhow::ensure!(
        summary.recorded_s >= MIN_RECORDED_S,
        "the recording holds {} s of traffic, at least {MIN_RECORDED_S} s are needed to train rounds on it",
        summary.recorded_s
    );
    let recorded = ArrivalSeries::new("recorded", rates);
    let series = augment(
        &recorded,
        &AugmentOptions {
            seed: train.training.seed,
            ..AugmentOptions::default()
        },
    );
    let windows = episode_windows(&series, DEFAULT_EPISODE_S);
    let episodes = windows.len();
    let info = TwinTraining {
        recorded_s: summary.recorded_s,
        capacity_rps: calibration.capacity.capacity_rps,
        startup_delay_s: calibration.startup.delay_s,
        episodes,
    };
    train.env = EnvConfig {
        sim: calibration.sim,
        ..train.env
    };
    let scenarios = windows.into_iter().map(Scenario::fixed).collect();
    let trainer = LocalTrainer::with_scenarios(algo, train, scenarios, payload)
        .context("local training in the twin")?;
    Ok((trainer, info))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use common::sim::SimConfig;

    use super::*;
    use crate::twin::synthetic::write_simulated_recording;
    use crate::twin::test_support::small_config;

    fn truth() -> SimConfig {
        let mut cfg = SimConfig::default();
        cfg.pod.capacity_rps = 60.0;
        cfg.pod.startup_delay_s = 45.0;
        cfg
    }

    #[test]
    fn rounds_train_in_the_twin_calibrated_from_the_recording() {
        let dir = tempfile::tempdir().unwrap();
        let rates = (0..4 * 3600)
            .map(|t| 300.0 + 200.0 * ((t as f32) / 900.0).sin())
            .collect();
        write_simulated_recording(dir.path(), &truth(), rates, 3, 1_700_000_000).unwrap();
        let (mut trainer, info) = twin_trainer(
            Algo::Dqn,
            small_config(),
            PayloadForm::Weights,
            dir.path(),
            60,
        )
        .unwrap();
        assert!((info.capacity_rps - 60.0).abs() < 3.0, "{info:?}");
        assert!(info.recorded_s >= 4 * 3600 - 120, "{info:?}");
        assert!(info.episodes >= 5, "{info:?}");
        assert_eq!(trainer.config().env.sim.pod.capacity_rps, info.capacity_rps);
        let base = common::rl::fleet_model::fresh_weights(Algo::Dqn, trainer.config(), 1);
        let update = trainer
            .train_round(&base, 300, &AtomicBool::new(false))
            .unwrap();
        assert_eq!(update.payload.values().len(), base.len());
    }

    #[test]
    fn a_recording_too_short_to_calibrate_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        write_simulated_recording(dir.path(), &truth(), vec![300.0; 600], 3, 1_700_000_000)
            .unwrap();
        let err = twin_trainer(
            Algo::Dqn,
            small_config(),
            PayloadForm::Weights,
            dir.path(),
            60,
        )
        .err()
        .unwrap();
        assert!(
            format!("{err:#}").contains("calibrating the twin"),
            "{err:#}"
        );
    }
}
