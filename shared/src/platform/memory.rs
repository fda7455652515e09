//! `StateStore` kept in process memory: the native default and the Worker's stateless fallback.

use std::collections::HashMap;
use std::sync::Mutex;

use super::runtime::UnixMillis;
use super::send::BoxFuture;
use super::store::{StateStore, StoreError};
use crate::scheduler::rate_window::{Admission, RateRule, RateWindow};

/// In-memory state. Every operation holds the lock only for the arithmetic, never across I/O.
#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<State>,
}

#[derive(Default)]
struct State {
    windows: HashMap<String, RateWindow>,
    /// Above this many windows, idle ones are swept before a new one is added.
    sweep_at: usize,
    cooldowns: HashMap<String, UnixMillis>,
    cursors: HashMap<String, u64>,
}

/// The fewest windows kept before idle ones are swept.
const MIN_SWEEP_AT: usize = 1024;

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every cooldown running at `now`, by store key, and when it ends (for a host's metrics;
    /// `gateway::cooldown_subject` says what a key is about).
    pub fn cooling_down(&self, now: UnixMillis) -> Vec<(String, UnixMillis)> {
        self.with(|s| s.cooldowns.iter().filter(|(_, until)| **until > now).map(|(k, u)| (k.clone(), *u)).collect())
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        // A poisoned lock only means another request panicked mid-update of plain counters;
        // the numbers are still usable, so keep serving.
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut guard)
    }
}

impl StateStore for MemoryStore {
    fn admit<'a>(
        &'a self,
        key: &'a str,
        rules: &'a [RateRule],
        now: UnixMillis,
    ) -> BoxFuture<'a, Result<Admission, StoreError>> {
        let admission = self.with(|s| match s.windows.get_mut(key) {
            Some(window) => window.admit(rules, now),
            None => {
                if s.windows.len() >= s.sweep_at.max(MIN_SWEEP_AT) {
                    // Sweeping when the map has doubled keeps its cost amortized per request.
                    s.windows.retain(|_, w| !w.is_idle(now));
                    s.sweep_at = s.windows.len() * 2;
                }
                let mut window = RateWindow::default();
                let admission = window.admit(rules, now);
                s.windows.insert(key.to_owned(), window);
                admission
            }
        });
        Box::pin(std::future::ready(Ok(admission)))
    }

    fn cooldowns<'a>(
        &'a self,
        keys: &'a [String],
        now: UnixMillis,
    ) -> BoxFuture<'a, Result<Vec<Option<UnixMillis>>, StoreError>> {
        let ends = self.with(|s| {
            if s.cooldowns.is_empty() {
                return vec![None; keys.len()];
            }
            s.cooldowns.retain(|_, until| *until > now);
            keys.iter().map(|k| s.cooldowns.get(k).copied()).collect()
        });
        Box::pin(std::future::ready(Ok(ends)))
    }

    fn start_cooldown<'a>(&'a self, key: &'a str, until: UnixMillis) -> BoxFuture<'a, Result<(), StoreError>> {
        self.with(|s| {
            let entry = s.cooldowns.entry(key.to_owned()).or_insert(until);
            if *entry < until {
                *entry = until;
            }
        });
        Box::pin(std::future::ready(Ok(())))
    }

    fn next_cursor<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<u64, StoreError>> {
        let value = self.with(|s| match s.cursors.get_mut(key) {
            Some(c) => {
                let v = *c;
                *c = c.wrapping_add(1);
                v
            }
            None => {
                s.cursors.insert(key.to_owned(), 1);
                0
            }
        });
        Box::pin(std::future::ready(Ok(value)))
    }
}

#[cfg(test)]
mod tests {
    use futures_executor::block_on;

    use super::*;

    #[test]
    fn cooldowns_expire_and_a_later_end_wins() {
        let store = MemoryStore::new();
        let keys = vec!["a".to_owned(), "b".to_owned()];
        block_on(store.start_cooldown("a", UnixMillis(2_000))).unwrap();
        block_on(store.start_cooldown("a", UnixMillis(1_500))).unwrap();
        assert_eq!(block_on(store.cooldowns(&keys, UnixMillis(1_000))).unwrap(), vec![Some(UnixMillis(2_000)), None]);
        assert_eq!(block_on(store.cooldowns(&keys, UnixMillis(2_000))).unwrap(), vec![None, None]);
    }

    #[test]
    fn cursors_count_per_key_from_zero() {
        let store = MemoryStore::new();
        let next = |k| block_on(store.next_cursor(k)).unwrap();
        assert_eq!((next("x"), next("x"), next("y"), next("x")), (0, 1, 0, 2));
    }

    #[test]
    fn idle_windows_are_forgotten_as_new_ones_come() {
        let store = MemoryStore::new();
        let rules = [RateRule { limit: 5, window_ms: 60_000 }];
        for i in 0..MIN_SWEEP_AT {
            block_on(store.admit(&format!("old-{i}"), &rules, UnixMillis(0))).unwrap();
        }
        // Two windows later every old one is idle; the next new key sweeps them.
        block_on(store.admit("new", &rules, UnixMillis(120_000))).unwrap();
        assert_eq!(store.with(|s| s.windows.len()), 1);
        // A window still counting is kept.
        for i in 0..MIN_SWEEP_AT {
            block_on(store.admit(&format!("busy-{i}"), &rules, UnixMillis(130_000))).unwrap();
        }
        assert_eq!(store.with(|s| s.windows.len()), MIN_SWEEP_AT + 1);
    }

    #[test]
    fn admission_is_counted_per_key() {
        let store = MemoryStore::new();
        let rules = [RateRule { limit: 1, window_ms: 60_000 }];
        let admit = |k| block_on(store.admit(k, &rules, UnixMillis(120_000))).unwrap();
        assert_eq!(admit("a"), Admission::Admitted);
        assert!(matches!(admit("a"), Admission::Limited { .. }));
        assert_eq!(admit("b"), Admission::Admitted);
    }
}
