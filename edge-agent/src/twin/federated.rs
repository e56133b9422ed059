//! The federation round's local training in the digital twin (`[twin] federate_in_twin`
//! of `run`): instead of the federation file's named scenarios, the agent trains its
//! rounds in the simulator calibrated to this cluster, on the traffic it recorded and the
//! same seeded variations `retrain` uses, through the same `LocalTrainer`. The global
//! model then learns from every cluster's own workload while no cluster explores on its
//! production traffic.
//!
//! Built when the agent starts, from the recording it has then; a recording that cannot
//! calibrate the twin yet is an error the caller answers by training on the configured
//! scenarios. [`keep_twin_fresh`] then builds it again as the recording grows: until the
//! first twin exists, and every so many hours after, so the twin follows the workload.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use common::env::EnvConfig;
use common::rl::artifact::{Algo, TrainConfig};
use common::scenario::Scenario;
use common::traffic::ArrivalSeries;
use tokio::sync::{mpsc, watch};

use super::augment::{AugmentOptions, augment};
use super::global_gate::GlobalGate;
use super::recording::{RecordingOptions, sample_of, series_of, split_recording};
use super::retrain::{DEFAULT_EPISODE_S, episode_windows};
use crate::calibration::{CalibrationOptions, calibrate};
use crate::control::global_models::TwinUpdate;
use crate::experience::{ExperienceReader, Transition};
use crate::federation::{LocalTrainer, PayloadForm};

/// Least recorded traffic worth training the rounds on.
const MIN_RECORDED_S: u64 = 2 * 3600;

/// What the twin trainer was built from, for the log.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TwinTraining {
    pub(crate) recorded_s: u64,
    /// Recorded seconds the rounds train on (all of them unless some are held back).
    pub(crate) training_s: u64,
    pub(crate) capacity_rps: f64,
    pub(crate) startup_delay_s: f64,
    pub(crate) episodes: usize,
}

/// The rounds' trainer in the twin, and the gate for global models when one was asked for.
#[derive(Debug)]
pub(crate) struct TwinFederation {
    pub(crate) trainer: LocalTrainer,
    pub(crate) info: TwinTraining,
    pub(crate) gate: Option<GlobalGate>,
}

/// A round trainer for `algo` with `train`'s learner settings, training in the twin
/// calibrated from the log in `experience` on its recorded traffic. With `gate_seeds`, the
/// newest quarter of the recording is held back from training and a [`GlobalGate`] judges
/// global models on it with those seeds.
pub(crate) fn twin_trainer(
    algo: Algo,
    mut train: TrainConfig,
    payload: PayloadForm,
    experience: &Path,
    rate_window_s: u64,
    gate_seeds: Option<Vec<u64>>,
) -> anyhow::Result<TwinFederation> {
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
    let opts = RecordingOptions {
        interval_s,
        max_gap_s: 4 * interval_s,
        min_recorded_s: MIN_RECORDED_S,
        ..RecordingOptions::default()
    };
    let (recorded, held_back, recorded_s) = if gate_seeds.is_some() {
        let recording = split_recording(log.iter().filter_map(sample_of), &opts)
            .context("the recording to train the rounds on and judge global models with")?;
        (
            recording.training,
            Some(recording.held_back),
            recording.summary.recorded_s,
        )
    } else {
        let (rates, summary) = series_of(log.iter().filter_map(sample_of), &opts);
        anyhow::ensure!(
            summary.recorded_s >= MIN_RECORDED_S,
            "the recording holds {} s of traffic, at least {MIN_RECORDED_S} s are needed to train rounds on it",
            summary.recorded_s
        );
        (
            ArrivalSeries::new("recorded", rates),
            None,
            summary.recorded_s,
        )
    };
    let series = augment(
        &recorded,
        &AugmentOptions {
            seed: train.training.seed,
            ..AugmentOptions::default()
        },
    );
    let windows = episode_windows(&series, DEFAULT_EPISODE_S);
    let info = TwinTraining {
        recorded_s,
        training_s: recorded.len_s(),
        capacity_rps: calibration.capacity.capacity_rps,
        startup_delay_s: calibration.startup.delay_s,
        episodes: windows.len(),
    };
    train.env = EnvConfig {
        sim: calibration.sim,
        ..train.env
    };
    let gate = held_back
        .zip(gate_seeds)
        .map(|(held_back, seeds)| GlobalGate::new(train.env.clone(), held_back, seeds));
    let scenarios = windows.into_iter().map(Scenario::fixed).collect();
    let trainer = LocalTrainer::with_scenarios(algo, train, scenarios, payload)
        .context("local training in the twin")?;
    Ok(TwinFederation {
        trainer,
        info,
        gate,
    })
}

/// What the twin for federated rounds is built from, so it can be built again.
#[derive(Debug, Clone)]
pub(crate) struct TwinSpec {
    pub(crate) algo: Algo,
    pub(crate) train: TrainConfig,
    pub(crate) payload: PayloadForm,
    pub(crate) experience: PathBuf,
    pub(crate) rate_window_s: u64,
    pub(crate) gate_seeds: Option<Vec<u64>>,
}

impl TwinSpec {
    /// [`twin_trainer`] from the recording as it is now.
    pub(crate) fn build(&self) -> anyhow::Result<TwinFederation> {
        twin_trainer(
            self.algo,
            self.train.clone(),
            self.payload,
            &self.experience,
            self.rate_window_s,
            self.gate_seeds.clone(),
        )
    }
}

