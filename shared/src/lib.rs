//! uni-api core: one OpenAI-compatible API over many LLM providers, configured by `api.yaml`.
//!
//! This crate is the whole gateway except the host. It never opens a socket, reads a clock or
//! an environment variable, or spawns a thread: the host hands it a `Platform` (an HTTP client,
//! a state store and a runtime) and calls `Gateway::handle` for each request. It builds for
//! `wasm32-unknown-unknown` (the Cloudflare Worker) and natively (the axum binary).
//!
//! Map: `config` (api.yaml → validated types), `scheduler` (pure routing, ordering, rate and
//! failure policy), `adapters` (provider wire formats), `sse` + `stream` (stream framing and
//! translation), `gateway` (the pipeline), `error` (the one renderer), `platform` (the ports), `stats` (usage
//! records and their SQL).

// On wasm32 the ports are deliberately not `Send`: a Worker isolate has one thread.
#![cfg_attr(target_arch = "wasm32", allow(clippy::arc_with_non_send_sync))]

pub mod adapters;
pub mod body;
pub mod config;
pub mod doors;
pub mod error;
pub mod gateway;
pub mod log_text;
pub mod platform;
pub mod scheduler;
pub mod schema;
pub mod sse;
pub mod stats;
pub mod stream;
pub mod usage;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use config::{Config, ConfigError};
pub use error::GatewayError;
pub use gateway::{Gateway, ResponseBody, MAX_REQUEST_BODY_BYTES};
pub use platform::Platform;
