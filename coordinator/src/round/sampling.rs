//! Choosing a round's participants and its quorum size.

use std::collections::BTreeSet;

use rand::rngs::ChaCha8Rng;

/// How many of `connected` agents a round with `participation` offers: the fraction
/// rounded up, and at least one, so a small fleet with a low rate still makes progress.
pub(super) fn participant_count(participation: f64, connected: usize) -> usize {
    let wanted = (participation * connected as f64 - 1e-9).ceil();
    (wanted.max(1.0) as usize).min(connected)
}

/// Accepted updates that make a quorum among `participants`: the fraction rounded up,
/// at least one.
pub(super) fn quorum_size(quorum: f64, participants: usize) -> usize {
    let needed = (quorum * participants as f64 - 1e-9).ceil();
    (needed.max(1.0) as usize).min(participants.max(1))
}

/// `count` of `candidates` (given in a fixed order, so the same seed picks the same
/// clusters), uniformly without replacement.
pub(super) fn sample<'a>(
    rng: &mut ChaCha8Rng,
    candidates: impl ExactSizeIterator<Item = &'a String>,
    count: usize,
) -> BTreeSet<String> {
    let candidates: Vec<&String> = candidates.collect();
    let count = count.min(candidates.len());
    rand::seq::index::sample(rng, candidates.len(), count)
        .into_iter()
        .map(|i| candidates[i].clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn participant_count_rounds_up_and_never_offers_nobody() {
        assert_eq!(participant_count(1.0, 10), 10);
        assert_eq!(participant_count(0.5, 3), 2);
        assert_eq!(participant_count(0.3, 10), 3);
        assert_eq!(participant_count(0.01, 10), 1);
        assert_eq!(participant_count(0.5, 0), 0);
    }

    #[test]
    fn quorum_size_rounds_up() {
        assert_eq!(quorum_size(0.8, 10), 8);
        assert_eq!(quorum_size(0.8, 3), 3);
        assert_eq!(quorum_size(0.5, 3), 2);
        assert_eq!(quorum_size(0.1, 3), 1);
        assert_eq!(quorum_size(1.0, 1), 1);
    }

    #[test]
    fn sampling_is_reproducible_from_the_seed_and_without_repeats() {
        let clusters: Vec<String> = (0..20).map(|i| format!("c{i}")).collect();
        let pick = |seed| sample(&mut ChaCha8Rng::seed_from_u64(seed), clusters.iter(), 7);
        let a = pick(3);
        assert_eq!(a.len(), 7);
        assert_eq!(a, pick(3));
        assert!(
            (0..10).any(|s| pick(s) != a),
            "every seed chose the same clusters"
        );
    }
}
