//! The double-DQN learner: ε-greedy acting, replay, Huber loss on the TD error, Adam with
//! gradient clipping, and a hard-updated target network.

use burn::module::Module;
use burn::nn::loss::{HuberLossConfig, Reduction};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};

use super::config::DqnConfig;
use super::target::{argmax, double_dqn_targets};
use crate::env::OBSERVATION_LEN;
use crate::rl::adam::Adam;
use crate::rl::device::{inference_device, training_device};
use crate::rl::network::QNetwork;
use crate::rl::params::{ParamLengthError, unflatten};
use crate::rl::replay::{ReplayBuffer, Transition};
use crate::rl::schedule::LinearSchedule;

/// A DQN being trained. Deterministic for a given seed and sequence of transitions.
pub struct DqnLearner {
    cfg: DqnConfig,
    actions: usize,
    device: Device,
    online: QNetwork,
    /// `online` without autodiff, refreshed after every gradient step: what acts.
    acting: QNetwork,
    target: QNetwork,
    optim: Adam,
    replay: ReplayBuffer,
    rng: ChaCha8Rng,
    steps: u64,
    epsilon: LinearSchedule,
    batch: Vec<Transition>,
    frozen: bool,
    /// The weights the proximal term pulls towards, when `cfg.proximal_mu > 0`.
    anchor: Option<QNetwork>,
}

impl DqnLearner {
    /// A fresh learner for `actions` actions that will train for `total_steps` steps (the
    /// ε schedule depends on it).
    pub fn new(cfg: DqnConfig, actions: usize, total_steps: u64, seed: u64) -> Self {
        let device = training_device();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let online = QNetwork::new(OBSERVATION_LEN, &cfg.hidden, actions, &mut rng, &device);
        Self::build(cfg, actions, total_steps, online, rng)
    }

    /// A learner that starts from existing weights (a global model, a checkpoint), laid out
    /// as [`crate::rl::params::flatten`] reads them for this configuration's architecture.
    pub fn from_weights(
        cfg: DqnConfig,
        actions: usize,
        total_steps: u64,
        weights: &[f32],
        seed: u64,
    ) -> Result<Self, ParamLengthError> {
        let device = training_device();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let fresh = QNetwork::new(OBSERVATION_LEN, &cfg.hidden, actions, &mut rng, &device);
        let online = unflatten(fresh, weights)?;
        Ok(Self::build(cfg, actions, total_steps, online, rng))
    }

    /// `online` must live on the training device already: moving a module onto an autodiff
    /// device records the move in the graph and its parameters stop being leaves.
    fn build(
        cfg: DqnConfig,
        actions: usize,
        total_steps: u64,
        online: QNetwork,
        rng: ChaCha8Rng,
    ) -> Self {
        let device = training_device();
        let acting = online.valid();
        let target = online.valid();
        let anchor = (cfg.proximal_mu > 0.0).then(|| online.clone());
        let optim = Adam::with_norm_clipping(cfg.max_grad_norm as f32);
        let epsilon = LinearSchedule {
            start: cfg.exploration_initial,
            end: cfg.exploration_final,
            decay_steps: (cfg.exploration_fraction * total_steps as f64) as u64,
        };
        Self {
            replay: ReplayBuffer::new(cfg.buffer_size),
            batch: Vec::with_capacity(cfg.batch_size),
            cfg,
            actions,
            device,
            online,
            acting,
            target,
            optim,
            rng,
            steps: 0,
            epsilon,
            frozen: false,
            anchor,
        }
    }

    /// Stops training the Q-network's feature extractor (see [`QNetwork`]); only the head
    /// learns from here on. Used to fine-tune a transferred model on a new workload
    /// without overwriting the features it brought along.
    ///
    /// The target network needs no freezing of its own: it is only ever a copy of the
    /// online network, so once the next hard update has run (at once, for a learner made
    /// by [`Self::from_weights`] and frozen before training) its extractor is the frozen
    /// one too.
    pub fn freeze_extractor(&mut self) {
        self.online = self.online.clone().freeze_extractor();
        self.frozen = true;
    }

    /// Whether [`Self::freeze_extractor`] was called.
    pub fn is_extractor_frozen(&self) -> bool {
        self.frozen
    }

    /// The configuration.
    pub fn config(&self) -> &DqnConfig {
        &self.cfg
    }

    /// Replaces the online and target networks' weights with `weights` (laid out as
    /// [`crate::rl::params::flatten`] reads them), keeping everything else: the replay
    /// buffer, the step count (and with it ε), the optimiser and the generator.
    ///
    /// A federated agent calls this at the start of every round with the new global
    /// model: its past experience stays useful for learning, but the network it learns
    /// from and bootstraps against must be the fleet's, or its update would be relative to
    /// weights the coordinator never saw. Fails without changing anything when the length
    /// does not match the architecture. With `proximal_mu > 0` the loaded weights become
    /// the proximal term's anchor.
    pub fn load_weights(&mut self, weights: &[f32]) -> Result<(), ParamLengthError> {
        let online = unflatten(self.online.clone(), weights)?;
        self.acting = online.valid();
        self.target = online.valid();
        if self.cfg.proximal_mu > 0.0 {
            self.anchor = Some(online.clone());
        }
        self.online = online;
        Ok(())
    }

