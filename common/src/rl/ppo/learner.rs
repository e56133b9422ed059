//! The PPO learner: samples actions from the actor's softmax, collects a rollout, and
//! when it is full runs several epochs of clipped-surrogate updates over shuffled
//! minibatches.

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};

use super::config::PpoConfig;
use super::epochs::{minibatches, optimise};
use super::gae::gae;
use super::loss::{LossInputs, normalize_advantages, ppo_loss};
use super::rollout::{Rollout, RolloutStep};
use crate::env::OBSERVATION_LEN;
use crate::rl::adam::Adam;
use crate::rl::device::{inference_device, training_device};
use crate::rl::dqn::argmax;
use crate::rl::network::ActorCritic;
use crate::rl::params::{ParamLengthError, unflatten};

/// What one update did, averaged over its minibatch steps; for logging.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PpoStats {
    /// Clipped surrogate loss.
    pub policy_loss: f32,
    /// Critic loss, before `vf_coef`.
    pub value_loss: f32,
    /// Policy entropy (nats); falling towards 0 means the policy has stopped exploring.
    pub entropy: f32,
    /// Estimated KL divergence from the rollout's policy.
    pub approx_kl: f32,
    /// Share of samples whose probability ratio was clipped.
    pub clip_fraction: f32,
    /// Global gradient norm before clipping.
    pub grad_norm: f32,
    /// How much of the returns' variance the rollout's values explained: 1 is perfect,
    /// 0 no better than a constant, NaN when the returns did not vary.
    pub explained_variance: f32,
}

/// A PPO agent being trained. Deterministic for a given seed and sequence of steps:
/// initialisation, action sampling and minibatch shuffles all draw from its own generator.
pub struct PpoLearner {
    cfg: PpoConfig,
    actions: usize,
    device: Device,
    net: ActorCritic,
    /// `net` without autodiff, refreshed after every update: what acts.
    acting: ActorCritic,
    optim: Adam,
    rng: ChaCha8Rng,
    rollout: Rollout,
    steps: u64,
    updates: u64,
    last_update: Option<PpoStats>,
    frozen: bool,
}

impl PpoLearner {
    /// A fresh learner for `actions` actions.
    pub fn new(cfg: PpoConfig, actions: usize, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let net = ActorCritic::new(
            OBSERVATION_LEN,
            &cfg.hidden,
            actions,
            &mut rng,
            &training_device(),
        );
        Self::build(cfg, actions, net, rng)
    }

