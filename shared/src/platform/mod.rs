//! Ports: everything the core needs from its host, as three small traits and one cfg'd module.

pub mod destinations;
pub mod http;
pub mod memory;
pub mod runtime;
pub mod send;
pub mod stats;
pub mod store;

use std::sync::Arc;

pub use self::destinations::Destinations;
pub use self::http::{ByteStream, HttpClient, SendOptions, TransportError, TransportErrorKind};
pub use self::memory::MemoryStore;
pub use self::runtime::{Runtime, UnixMillis};
pub use self::send::{boxed, boxed_stream, BoxFnOnce, BoxFuture, BoxStream, MaybeSend, MaybeSync};
pub use self::stats::StatsStore;
pub use self::store::{StateStore, StoreError};

/// The world as the host hands it to the core.
#[derive(Clone)]
pub struct Platform {
    pub http: Arc<dyn HttpClient>,
    pub store: Arc<dyn StateStore>,
    pub runtime: Arc<dyn Runtime>,
    /// Where usage records go; `None` when statistics are off (`DISABLE_DATABASE`).
    pub stats: Option<Arc<dyn StatsStore>>,
}