    /// Environment steps observed so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// The current exploration rate.
    pub fn epsilon(&self) -> f64 {
        self.epsilon.at(self.steps)
    }

    /// Q-values of one observation under the current online network.
    pub fn q_values(&self, observation: &[f32; OBSERVATION_LEN]) -> Vec<f32> {
        q_values(&self.acting, observation)
    }

    /// ε-greedy when `explore`, greedy otherwise.
    pub fn act(&mut self, observation: &[f32; OBSERVATION_LEN], explore: bool) -> usize {
        if explore && self.rng.random_bool(self.epsilon()) {
            return self.rng.random_range(0..self.actions);
        }
        argmax(&self.q_values(observation))
    }

    /// Stores a transition and, on schedule, takes a gradient step and syncs the target
    /// network. Returns the TD (Huber) loss, without any proximal term, when a gradient
    /// step was taken.
    pub fn observe(&mut self, t: Transition) -> Option<f32> {
        self.replay.push(t);
        self.steps += 1;
        let mut loss = None;
        if self.steps >= self.cfg.learning_starts
            && self.steps.is_multiple_of(self.cfg.train_frequency)
        {
            loss = Some(self.train_step());
        }
        if self.steps.is_multiple_of(self.cfg.target_update_interval) {
            self.target = self.online.valid();
        }
        loss
    }

    fn train_step(&mut self) -> f32 {
        let n = self.cfg.batch_size;
        let mut batch = std::mem::take(&mut self.batch);
        self.replay.sample_into(n, &mut self.rng, &mut batch);
        let plain = inference_device();
        let mut obs = Vec::with_capacity(n * OBSERVATION_LEN);
        let mut next = Vec::with_capacity(n * OBSERVATION_LEN);
        let mut actions = Vec::with_capacity(n);
        let mut rewards = Vec::with_capacity(n);
        let mut dones = Vec::with_capacity(n);
        for t in &batch {
            obs.extend_from_slice(&t.observation);
            next.extend_from_slice(&t.next_observation);
            actions.push(t.action as i64);
            rewards.push(t.reward);
            dones.push(t.done);
        }
        let next = Tensor::<2>::from_data(TensorData::new(next, [n, OBSERVATION_LEN]), &plain);
        let q_online_next = to_vec(self.acting.forward(next.clone()));
        let q_target_next = to_vec(self.target.forward(next));
        let y = double_dqn_targets(
            &rewards,
            &dones,
            &q_online_next,
            &q_target_next,
            self.actions,
            self.cfg.gamma as f32,
        );

        let obs = Tensor::<2>::from_data(TensorData::new(obs, [n, OBSERVATION_LEN]), &self.device);
        let q = self
            .online
            .forward_train(obs, &self.cfg.dropout, &mut self.rng, &self.device);
        let index = Tensor::<2, Int>::from_data(TensorData::new(actions, [n, 1]), &self.device);
        let q_taken = q.gather(1, index);
        let y = Tensor::<2>::from_data(TensorData::new(y, [n, 1]), &self.device);
        let loss = HuberLossConfig::new(1.0)
            .init()
            .forward(q_taken, y, Reduction::Mean);
        let loss_value = loss.clone().inner().into_scalar::<f32>();
        let loss = match &self.anchor {
            Some(anchor) => {
                let mu = self.cfg.proximal_mu as f32;
                loss + self.online.squared_distance(anchor).mul_scalar(mu / 2.0)
            }
            None => loss,
        };
        let grads = GradientsParams::from_grads(loss.backward(), &self.online);
        self.online = self
            .optim
            .step(self.cfg.learning_rate, self.online.clone(), grads);
        self.acting = self.online.valid();
        self.batch = batch;
        loss_value
    }

    /// The online network for inference.
    pub fn network(&self) -> QNetwork {
        self.acting.clone()
    }

    /// The target network, for tests that check it follows the online one.
    #[cfg(test)]
    pub(crate) fn target_network(&self) -> QNetwork {
        self.target.clone()
    }
}

impl std::fmt::Debug for DqnLearner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DqnLearner")
            .field("steps", &self.steps)
            .field("epsilon", &self.epsilon())
            .field("replay", &self.replay.len())
            .field("frozen", &self.frozen)
            .finish_non_exhaustive()
    }
}

/// Q-values of one observation.
pub fn q_values(net: &QNetwork, observation: &[f32; OBSERVATION_LEN]) -> Vec<f32> {
    let x = Tensor::<2>::from_data(
        TensorData::new(observation.to_vec(), [1, OBSERVATION_LEN]),
        &inference_device(),
    );
    to_vec(net.forward(x))
}

fn to_vec(t: Tensor<2>) -> Vec<f32> {
    t.into_data().iter::<f32>().collect()
}