/// Keeps the twin the rounds train in (and the gate's) following the recording: every
/// `retry` while none could be built yet (a new cluster records its first hours), then
/// every `every`, it is built again from the log and handed to the federation client
/// (`trainers`) and to the control loop (`updates`). Runs until either side is gone.
pub(crate) async fn keep_twin_fresh(
    spec: TwinSpec,
    mut built: bool,
    retry: Duration,
    every: Duration,
    trainers: mpsc::Sender<LocalTrainer>,
    updates: watch::Sender<Option<Arc<TwinUpdate>>>,
) {
    loop {
        tokio::time::sleep(if built { every } else { retry }).await;
        let job = spec.clone();
        let twin = match tokio::task::spawn_blocking(move || job.build()).await {
            Ok(Ok(twin)) => twin,
            Ok(Err(e)) => {
                let error = format!("{e:#}");
                if built {
                    tracing::warn!(%error, "cannot recalibrate the twin; the rounds keep the last one");
                } else {
                    tracing::info!(%error, "cannot build the twin yet; trying again");
                }
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "building the twin failed");
                continue;
            }
        };
        let info = &twin.info;
        tracing::info!(
            recorded_s = info.recorded_s,
            training_s = info.training_s,
            capacity_rps = info.capacity_rps,
            startup_delay_s = info.startup_delay_s,
            episodes = info.episodes,
            gate_held_back_s = twin.gate.as_ref().map(GlobalGate::held_back_s),
            "the twin was rebuilt from the recording; the next round trains in it"
        );
        built = true;
        let update = TwinUpdate {
            sim: twin.trainer.config().env.sim.clone(),
            gate: twin.gate,
        };
        updates.send_replace(Some(Arc::new(update)));
        if trainers.send(twin.trainer).await.is_err() || updates.is_closed() {
            return;
        }
    }
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

    /// Four hours of a 15-minute wave between 100 and 500 req/s on the `truth` workload.
    fn four_hours_recorded() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let rates = (0..4 * 3600)
            .map(|t| 300.0 + 200.0 * ((t as f32) / 900.0).sin())
            .collect();
        write_simulated_recording(dir.path(), &truth(), rates, 3, 1_700_000_000).unwrap();
        dir
    }

    #[test]
    fn rounds_train_in_the_twin_calibrated_from_the_recording() {
        let dir = four_hours_recorded();
        let TwinFederation {
            mut trainer,
            info,
            gate,
        } = twin_trainer(
            Algo::Dqn,
            small_config(),
            PayloadForm::Weights,
            dir.path(),
            60,
            None,
        )
        .unwrap();
        assert!(gate.is_none());
        assert!((info.capacity_rps - 60.0).abs() < 3.0, "{info:?}");
        assert!(info.recorded_s >= 4 * 3600 - 120, "{info:?}");
        assert_eq!(info.training_s, info.recorded_s);
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
            None,
        )
        .err()
        .unwrap();
        assert!(
            format!("{err:#}").contains("calibrating the twin"),
            "{err:#}"
        );
    }

    #[test]
    fn with_a_gate_the_newest_quarter_is_held_back_from_the_rounds() {
        let dir = four_hours_recorded();
        let twin = twin_trainer(
            Algo::Dqn,
            small_config(),
            PayloadForm::Weights,
            dir.path(),
            60,
            Some(vec![1]),
        )
        .unwrap();
        let gate = twin.gate.expect("a gate was asked for");
        let info = twin.info;
        assert_eq!(gate.held_back_s() + info.training_s, info.recorded_s);
        let quarter = info.recorded_s as f64 / 4.0;
        assert!(
            (gate.held_back_s() as f64 - quarter).abs() <= 15.0,
            "{} s held back of {} s",
            gate.held_back_s(),
            info.recorded_s
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_twin_is_built_once_the_recording_allows_and_then_rebuilt_on_schedule() {
        let bound = Duration::from_secs(60);
        let root = tempfile::tempdir().unwrap();
        let experience = root.path().join("experience");
        let spec = TwinSpec {
            algo: Algo::Dqn,
            train: small_config(),
            payload: PayloadForm::Weights,
            experience: experience.clone(),
            rate_window_s: 60,
            gate_seeds: Some(vec![1]),
        };
        let (trainers, mut rebuilt) = mpsc::channel(1);
        let (updates, mut twin) = watch::channel(None);
        let task = tokio::spawn(keep_twin_fresh(
            spec,
            false,
            Duration::from_millis(20),
            Duration::from_millis(200),
            trainers,
            updates,
        ));
        // Nothing recorded yet: nothing to build, and the task keeps trying.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(rebuilt.try_recv().is_err());
        assert!(twin.borrow().is_none());

        // Four hours recorded (moved into place whole, as if the agent had been running).
        let recorded = four_hours_recorded();
        std::fs::rename(recorded.path(), &experience).unwrap();
        let first = tokio::time::timeout(bound, rebuilt.recv())
            .await
            .unwrap()
            .unwrap();
        assert!((first.config().env.sim.pod.capacity_rps - 60.0).abs() < 3.0);
        tokio::time::timeout(bound, twin.wait_for(Option::is_some))
            .await
            .unwrap()
            .unwrap();
        let update = twin.borrow_and_update().clone().unwrap();
        assert_eq!(update.sim, first.config().env.sim);
        assert!(update.gate.is_some());

        // And again, on schedule.
        let second = tokio::time::timeout(bound, rebuilt.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(second.config().env.sim, first.config().env.sim);

        // The client gone, the task ends.
        drop(rebuilt);
        tokio::time::timeout(bound, task).await.unwrap().unwrap();
    }
}