    /// A learner that starts from existing weights (a global model, a checkpoint), laid out
    /// as [`crate::rl::params::flatten`] reads them for this configuration's architecture.
    pub fn from_weights(
        cfg: PpoConfig,
        actions: usize,
        weights: &[f32],
        seed: u64,
    ) -> Result<Self, ParamLengthError> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let fresh = ActorCritic::new(
            OBSERVATION_LEN,
            &cfg.hidden,
            actions,
            &mut rng,
            &training_device(),
        );
        let net = unflatten(fresh, weights)?;
        Ok(Self::build(cfg, actions, net, rng))
    }

    /// `net` must live on the training device already: moving a module onto an autodiff
    /// device records the move in the graph and its parameters stop being leaves.
    fn build(cfg: PpoConfig, actions: usize, net: ActorCritic, rng: ChaCha8Rng) -> Self {
        let acting = net.valid();
        let optim = Adam::with_global_norm_clipping(cfg.max_grad_norm);
        Self {
            rollout: Rollout::with_capacity(cfg.n_steps),
            cfg,
            actions,
            device: training_device(),
            net,
            acting,
            optim,
            rng,
            steps: 0,
            updates: 0,
            last_update: None,
            frozen: false,
        }
    }

    /// Stops training the shared feature extractor; only the actor and critic heads learn
    /// from here on. Used to fine-tune a transferred model on a new workload without
    /// overwriting the features it brought along.
    pub fn freeze_extractor(&mut self) {
        self.net = self.net.clone().freeze_extractor();
        self.frozen = true;
    }

    /// Whether [`Self::freeze_extractor`] was called.
    pub fn is_extractor_frozen(&self) -> bool {
        self.frozen
    }

    /// The configuration.
    pub fn config(&self) -> &PpoConfig {
        &self.cfg
    }

    /// Environment steps observed so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Updates run so far.
    pub fn updates(&self) -> u64 {
        self.updates
    }

    /// Statistics of the latest update, if any has run.
    pub fn last_update(&self) -> Option<PpoStats> {
        self.last_update
    }

    /// Chooses an action: sampled from the policy with the learner's generator when
    /// `explore`, the most probable one otherwise. Returns the action, its log-probability
    /// and the critic's value of `observation`, which [`Self::observe`] needs back.
    pub fn act(
        &mut self,
        observation: &[f32; OBSERVATION_LEN],
        explore: bool,
    ) -> (usize, f32, f32) {
        let (logits, value) = evaluate(&self.acting, observation);
        let log_p = log_softmax(&logits);
        let action = if explore {
            sample(&log_p, &mut self.rng)
        } else {
            argmax(&logits)
        };
        (action, log_p[action], value)
    }

    /// The policy's probability for each action at `observation`.
    pub fn action_probabilities(&self, observation: &[f32; OBSERVATION_LEN]) -> Vec<f32> {
        action_probabilities(&self.acting, observation)
    }

    /// The critic's value of `observation`.
    pub fn value(&self, observation: &[f32; OBSERVATION_LEN]) -> f32 {
        evaluate(&self.acting, observation).1
    }

    /// Stores a step and, once `n_steps` are collected, updates the network and starts a
    /// new rollout. Returns the update's statistics when one ran.
    pub fn observe(&mut self, step: RolloutStep) -> Option<PpoStats> {
        debug_assert!(step.action < self.actions, "action out of range");
        self.rollout.push(&step);
        self.steps += 1;
        if self.rollout.len() < self.cfg.n_steps {
            return None;
        }
        let stats = self.update();
        self.last_update = Some(stats);
        Some(stats)
    }

    /// Forgets steps collected since the last update.
    pub(super) fn drop_partial_rollout(&mut self) {
        self.rollout.clear();
    }

    fn update(&mut self) -> PpoStats {
        let rollout = std::mem::take(&mut self.rollout);
        // A rollout that stops mid-episode is bootstrapped from the critic's view of the
        // state it stopped in; one that stops on an episode's end has nothing to add.
        let last_value = if rollout.ends_episode() {
            0.0
        } else {
            self.value(&rollout.last_next_observation)
        };
        let (advantages, returns) = gae(
            &rollout.rewards,
            &rollout.values,
            &rollout.dones,
            last_value,
            self.cfg.gamma as f32,
            self.cfg.gae_lambda as f32,
        );
        let explained_variance = explained_variance(&rollout.values, &returns);
        let batches = minibatches(
            rollout.len(),
            self.cfg.n_epochs,
            self.cfg.batch_size,
            &mut self.rng,
        );
        let stats = optimise(&batches, explained_variance, |batch| {
            self.minibatch_step(&rollout, batch, &advantages, &returns)
        });
        self.acting = self.net.valid();
        self.updates += 1;
        self.rollout = rollout;
        self.rollout.clear();
        stats
    }

    /// One gradient step on the rollout entries `batch`; returns the loss parts and the
    /// gradient norm in `PpoStats` order.
    fn minibatch_step(
        &mut self,
        rollout: &Rollout,
        batch: &[usize],
        advantages: &[f32],
        returns: &[f32],
    ) -> [f32; 6] {
        let n = batch.len();
        let mut obs = Vec::with_capacity(n * OBSERVATION_LEN);
        for &i in batch {
            obs.extend_from_slice(
                &rollout.observations[i * OBSERVATION_LEN..(i + 1) * OBSERVATION_LEN],
            );
        }
        let pick = |v: &[f32]| -> Vec<f32> { batch.iter().map(|&i| v[i]).collect() };
        let mut adv = pick(advantages);
        if self.cfg.normalize_advantage {
            normalize_advantages(&mut adv);
        }
        let column = |v: Vec<f32>| Tensor::<2>::from_data(TensorData::new(v, [n, 1]), &self.device);
        let actions: Vec<i64> = batch.iter().map(|&i| rollout.actions[i]).collect();
        let inputs = LossInputs {
            actions: Tensor::<2, Int>::from_data(TensorData::new(actions, [n, 1]), &self.device),
            old_log_probs: column(pick(&rollout.log_probs)),
            old_values: column(pick(&rollout.values)),
            advantages: column(adv),
            returns: column(pick(returns)),
        };
        let obs = Tensor::<2>::from_data(TensorData::new(obs, [n, OBSERVATION_LEN]), &self.device);
        let (logits, values) = self.net.forward(obs);
        let loss = ppo_loss(logits, values, inputs, &self.cfg);
        let grads = GradientsParams::from_grads(loss.total.backward(), &self.net);
        self.net = self
            .optim
            .step(self.cfg.learning_rate, self.net.clone(), grads);
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

    /// The network for inference.
    pub fn network(&self) -> ActorCritic {
        self.acting.clone()
    }
}

