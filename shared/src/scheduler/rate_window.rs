//! Sliding-window rate limiting as pure arithmetic: `(state, rules, now) → admit or wait`.
//!
//! A rule (`15/min`) admits a request only if fewer than `limit` requests were admitted in the
//! last `window` milliseconds: a true sliding window, as the original's limiter and upstream
//! quotas are. Up to [`EXACT_UP_TO`] requests per window it keeps the admission times themselves,
//! so the count is exact and `Retry-After` is when the oldest of them slides out (never more than
//! the window). Larger limits would cost too much memory per key, and there it keeps two counters,
//! the current fixed window and the previous one, weighted by how much of the previous still
//! overlaps the last `window` (Cloudflare's and pingora's estimate; it may admit a little more than
//! the limit right after a burst at the end of a window), with `Retry-After` capped at the window.
//! A request is admitted only when every rule admits it; then it counts in every rule.

use std::collections::VecDeque;

use crate::platform::UnixMillis;

/// The largest limit kept exactly (8 bytes per admitted request while it is in the window).
pub const EXACT_UP_TO: u32 = 1000;

/// `limit` requests per `window_ms` milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RateRule {
    pub limit: u32,
    pub window_ms: u64,
}

/// The outcome of asking to send one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    Admitted,
    /// Over a limit; the earliest time a retry could pass, in milliseconds from now (at most the
    /// longest window of the rules).
    Limited {
        retry_after_ms: u64,
    },
}

