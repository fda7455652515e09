//! The names of everything the gateway keeps in the `StateStore`, typed so that each kind of
//! state is spelled in one place.
//!
//! Invariant: a key names configured names and one-way key fingerprints, never a secret, and
//! never a position in a list, so state follows what it is about across a config reload.

use std::fmt;

/// One piece of shared state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum StoreKey<'a> {
    /// The limiter every client key shares for a model (`preferences.rate_limit`).
    GlobalRate { model: &'a str },
    /// A client key's own limiter for a model.
    ClientRate { client: &'a str, model: &'a str },
    /// An upstream key's limiter for an upstream model.
    KeyRate { provider: &'a str, key: &'a str, upstream: &'a str },
    /// A channel (provider + upstream model) sitting out after a failure.
    ChannelCooldown { provider: &'a str, upstream: &'a str },
    /// An upstream key sitting out after a 429 or a refusal.
    KeyCooldown { provider: &'a str, key: &'a str },
    /// Where a client key's round-robin over channels for a model stands.
    ChannelCursor { client: &'a str, model: &'a str },
    /// Where a provider's round-robin over its upstream keys stands.
    KeyCursor { provider: &'a str },
    /// Where a Vertex provider's rotation over its regions stands.
    RegionCursor { provider: &'a str },
}

impl fmt::Display for StoreKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::GlobalRate { model } => write!(f, "rate:global:{model}"),
            Self::ClientRate { client, model } => write!(f, "rate:client:{client}:{model}"),
            Self::KeyRate { provider, key, upstream } => write!(f, "rate:key:{provider}:{key}:{upstream}"),
            Self::ChannelCooldown { provider, upstream } => write!(f, "cool:ch:{provider}/{upstream}"),
            Self::KeyCooldown { provider, key } => write!(f, "cool:key:{provider}:{key}"),
            Self::ChannelCursor { client, model } => write!(f, "rr:client:{client}:{model}"),
            Self::KeyCursor { provider } => write!(f, "rr:keys:{provider}"),
            Self::RegionCursor { provider } => write!(f, "rr:regions:{provider}"),
        }
    }
}

/// What a cooldown's store key is about: `("channel", "provider/upstream-model")` or
/// `("key", "provider:fingerprint")`; `None` for any other key.
pub fn cooldown_subject(key: &str) -> Option<(&'static str, &str)> {
    if let Some(channel) = key.strip_prefix("cool:ch:") {
        Some(("channel", channel))
    } else {
        key.strip_prefix("cool:key:").map(|k| ("key", k))
    }
}

#[cfg(test)]
mod tests {
    use super::StoreKey;

    #[test]
    fn keys_are_spelled_as_the_stores_know_them() {
        assert_eq!(StoreKey::GlobalRate { model: "m" }.to_string(), "rate:global:m");
        assert_eq!(StoreKey::ClientRate { client: "c2", model: "m" }.to_string(), "rate:client:c2:m");
        assert_eq!(StoreKey::KeyRate { provider: "p", key: "k1", upstream: "u" }.to_string(), "rate:key:p:k1:u");
        assert_eq!(StoreKey::ChannelCooldown { provider: "p", upstream: "u" }.to_string(), "cool:ch:p/u");
        assert_eq!(StoreKey::KeyCooldown { provider: "p", key: "k0" }.to_string(), "cool:key:p:k0");
        assert_eq!(StoreKey::ChannelCursor { client: "c0", model: "m" }.to_string(), "rr:client:c0:m");
        assert_eq!(StoreKey::KeyCursor { provider: "p" }.to_string(), "rr:keys:p");
        assert_eq!(StoreKey::RegionCursor { provider: "p" }.to_string(), "rr:regions:p");
        let channel = StoreKey::ChannelCooldown { provider: "p", upstream: "u" }.to_string();
        assert_eq!(super::cooldown_subject(&channel), Some(("channel", "p/u")));
        let key = StoreKey::KeyCooldown { provider: "p", key: "k0" }.to_string();
        assert_eq!(super::cooldown_subject(&key), Some(("key", "p:k0")));
        assert_eq!(super::cooldown_subject("rr:keys:p"), None);
    }
}
