//! The default models shipped with the project, embedded in the binary so `--policy dqn`,
//! `--policy ppo` and `--policy hybrid` work out of the box. They are ordinary model directories under
//! `models/` at the workspace root; README.md gives the command that reproduces each bit
//! for bit.

use std::path::Path;

use super::artifact::{Algo, ArtifactError, TrainedModel};

macro_rules! shipped {
    ($algo:literal, $file:literal) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../models/",
            $algo,
            "/",
            $file
        ))
    };
}

/// Loads the shipped default model for `algo`.
pub fn load(algo: Algo) -> Result<TrainedModel, ArtifactError> {
    let (manifest, config, record): (&[u8], &[u8], &[u8]) = match algo {
        Algo::Dqn => (
            shipped!("dqn", "manifest.toml"),
            shipped!("dqn", "config.toml"),
            shipped!("dqn", "model.bpk"),
        ),
        Algo::Ppo => (
            shipped!("ppo", "manifest.toml"),
            shipped!("ppo", "config.toml"),
            shipped!("ppo", "model.bpk"),
        ),
        Algo::Hybrid => (
            shipped!("hybrid", "manifest.toml"),
            shipped!("hybrid", "config.toml"),
            shipped!("hybrid", "model.bpk"),
        ),
    };
    let dir = Path::new("models").join(algo.name());
    TrainedModel::from_parts(
        (&dir.join("manifest.toml"), manifest),
        (&dir.join("config.toml"), config),
        (&dir.join("model.bpk"), record.to_vec()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::{Env, EnvConfig};
    use crate::policy::Policy;
    use crate::rl::policy::LearnedPolicy;
    use crate::traffic::ArrivalSeries;

    #[test]
    fn shipped_models_load_and_act() {
        for algo in [Algo::Dqn, Algo::Ppo, Algo::Hybrid] {
            let model = load(algo).unwrap();
            assert_eq!(model.manifest.algo, algo);
            let mut policy = LearnedPolicy::new(algo.name(), model);
            // An overloaded cluster: 2 pods for 1,500 req/s. A trained policy scales up.
            let mut cfg = EnvConfig::default();
            cfg.sim.replicas.initial = Some(2);
            let mut env =
                Env::new(cfg, ArrivalSeries::new("overload", vec![1500.0; 1800]), 1).unwrap();
            let mut replicas = Vec::new();
            for _ in 0..20 {
                let desired = policy.desired_replicas(&env.view());
                replicas.push(env.step_to(desired).applied_replicas);
            }
            assert!(
                replicas.iter().max().copied().unwrap_or(0) > 10,
                "{algo:?} never scaled up: {replicas:?}"
            );
        }
    }
}
