//! The tuner: PPO on a diagonal Gaussian policy that acts once per segment. It reuses the
//! discrete learner's pieces (GAE, advantage normalisation, the clipped surrogate, global
//! gradient clipping); only the policy's log-probability and entropy differ.

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;

use super::config::HybridConfig;
use super::gaussian::{entropy_tensor, log_prob, log_prob_tensor, sample};
use super::outputs::TUNER_OUTPUTS;
use super::segment::TUNER_OBSERVATION_LEN;
use crate::rl::adam::Adam;
use crate::rl::device::{inference_device, training_device};
use crate::rl::network::GaussianActorCritic;
use crate::rl::ppo::{
    PpoLoss, PpoStats, SampleTargets, SurrogateSettings, clipped_surrogate, explained_variance,
    gae, minibatches, normalize_advantages, optimise,
};

/// One segment with what the tuner knew when it acted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TunerStep {
    /// The summary it acted on.
    pub observation: [f32; TUNER_OBSERVATION_LEN],
    /// The raw (unsquashed) action.
    pub action: [f32; TUNER_OUTPUTS],
    /// Its log-density under the acting policy.
    pub log_prob: f32,
    /// The critic's value of `observation`.
    pub value: f32,
    /// The segment's objective.
    pub reward: f32,
    /// The summary after the segment; only the rollout's last one is kept, to bootstrap.
    pub next_observation: [f32; TUNER_OBSERVATION_LEN],
    /// The episode ended with this segment.
    pub done: bool,
}

/// What [`TunerLearner::act`] chose.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TunerAction {
    /// The raw action; [`super::TunerOutputs::from_raw`] squashes it.
    pub raw: [f32; TUNER_OUTPUTS],
    /// Its log-density.
    pub log_prob: f32,
    /// The critic's value of the observation.
    pub value: f32,
}

/// The tuner being trained. Deterministic for a seed and sequence of segments.
pub struct TunerLearner {
    cfg: HybridConfig,
    device: Device,
    net: GaussianActorCritic,
    /// `net` without autodiff, refreshed after every update: what acts.
    acting: GaussianActorCritic,
    optim: Adam,
    rng: ChaCha8Rng,
    rollout: Vec<TunerStep>,
    segments: u64,
    updates: u64,
    last_update: Option<PpoStats>,
}

/// Builds the tuner network for `cfg`, initialised from `rng`, on `device`.
pub fn tuner_network(
    cfg: &HybridConfig,
    rng: &mut impl rand::Rng,
    device: &Device,
) -> GaussianActorCritic {
    GaussianActorCritic::new(
        TUNER_OBSERVATION_LEN,
        &cfg.tuner_hidden,
        TUNER_OUTPUTS,
        cfg.tuner_log_std_init,
        rng,
        device,
    )
}

impl TunerLearner {
    /// A fresh tuner.
    pub fn new(cfg: HybridConfig, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let device = training_device();
        let net = tuner_network(&cfg, &mut rng, &device);
        let optim = Adam::with_global_norm_clipping(cfg.tuner_max_grad_norm);
        Self {
            acting: net.valid(),
            rollout: Vec::with_capacity(cfg.tuner_n_steps),
            cfg,
            device,
            net,
            optim,
            rng,
            segments: 0,
            updates: 0,
            last_update: None,
        }
    }

    /// Segments observed so far.
    pub fn segments(&self) -> u64 {
        self.segments
    }

    /// Updates run so far.
    pub fn updates(&self) -> u64 {
        self.updates
    }

    /// Statistics of the latest update, if any has run.
    pub fn last_update(&self) -> Option<PpoStats> {
        self.last_update
    }

    /// A raw action sampled from the policy when `explore`, its mean otherwise, with its
    /// log-density and the critic's value, which [`Self::observe`] needs back.
    pub fn act(
        &mut self,
        observation: &[f32; TUNER_OBSERVATION_LEN],
        explore: bool,
    ) -> TunerAction {
        let (mean, value, log_std) = evaluate(&self.acting, observation);
        let z = if explore {
            sample(&mean, &log_std, &mut self.rng)
        } else {
            mean.clone()
        };
        let mut raw = [0.0; TUNER_OUTPUTS];
        raw.copy_from_slice(&z);
        TunerAction {
            raw,
            log_prob: log_prob(&z, &mean, &log_std),
            value,
        }
    }

    /// Stores a segment and, once `tuner_n_steps` are collected, updates the policy.
    pub fn observe(&mut self, step: TunerStep) -> Option<PpoStats> {
        self.rollout.push(step);
        self.segments += 1;
        if self.rollout.len() < self.cfg.tuner_n_steps {
            return None;
        }
        let stats = self.update();
        self.last_update = Some(stats);
        Some(stats)
    }

