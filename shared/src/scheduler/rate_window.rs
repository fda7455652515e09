//! Sliding-window rate limiting as pure arithmetic: `(state, rules, now) → admit or wait`.
//!
//! Each rule (`15/min`) keeps two counters: the current fixed window and the previous one. The
//! sliding count is the previous window weighted by how much of it still overlaps the last `W`
//! milliseconds, plus the current window. This is the estimate Cloudflare and pingora use: O(1)
//! state per rule (so it fits a Durable Object record), and never more permissive than the limit
//! when requests are spread evenly. A request is admitted only when every rule admits it; then it
//! counts in every rule.

use crate::platform::UnixMillis;

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
    /// Over a limit; the earliest time a retry could pass, in milliseconds from now.
    Limited {
        retry_after_ms: u64,
    },
}

/// The counters behind one limited key (one client key and model, or one upstream key and model).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RateWindow {
    counters: Vec<Counter>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Counter {
    rule: RateRule,
    window_start: u64,
    previous: u64,
    current: u64,
}

impl RateWindow {
    /// Admits and counts one request if every rule allows it at `now`.
    pub fn admit(&mut self, rules: &[RateRule], now: UnixMillis) -> Admission {
        self.sync_rules(rules);
        let mut wait = 0u64;
        for counter in &mut self.counters {
            counter.roll(now.0);
            wait = wait.max(counter.wait_for_one(now.0));
        }
        if wait > 0 {
            return Admission::Limited { retry_after_ms: wait };
        }
        for counter in &mut self.counters {
            counter.current += 1;
        }
        Admission::Admitted
    }

    /// Whether every request it counted has slid out of its windows by `now`: the window holds
    /// nothing and may be forgotten.
    pub fn is_idle(&self, now: UnixMillis) -> bool {
        self.counters.iter().all(|c| c.window_start.saturating_add(2 * c.rule.window_ms.max(1)) <= now.0)
    }

    /// A config reload may change the rules; counters of changed rules start afresh.
    fn sync_rules(&mut self, rules: &[RateRule]) {
        let same = self.counters.len() == rules.len() && self.counters.iter().zip(rules).all(|(c, r)| c.rule == *r);
        if !same {
            self.counters =
                rules.iter().map(|&rule| Counter { rule, window_start: 0, previous: 0, current: 0 }).collect();
        }
    }
}

impl Counter {
    fn roll(&mut self, now: u64) {
        let w = self.rule.window_ms.max(1);
        let start = now - now % w;
        if start == self.window_start {
            return;
        }
        self.previous = if start == self.window_start + w { self.current } else { 0 };
        self.current = 0;
        self.window_start = start;
    }

    /// Milliseconds until one more request fits, 0 if it fits now.
    fn wait_for_one(&self, now: u64) -> u64 {
        let w = self.rule.window_ms.max(1) as u128;
        let limit = self.rule.limit as u128;
        let elapsed = (now - self.window_start) as u128;
        let remaining = w - elapsed;
        let prev = self.previous as u128;
        let cur = self.current as u128;
        if limit == 0 {
            return remaining as u64;
        }
        // Fits when prev * (w - elapsed) / w + cur + 1 <= limit, kept in integers.
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
        // The current window is full: wait for the next one, then until enough of this one
        // (which becomes `previous`) has slid out: cur * (w - e') <= (limit - 1) * w.
        let allowed = (limit - 1) * w;
        let e_next = w - (allowed / cur).min(w);
        (remaining + e_next).max(1) as u64
    }
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
            Admission::Limited { retry_after_ms } => {
                assert!(retry_after_ms > MIN - 10 && retry_after_ms <= 2 * MIN, "{retry_after_ms}")
            }
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
    fn the_previous_window_slides_out_gradually() {
        let mut w = RateWindow::default();
        let rules = [per_min(10)];
        let start = 100 * MIN;
        for i in 0..10 {
            assert!(admitted(&mut w, &rules, start + i));
        }
        // At the start of the next window the previous 10 still weigh ~10.
        assert!(!admitted(&mut w, &rules, start + MIN));
        // Half-way through, they weigh 5: five more fit, the sixth does not.
        for i in 0..5 {
            assert!(admitted(&mut w, &rules, start + MIN + MIN / 2 + i), "request {i}");
        }
        assert!(!admitted(&mut w, &rules, start + MIN + MIN / 2 + 10));
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
