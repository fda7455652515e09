//! Channel and upstream-key ordering: the scheduling algorithms, as pure functions of a cursor
//! (from the state store) and a random number (from the runtime).

use crate::config::{KeySchedule, Scheduling};

use super::catalog::Candidate;

impl Scheduling {
    /// Whether ordering needs a per-(client, model) round-robin cursor.
    pub fn uses_cursor(self) -> bool {
        matches!(self, Self::RoundRobin | Self::WeightedRoundRobin)
    }
}

/// Orders candidates: the first is the first choice, the rest are failover in order.
///
/// * `fixed_priority`: rule order.
/// * `round_robin`: rule order rotated by the cursor.
/// * `random`: a random permutation.
/// * `weighted_round_robin`: the first choice follows the smooth weighted sequence (weights
///   5:3:2 give exactly 5, 3 and 2 of every 10 requests); the others follow in rule order.
///   Candidates without a weight are kept as failover after the weighted ones.
/// * `lottery`: the first choice is drawn at random in proportion to the weights.
///
/// Without weights, the weighted algorithms behave as `round_robin` and `random`.
pub fn order_candidates(
    mut candidates: Vec<Candidate>,
    scheduling: Scheduling,
    cursor: u64,
    random: u64,
) -> Vec<Candidate> {
    let n = candidates.len();
    if n <= 1 {
        return candidates;
    }
    let weighted = candidates.iter().filter(|c| c.weight.is_some()).count();
    match scheduling {
        Scheduling::FixedPriority => candidates,
        Scheduling::RoundRobin => {
            candidates.rotate_left((cursor % n as u64) as usize);
            candidates
        }
        Scheduling::Random => {
            shuffle(&mut candidates, random);
            candidates
        }
        Scheduling::WeightedRoundRobin | Scheduling::Lottery if weighted == 0 => {
            let fallback = if scheduling == Scheduling::Lottery { Scheduling::Random } else { Scheduling::RoundRobin };
            order_candidates(candidates, fallback, cursor, random)
        }
        Scheduling::WeightedRoundRobin | Scheduling::Lottery => {
            // Weighted candidates first (in rule order), unweighted ones as the last resort.
            candidates.sort_by_key(|c| c.weight.is_none());
            let weights: Vec<u64> = candidates[..weighted].iter().map(|c| c.weight.unwrap_or(1) as u64).collect();
            let first = if scheduling == Scheduling::Lottery {
                lottery_pick(&weights, random)
            } else {
                smooth_weighted_pick(&weights, cursor)
            };
            let chosen = candidates.remove(first);
            candidates.insert(0, chosen);
            candidates
        }
    }
}

/// Orders the indices of a provider's upstream keys.
pub fn order_keys(count: usize, schedule: KeySchedule, cursor: u64, random: u64) -> Vec<usize> {
    let mut keys: Vec<usize> = (0..count).collect();
    if count > 1 {
        match schedule {
            KeySchedule::FixedPriority => {}
            KeySchedule::RoundRobin => keys.rotate_left((cursor % count as u64) as usize),
            KeySchedule::Random => keys.rotate_left((random % count as u64) as usize),
        }
    }
    keys
}

/// The `cursor`-th pick of nginx's smooth weighted round robin: each step adds every weight to
/// its running score, picks the highest score (first on ties) and subtracts the total from it.
/// The sequence repeats every `Σ weights` picks, so only `cursor % Σ` steps are simulated.
pub fn smooth_weighted_pick(weights: &[u64], cursor: u64) -> usize {
    let weights = reduce(weights);
    let total: u64 = weights.iter().sum();
    let steps = cursor % total + 1;
    let mut scores = vec![0i64; weights.len()];
    let mut pick = 0;
    for _ in 0..steps {
        for (s, w) in scores.iter_mut().zip(&weights) {
            *s += *w as i64;
        }
        pick = (0..scores.len()).fold(0, |best, i| if scores[i] > scores[best] { i } else { best });
        scores[pick] -= total as i64;
    }
    pick
}

fn lottery_pick(weights: &[u64], random: u64) -> usize {
    let total: u64 = weights.iter().sum();
    let mut ticket = random % total;
    for (i, w) in weights.iter().enumerate() {
        if ticket < *w {
            return i;
        }
        ticket -= w;
    }
    weights.len() - 1
}