/// The counters behind one limited key (one client key and model, or one upstream key and model).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RateWindow {
    counters: Vec<Counter>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Counter {
    rule: RateRule,
    count: Count,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Count {
    /// The admission times still inside the window, oldest first (at most `limit`).
    Exact(VecDeque<u64>),
    /// Fixed-window counters for limits above [`EXACT_UP_TO`].
    Estimate { window_start: u64, previous: u64, current: u64 },
}

impl RateWindow {
    /// Admits and counts one request if every rule allows it at `now`.
    pub fn admit(&mut self, rules: &[RateRule], now: UnixMillis) -> Admission {
        self.sync_rules(rules);
        let mut wait = 0u64;
        for counter in &mut self.counters {
            wait = wait.max(counter.wait_for_one(now.0));
        }
        if wait > 0 {
            return Admission::Limited { retry_after_ms: wait };
        }
        for counter in &mut self.counters {
            counter.count_one(now.0);
        }
        Admission::Admitted
    }

    /// Whether every request it counted has slid out of its windows by `now`: the window holds
    /// nothing and may be forgotten.
    pub fn is_idle(&self, now: UnixMillis) -> bool {
        self.counters.iter().all(|c| c.is_idle(now.0))
    }

    /// A config reload may change the rules; counters of changed rules start afresh.
    fn sync_rules(&mut self, rules: &[RateRule]) {
        let same = self.counters.len() == rules.len() && self.counters.iter().zip(rules).all(|(c, r)| c.rule == *r);
        if !same {
            self.counters = rules.iter().map(|&rule| Counter::new(rule)).collect();
        }
    }
}

impl Counter {
    fn new(rule: RateRule) -> Self {
        let count = if rule.limit <= EXACT_UP_TO {
            Count::Exact(VecDeque::new())
        } else {
            Count::Estimate { window_start: 0, previous: 0, current: 0 }
        };
        Self { rule, count }
    }

    fn window(&self) -> u64 {
        self.rule.window_ms.max(1)
    }

    /// Forgets what has slid out of the window by `now`; then milliseconds until one more request
    /// fits, 0 if it fits now.
    fn wait_for_one(&mut self, now: u64) -> u64 {
        let w = self.window();
        let limit = self.rule.limit;
        match &mut self.count {
            Count::Exact(times) => {
                while times.front().is_some_and(|&t| t.saturating_add(w) <= now) {
                    times.pop_front();
                }
                if limit == 0 {
                    return w;
                }
                if times.len() < limit as usize {
                    return 0;
                }
                // Full: one fits when the oldest admission slides out.
                let oldest = times.front().copied().unwrap_or(now);
                (oldest + w).saturating_sub(now).clamp(1, w)
            }
            Count::Estimate { window_start, previous, current } => {
                roll(window_start, previous, current, now, w);
                estimate_wait(*window_start, *previous, *current, limit as u64, now, w).min(w)
            }
        }
    }

    fn count_one(&mut self, now: u64) {
        match &mut self.count {
            Count::Exact(times) => times.push_back(now),
            Count::Estimate { current, .. } => *current += 1,
        }
    }

    fn is_idle(&self, now: u64) -> bool {
        let w = self.window();
        match &self.count {
            Count::Exact(times) => times.back().is_none_or(|&t| t.saturating_add(w) <= now),
            Count::Estimate { window_start, .. } => window_start.saturating_add(2 * w) <= now,
        }
    }
}

/// Moves the fixed windows forward to the one holding `now`.
fn roll(window_start: &mut u64, previous: &mut u64, current: &mut u64, now: u64, w: u64) {
    let start = now - now % w;
    if start == *window_start {
        return;
    }
    *previous = if start == *window_start + w { *current } else { 0 };
    *current = 0;
    *window_start = start;
}

/// The estimate's wait: one more fits when `prev * (w - elapsed) / w + cur + 1 <= limit`.
fn estimate_wait(window_start: u64, previous: u64, current: u64, limit: u64, now: u64, w: u64) -> u64 {
    let w = w as u128;
    let limit = limit as u128;
    let elapsed = (now - window_start) as u128;
    let remaining = w - elapsed;
    let prev = previous as u128;
    let cur = current as u128;
    if limit == 0 {
        return remaining as u64;
    }
    if prev * remaining + (cur + 1) * w <= limit * w {
        return 0;
    }
    if cur < limit {
        // Wait within this window until enough of the previous one has slid out:
        // prev * (w - e) <= (limit - cur - 1) * w.
        let allowed = (limit - cur - 1) * w;
        let e = w - allowed / prev; // prev > 0 here, else it would have fitted
        return (e.saturating_sub(elapsed)).max(1) as u64;
    }
    // The current window is full: wait for the next one, then until enough of this one (which
    // becomes `previous`) has slid out: cur * (w - e') <= (limit - 1) * w.
    let allowed = (limit - 1) * w;
    let e_next = w - (allowed / cur).min(w);
    (remaining + e_next).max(1) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = 60_000;

    fn per_min(limit: u32) -> RateRule {
        RateRule { limit, window_ms: MIN }
    }

    fn admitted(w: &mut RateWindow, rules: &[RateRule], t: u64) -> bool {
        w.admit(rules, UnixMillis(t)) == Admission::Admitted
    }

    #[test]
    fn admits_up_to_the_limit_then_refuses() {
        let mut w = RateWindow::default();
        let rules = [per_min(3)];
        let t = 10 * MIN;
        assert!(admitted(&mut w, &rules, t));
        assert!(admitted(&mut w, &rules, t + 1));
        assert!(admitted(&mut w, &rules, t + 2));
        match w.admit(&rules, UnixMillis(t + 3)) {
            Admission::Limited { retry_after_ms } => assert_eq!(retry_after_ms, MIN - 3, "when the first slides out"),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_refused_request_is_not_counted() {
        let mut w = RateWindow::default();
        let rules = [per_min(1)];
        let t = 5 * MIN;
        assert!(admitted(&mut w, &rules, t));
        for i in 1..10 {
            assert!(!admitted(&mut w, &rules, t + i));
        }
        // Two windows later nothing of the old window overlaps any more.
        assert!(admitted(&mut w, &rules, t + 2 * MIN));
    }

    #[test]
    fn a_burst_at_the_end_of_a_window_blocks_the_next_minute() {
        // The case the two-counter estimate got wrong: 5 at the very end of one fixed minute, then
        // the start of the next; an upstream's own `5/min` quota would answer 429 here.
        let mut w = RateWindow::default();
        let rules = [per_min(5)];
        let burst = 20 * MIN + MIN - 100;
        for i in 0..5 {
            assert!(admitted(&mut w, &rules, burst + i));
        }
        let mut late = 0;
        for t in (burst + 200..burst + MIN).step_by(1000) {
            late += admitted(&mut w, &rules, t) as u32;
        }
        assert_eq!(late, 0, "nothing more until the burst is a minute old");
        assert!(admitted(&mut w, &rules, burst + MIN), "the first of the burst has slid out");
        assert!(!admitted(&mut w, &rules, burst + MIN), "only one slot opened");
    }

    #[test]
    fn never_more_than_the_limit_in_any_window_and_retry_after_within_it() {
        let rules = [per_min(5)];
        let mut w = RateWindow::default();
        let mut admitted_at = Vec::new();
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut t = 3 * MIN;
        for _ in 0..5000 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            t += rng % 3000;
            match w.admit(&rules, UnixMillis(t)) {
                Admission::Admitted => admitted_at.push(t),
                Admission::Limited { retry_after_ms } => {
                    assert!((1..=MIN).contains(&retry_after_ms), "{retry_after_ms}");
                    let mut probe = w.clone();
                    assert!(admitted(&mut probe, &rules, t + retry_after_ms), "Retry-After admits");
                }
            }
        }
        for (i, &at) in admitted_at.iter().enumerate() {
            let in_window = admitted_at[i..].iter().take_while(|&&later| later < at + MIN).count();
            assert!(in_window <= 5, "{in_window} admitted within a minute from {at}");
        }
        assert!(admitted_at.len() > 100);
    }

    #[test]
    fn a_limit_above_the_exact_size_uses_the_estimate_and_caps_retry_after() {
        let mut w = RateWindow::default();
        let limit = EXACT_UP_TO + 1000;
        let rules = [per_min(limit)];
        let start = 100 * MIN;
        for i in 0..limit as u64 {
            assert!(admitted(&mut w, &rules, start + i / 100));
        }
        // At the start of the next window the previous window still weighs about `limit`.
        assert!(!admitted(&mut w, &rules, start + MIN));
        // Half-way through it weighs half: about `limit / 2` more fit.
        let mut more = 0u32;
        while admitted(&mut w, &rules, start + MIN + MIN / 2) {
            more += 1;
        }
        assert!(more.abs_diff(limit / 2) <= 2, "{more}");
        // A full current window would mean waiting past the next one; Retry-After stays within
        // the window.
        let later = start + 10 * MIN;
        for i in 0..limit as u64 {
            assert!(admitted(&mut w, &rules, later + i / 100));
        }
        let Admission::Limited { retry_after_ms } = w.admit(&rules, UnixMillis(later + 100)) else {
            panic!("expected a refusal");
        };
        assert!(retry_after_ms <= MIN, "{retry_after_ms}");
    }

    #[test]
    fn retry_after_points_at_a_time_that_admits() {
        let mut w = RateWindow::default();
        let rules = [per_min(4)];
        let start = 7 * MIN + 1234;
        for i in 0..4 {
            assert!(admitted(&mut w, &rules, start + i));
        }
        let Admission::Limited { retry_after_ms } = w.admit(&rules, UnixMillis(start + 10)) else {
            panic!("expected a refusal");
        };
        let mut probe = w.clone();
        assert!(!admitted(&mut probe, &rules, start + 10 + retry_after_ms - 2));
        assert!(admitted(&mut w, &rules, start + 10 + retry_after_ms));
    }

    #[test]
    fn every_rule_must_admit_and_all_count() {
        let mut w = RateWindow::default();
        let rules = [per_min(100), RateRule { limit: 2, window_ms: 86_400_000 }];
        let t = 3 * 86_400_000;
        assert!(admitted(&mut w, &rules, t));
        assert!(admitted(&mut w, &rules, t + 10 * MIN));
        assert!(!admitted(&mut w, &rules, t + 20 * MIN), "the daily rule is exhausted");
    }

    #[test]
    fn changed_rules_start_afresh() {
        let mut w = RateWindow::default();
        let t = 9 * MIN;
        assert!(admitted(&mut w, &[per_min(1)], t));
        assert!(!admitted(&mut w, &[per_min(1)], t + 1));
        assert!(admitted(&mut w, &[per_min(5)], t + 2));
    }

    #[test]
    fn a_zero_limit_refuses_everything() {
        let mut w = RateWindow::default();
        assert!(!admitted(&mut w, &[per_min(0)], 42));
    }
}
