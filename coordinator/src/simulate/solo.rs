//! The control group: each cluster's agent trained alone, with the same trainer, traffic,
//! seed and per-round budget as in the federation, but never averaged with anyone. The
//! only difference from the federated run is federation itself, which is what the
//! comparison is meant to isolate.

use std::sync::atomic::AtomicBool;

use anyhow::Context;
use common::proto::ModelPayload;
use common::rl::artifact::{Algo, TrainConfig};
use edge_agent::federation::{LocalTrainer, PayloadForm};

use super::workloads::Cluster;

/// Trains every cluster's agent alone for `rounds × budget` steps from `initial`, in
/// parallel (one thread per cluster), and returns the final weights in cluster order.
/// `on_round` is called as each local round ends.
pub(crate) fn train_alone(
    algo: Algo,
    configs: &[TrainConfig],
    clusters: &[Cluster],
    initial: &[f32],
    rounds: u64,
    budget: u64,
    on_round: &(dyn Fn() + Sync),
) -> anyhow::Result<Vec<Vec<f32>>> {
    std::thread::scope(|scope| {
        let workers: Vec<_> =
            clusters
                .iter()
                .zip(configs)
                .map(|(cluster, cfg)| {
                    scope.spawn(move || -> anyhow::Result<Vec<f32>> {
                        let mut trainer = LocalTrainer::with_scenarios(
                            algo,
                            cfg.clone(),
                            vec![cluster.scenario.clone()],
                            PayloadForm::Weights,
                        )
                        .with_context(|| format!("cannot set up {}'s trainer", cluster.id))?;
                        let never = AtomicBool::new(false);
                        let mut weights = initial.to_vec();
                        for round in 1..=rounds {
                            let update =
                                trainer.train_round(&weights, budget, &never).with_context(
                                    || format!("{} failed in local round {round}", cluster.id),
                                )?;
                            weights = match update.payload {
                                ModelPayload::Weights(w) => w,
                                ModelPayload::Delta(d) | ModelPayload::HalfDelta(d) => {
                                    weights.iter().zip(&d).map(|(w, d)| w + d).collect()
                                }
                            };
                            on_round();
                        }
                        Ok(weights)
                    })
                })
                .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .map_err(|_| anyhow::anyhow!("a solo training thread panicked"))?
            })
            .collect()
    })
}
