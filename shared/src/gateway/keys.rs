//! The names of everything the gateway keeps in the `StateStore`, typed so that each kind of
//! state is spelled in one place.
//!
//! Invariant: a key names indices and configured names, never a secret.

use std::fmt;

/// One piece of shared state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum StoreKey<'a> {
    /// The limiter every client key shares for a model (`preferences.rate_limit`).
    GlobalRate { model: &'a str },
    /// A client key's own limiter for a model.
    ClientRate { client: usize, model: &'a str },
    /// An upstream key's limiter for an upstream model.
    KeyRate { provider: &'a str, key: usize, upstream: &'a str },
    /// A channel (provider + upstream model) sitting out after a failure.
    ChannelCooldown { provider: &'a str, upstream: &'a str },
    /// An upstream key sitting out after a 429 or a refusal.
    KeyCooldown { provider: &'a str, key: usize },
    /// Where a client key's round-robin over channels for a model stands.
    ChannelCursor { client: usize, model: &'a str },
    /// Where a provider's round-robin over its upstream keys stands.
    KeyCursor { provider: &'a str },
    /// Where a Vertex provider's rotation over its regions stands.
    RegionCursor { provider: &'a str },
}

impl fmt::Display for StoreKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::GlobalRate { model } => write!(f, "rate:global:{model}"),
            Self::ClientRate { client, model } => write!(f, "rate:client#{client}:{model}"),
            Self::KeyRate { provider, key, upstream } => write!(f, "rate:key:{provider}#{key}:{upstream}"),
            Self::ChannelCooldown { provider, upstream } => write!(f, "cool:ch:{provider}/{upstream}"),
            Self::KeyCooldown { provider, key } => write!(f, "cool:key:{provider}#{key}"),
            Self::ChannelCursor { client, model } => write!(f, "rr:client#{client}:{model}"),
            Self::KeyCursor { provider } => write!(f, "rr:keys:{provider}"),
            Self::RegionCursor { provider } => write!(f, "rr:regions:{provider}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::StoreKey;

    #[test]
    fn keys_are_spelled_as_the_stores_know_them() {
        assert_eq!(StoreKey::GlobalRate { model: "m" }.to_string(), "rate:global:m");
        assert_eq!(StoreKey::ClientRate { client: 2, model: "m" }.to_string(), "rate:client#2:m");
        assert_eq!(StoreKey::KeyRate { provider: "p", key: 1, upstream: "u" }.to_string(), "rate:key:p#1:u");
        assert_eq!(StoreKey::ChannelCooldown { provider: "p", upstream: "u" }.to_string(), "cool:ch:p/u");
        assert_eq!(StoreKey::KeyCooldown { provider: "p", key: 0 }.to_string(), "cool:key:p#0");
        assert_eq!(StoreKey::ChannelCursor { client: 0, model: "m" }.to_string(), "rr:client#0:m");
        assert_eq!(StoreKey::KeyCursor { provider: "p" }.to_string(), "rr:keys:p");
        assert_eq!(StoreKey::RegionCursor { provider: "p" }.to_string(), "rr:regions:p");
    }
}