impl std::fmt::Debug for PpoLearner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PpoLearner")
            .field("actions", &self.actions)
            .field("steps", &self.steps)
            .field("updates", &self.updates)
            .field("rollout", &self.rollout.len())
            .field("frozen", &self.frozen)
            .finish_non_exhaustive()
    }
}

/// The policy's action probabilities at one observation.
pub fn action_probabilities(net: &ActorCritic, observation: &[f32; OBSERVATION_LEN]) -> Vec<f32> {
    log_softmax(&evaluate(net, observation).0)
        .into_iter()
        .map(f32::exp)
        .collect()
}

/// Logits and value of one observation.
fn evaluate(net: &ActorCritic, observation: &[f32; OBSERVATION_LEN]) -> (Vec<f32>, f32) {
    let x = Tensor::<2>::from_data(
        TensorData::new(observation.to_vec(), [1, OBSERVATION_LEN]),
        &inference_device(),
    );
    let (logits, value) = net.forward(x);
    (
        logits.into_data().iter::<f32>().collect(),
        value.into_scalar::<f32>(),
    )
}

/// Log-softmax of a few logits, shifted by the largest so `exp` cannot overflow.
fn log_softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let log_sum = logits.iter().map(|&l| (l - max).exp()).sum::<f32>().ln() + max;
    logits.iter().map(|&l| l - log_sum).collect()
}

/// Inverse-CDF draw from a categorical distribution given as log-probabilities.
fn sample(log_p: &[f32], rng: &mut impl rand::Rng) -> usize {
    let u: f32 = rng.random();
    let mut cumulative = 0.0;
    for (i, &lp) in log_p.iter().enumerate() {
        cumulative += lp.exp();
        if u < cumulative {
            return i;
        }
    }
    // Rounding left the probabilities summing to just under u: take the last action
    // that has any probability.
    log_p
        .iter()
        .rposition(|&lp| lp > f32::NEG_INFINITY)
        .unwrap_or(0)
}

/// `1 − Var(R − V) / Var(R)`.
pub(crate) fn explained_variance(values: &[f32], returns: &[f32]) -> f32 {
    let var_r = variance(returns.iter().map(|&r| f64::from(r)));
    if var_r == 0.0 {
        return f32::NAN;
    }
    let var_err = variance(returns.iter().zip(values).map(|(&r, &v)| f64::from(r - v)));
    (1.0 - var_err / var_r) as f32
}

fn variance(xs: impl Iterator<Item = f64> + Clone) -> f64 {
    let n = xs.clone().count() as f64;
    let mean = xs.clone().sum::<f64>() / n;
    xs.map(|x| (x - mean).powi(2)).sum::<f64>() / n
}
