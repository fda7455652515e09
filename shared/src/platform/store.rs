//! The state port: rate windows, cooldowns and round-robin cursors, as domain operations.
//!
//! The arithmetic lives in the core (`scheduler::rate_window`); a store only keeps the numbers
//! and makes each operation atomic for its key. Natively that is a mutex over a map; on Workers it
//! is a Durable Object, so limits and cooldowns hold across isolates. Keys never contain secrets.

use super::runtime::UnixMillis;
use super::send::{BoxFuture, MaybeSend, MaybeSync};
use crate::scheduler::rate_window::{Admission, RateRule};

/// Shared mutable state of the gateway.
pub trait StateStore: MaybeSend + MaybeSync {
    /// Checks every rule's window for `key` at `now`; when all admit, counts the request in each.
    fn admit<'a>(
        &'a self,
        key: &'a str,
        rules: &'a [RateRule],
        now: UnixMillis,
    ) -> BoxFuture<'a, Result<Admission, StoreError>>;

    /// For each key, the end of its cooldown if one is running at `now`.
    fn cooldowns<'a>(
        &'a self,
        keys: &'a [String],
        now: UnixMillis,
    ) -> BoxFuture<'a, Result<Vec<Option<UnixMillis>>, StoreError>>;

    /// Benches `key` until `until` (a later end wins over an earlier one).
    fn start_cooldown<'a>(&'a self, key: &'a str, until: UnixMillis) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Returns the cursor for `key` and advances it by one (starts at 0).
    fn next_cursor<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<u64, StoreError>>;
}

/// The store could not answer. The gateway degrades (admits, ignores cooldowns) rather than fail
/// requests, and logs it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("state store unavailable: {0}")]
pub struct StoreError(pub String);
