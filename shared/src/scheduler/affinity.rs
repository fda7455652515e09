//! Ordering for a conversation: rendezvous (highest random weight) hashing of the conversation
//! key against each channel or upstream key.
//!
//! Every turn of one conversation gets the same order, so it goes to the same channel and key
//! while they are healthy; when one drops out (cooling down, or gone from the config) only the
//! conversations that were on it move, and they all move to the same next choice. Weights
//! (`gcp1/*: 5`) scale each channel's share of conversations.

use super::catalog::Candidate;

/// Candidates ordered for the conversation `key` (first choice first).
pub fn order_for_conversation(
    mut candidates: Vec<Candidate>,
    key: u64,
    name: impl Fn(&Candidate) -> u64,
) -> Vec<Candidate> {
    let mut scored: Vec<(f64, Candidate)> = candidates
        .drain(..)
        .map(|c| {
            let weight = f64::from(c.weight.unwrap_or(1).max(1));
            (score(key, name(&c), weight), c)
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored.into_iter().map(|(_, c)| c).collect()
}

/// Upstream key indices `0..count` ordered for the conversation `key`.
pub fn keys_for_conversation(count: usize, key: u64, provider: u64) -> Vec<usize> {
    let mut order: Vec<(f64, usize)> =
        (0..count).map(|k| (score(key, provider ^ (k as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15), 1.0), k)).collect();
    order.sort_by(|a, b| b.0.total_cmp(&a.0));
    order.into_iter().map(|(_, k)| k).collect()
}

/// Weighted rendezvous score: `weight / -ln(u)` for a uniform `u` in (0, 1] from the pair.
fn score(key: u64, item: u64, weight: f64) -> f64 {
    let mixed = splitmix(key ^ splitmix(item));
    let unit = ((mixed >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
    weight / -unit.ln().min(-f64::MIN_POSITIVE)
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn candidates(weights: &[Option<u32>]) -> Vec<Candidate> {
        weights
            .iter()
            .enumerate()
            .map(|(provider, weight)| Candidate { provider, upstream: Arc::from("m"), weight: *weight })
            .collect()
    }

    fn first(key: u64, weights: &[Option<u32>]) -> usize {
        order_for_conversation(candidates(weights), key, |c| c.provider as u64)[0].provider
    }

    #[test]
    fn one_conversation_one_channel_and_conversations_spread_by_weight() {
        let all = [None, None, None];
        for key in 0..50u64 {
            assert_eq!(first(key, &all), first(key, &all));
        }
        let mut counts = [0usize; 3];
        for key in 0..3000u64 {
            counts[first(key.wrapping_mul(0x1234_5678_9abc_def1), &[Some(5), Some(3), Some(2)])] += 1;
        }
        assert!(counts[0] > counts[1] && counts[1] > counts[2], "{counts:?}");
        assert!((1300..1700).contains(&counts[0]), "{counts:?}");
    }

    #[test]
    fn removing_a_channel_moves_only_its_conversations() {
        for key in 0..200u64 {
            let full = order_for_conversation(candidates(&[None, None, None]), key, |c| c.provider as u64);
            let without: Vec<Candidate> = full.iter().filter(|c| c.provider != 1).cloned().collect();
            let reordered = order_for_conversation(without.clone(), key, |c| c.provider as u64);
            assert_eq!(reordered, without, "the remaining order is unchanged");
        }
        assert_eq!(keys_for_conversation(3, 7, 9), keys_for_conversation(3, 7, 9));
        let mut sorted = keys_for_conversation(4, 7, 9);
        sorted.sort_unstable();
        assert_eq!(sorted, vec![0, 1, 2, 3]);
    }
}