    fn update(&mut self) -> PpoStats {
        let rollout = std::mem::take(&mut self.rollout);
        let last = rollout.last().copied();
        let last_value = match last {
            Some(s) if !s.done => evaluate(&self.acting, &s.next_observation).1,
            _ => 0.0,
        };
        let column = |f: fn(&TunerStep) -> f32| -> Vec<f32> { rollout.iter().map(f).collect() };
        let (rewards, values) = (column(|s| s.reward), column(|s| s.value));
        let dones: Vec<bool> = rollout.iter().map(|s| s.done).collect();
        let (advantages, returns) = gae(
            &rewards,
            &values,
            &dones,
            last_value,
            self.cfg.tuner_gamma as f32,
            self.cfg.tuner_gae_lambda as f32,
        );
        let batches = minibatches(
            rollout.len(),
            self.cfg.tuner_n_epochs,
            self.cfg.tuner_batch_size,
            &mut self.rng,
        );
        let stats = optimise(&batches, explained_variance(&values, &returns), |batch| {
            self.minibatch_step(&rollout, batch, &advantages, &returns)
        });
        self.acting = self.net.valid();
        self.updates += 1;
        self.rollout = rollout;
        self.rollout.clear();
        stats
    }

    fn minibatch_step(
        &mut self,
        rollout: &[TunerStep],
        batch: &[usize],
        advantages: &[f32],
        returns: &[f32],
    ) -> [f32; 6] {
        let n = batch.len();
        let d = &self.device;
        let rows = |f: fn(&TunerStep) -> &[f32]| -> Vec<f32> {
            batch
                .iter()
                .flat_map(|&i| f(&rollout[i]).to_vec())
                .collect()
        };
        let obs = Tensor::<2>::from_data(
            TensorData::new(rows(|s| &s.observation), [n, TUNER_OBSERVATION_LEN]),
            d,
        );
        let actions =
            Tensor::<2>::from_data(TensorData::new(rows(|s| &s.action), [n, TUNER_OUTPUTS]), d);
        let mut adv: Vec<f32> = batch.iter().map(|&i| advantages[i]).collect();
        normalize_advantages(&mut adv);
        let column = |v: Vec<f32>| Tensor::<2>::from_data(TensorData::new(v, [n, 1]), d);
        let targets = SampleTargets {
            old_log_probs: column(batch.iter().map(|&i| rollout[i].log_prob).collect()),
            old_values: column(batch.iter().map(|&i| rollout[i].value).collect()),
            advantages: column(adv),
            returns: column(batch.iter().map(|&i| returns[i]).collect()),
        };
        let (mean, values) = self.net.forward(obs);
        let loss = gaussian_ppo_loss(
            mean,
            self.net.log_std(),
            values,
            actions,
            targets,
            &self.cfg.surrogate(),
        );
        let grads = GradientsParams::from_grads(loss.total.backward(), &self.net);
        self.net = self
            .optim
            .step(self.cfg.tuner_learning_rate, self.net.clone(), grads);
        let norm = self.optim.global_norm();
        [
            loss.policy.into_scalar(),
            loss.value.into_scalar(),
            loss.entropy.into_scalar(),
            loss.approx_kl.into_scalar(),
            loss.clip_fraction.into_scalar(),
            norm as f32,
        ]
    }

    /// The policy's mean raw action at `observation`: what the tuner does when deployed.
    pub fn mean_action(&self, observation: &[f32; TUNER_OBSERVATION_LEN]) -> [f32; TUNER_OUTPUTS] {
        mean_action(&self.acting, observation)
    }

    /// The current log standard deviations.
    pub fn log_std(&self) -> Vec<f32> {
        self.acting.log_std().into_data().iter::<f32>().collect()
    }

    /// The network for inference.
    pub fn network(&self) -> GaussianActorCritic {
        self.acting.clone()
    }
}

impl std::fmt::Debug for TunerLearner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TunerLearner")
            .field("segments", &self.segments)
            .field("updates", &self.updates)
            .field("rollout", &self.rollout.len())
            .finish_non_exhaustive()
    }
}

/// The PPO loss of the Gaussian policy with means `mean` `[n, k]` and `log_std` `[k]` for
/// the raw `actions` `[n, k]` taken, with the critic's `values` `[n, 1]`.
pub fn gaussian_ppo_loss(
    mean: Tensor<2>,
    log_std: Tensor<1>,
    values: Tensor<2>,
    actions: Tensor<2>,
    targets: SampleTargets,
    settings: &SurrogateSettings,
) -> PpoLoss {
    let log_prob = log_prob_tensor(actions, mean, log_std.clone());
    let entropy = entropy_tensor(log_std);
    clipped_surrogate(log_prob, entropy, values, targets, settings)
}

/// The mean raw action of `net` at one observation.
pub fn mean_action(
    net: &GaussianActorCritic,
    observation: &[f32; TUNER_OBSERVATION_LEN],
) -> [f32; TUNER_OUTPUTS] {
    let (mean, _, _) = evaluate(net, observation);
    let mut raw = [0.0; TUNER_OUTPUTS];
    raw.copy_from_slice(&mean);
    raw
}

/// Means, value and log standard deviations at one observation.
fn evaluate(
    net: &GaussianActorCritic,
    observation: &[f32; TUNER_OBSERVATION_LEN],
) -> (Vec<f32>, f32, Vec<f32>) {
    let x = Tensor::<2>::from_data(
        TensorData::new(observation.to_vec(), [1, TUNER_OBSERVATION_LEN]),
        &inference_device(),
    );
    let (mean, value) = net.forward(x);
    (
        mean.into_data().iter::<f32>().collect(),
        value.into_scalar::<f32>(),
        net.log_std().into_data().iter::<f32>().collect(),
    )
}