/// Divides weights by their common divisor and caps the cycle length, so that simulating one
/// cycle stays cheap whatever numbers a config holds.
fn reduce(weights: &[u64]) -> Vec<u64> {
    let g = weights.iter().fold(0, |g, &w| gcd(g, w)).max(1);
    let mut reduced: Vec<u64> = weights.iter().map(|w| (w / g).max(1)).collect();
    let total: u64 = reduced.iter().sum();
    const MAX_CYCLE: u64 = 10_000;
    if total > MAX_CYCLE {
        reduced = reduced.iter().map(|w| (w * MAX_CYCLE / total).max(1)).collect();
    }
    reduced
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Fisher–Yates driven by splitmix64 from one seed.
fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut state = seed;
    for i in (1..items.len()).rev() {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        items.swap(i, (z % (i as u64 + 1)) as usize);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cands(weights: &[Option<u32>]) -> Vec<Candidate> {
        weights
            .iter()
            .enumerate()
            .map(|(i, w)| Candidate { provider: i, upstream: format!("m{i}").into(), weight: *w })
            .collect()
    }

    fn firsts(scheduling: Scheduling, weights: &[Option<u32>], rounds: u64, random: impl Fn(u64) -> u64) -> Vec<usize> {
        (0..rounds).map(|r| order_candidates(cands(weights), scheduling, r, random(r))[0].provider).collect()
    }

    #[test]
    fn fixed_priority_keeps_rule_order() {
        let order: Vec<usize> = order_candidates(cands(&[None, None, None]), Scheduling::FixedPriority, 7, 9)
            .iter()
            .map(|c| c.provider)
            .collect();
        assert_eq!(order, vec![0, 1, 2]);
    }

    #[test]
    fn round_robin_rotates_and_keeps_the_rest_as_failover() {
        assert_eq!(firsts(Scheduling::RoundRobin, &[None, None, None], 6, |_| 0), vec![0, 1, 2, 0, 1, 2]);
        let order: Vec<usize> = order_candidates(cands(&[None, None, None]), Scheduling::RoundRobin, 1, 0)
            .iter()
            .map(|c| c.provider)
            .collect();
        assert_eq!(order, vec![1, 2, 0]);
    }

    #[test]
    fn weighted_round_robin_gives_exact_shares_smoothly() {
        let picks = firsts(Scheduling::WeightedRoundRobin, &[Some(5), Some(3), Some(2)], 10, |_| 0);
        let count = |p| picks.iter().filter(|&&x| x == p).count();
        assert_eq!((count(0), count(1), count(2)), (5, 3, 2));
        // Smooth: the heaviest channel never gets more than two in a row.
        assert_eq!(picks, vec![0, 1, 2, 0, 0, 1, 0, 2, 1, 0]);
        let next_cycle = firsts(Scheduling::WeightedRoundRobin, &[Some(5), Some(3), Some(2)], 20, |_| 0);
        assert_eq!(next_cycle[10..], next_cycle[..10]);
    }

    #[test]
    fn unweighted_candidates_are_failover_for_weighted_algorithms() {
        let order: Vec<usize> =
            order_candidates(cands(&[None, Some(1), Some(1)]), Scheduling::WeightedRoundRobin, 1, 0)
                .iter()
                .map(|c| c.provider)
                .collect();
        assert_eq!(order, vec![2, 1, 0]);
    }

    #[test]
    fn lottery_draws_in_proportion_to_weights() {
        let picks = firsts(Scheduling::Lottery, &[Some(5), Some(3), Some(2)], 10, |r| r);
        assert_eq!(picks, vec![0, 0, 0, 0, 0, 1, 1, 1, 2, 2]);
    }

    #[test]
    fn random_is_a_permutation_that_depends_on_the_seed() {
        let mut seen = std::collections::HashSet::new();
        for seed in 0..50 {
            let mut order: Vec<usize> = order_candidates(cands(&[None, None, None]), Scheduling::Random, 0, seed)
                .iter()
                .map(|c| c.provider)
                .collect();
            seen.insert(order.clone());
            order.sort_unstable();
            assert_eq!(order, vec![0, 1, 2]);
        }
        assert!(seen.len() >= 4, "only {} distinct orders", seen.len());
    }

    #[test]
    fn key_orders() {
        assert_eq!(order_keys(3, KeySchedule::RoundRobin, 4, 0), vec![1, 2, 0]);
        assert_eq!(order_keys(3, KeySchedule::FixedPriority, 4, 8), vec![0, 1, 2]);
        assert_eq!(order_keys(3, KeySchedule::Random, 0, 5), vec![2, 0, 1]);
        assert_eq!(order_keys(0, KeySchedule::RoundRobin, 1, 1), Vec::<usize>::new());
    }

    #[test]
    fn huge_weights_stay_cheap_and_proportional() {
        let picks: Vec<usize> = (0..10).map(|c| smooth_weighted_pick(&[5_000_000, 3_000_000, 2_000_000], c)).collect();
        assert_eq!(picks, vec![0, 1, 2, 0, 0, 1, 0, 2, 1, 0]);
    }
}
