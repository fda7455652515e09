//! uni-api on Cloudflare Workers: the thin shell that hands each request to the shared core.
//!
//! Invariant: no gateway logic lives here. This crate implements the core's ports over the
//! Workers platform (fetch, Durable Objects, D1, `Date.now`, `crypto.getRandomValues`), finds the
//! config (`API_YAML`, or `CONFIG_URL` cached in KV and in the isolate) and converts requests and
//! responses. On the host the whole crate is empty (gated on `wasm32`), so workspace builds and
//! tests never compile the Workers SDK.
#![cfg(target_arch = "wasm32")]
// The core's ports are not `Send` on wasm32: an isolate has one thread.
#![allow(clippy::arc_with_non_send_sync)]

mod config;
mod fetch;
mod http;
mod runtime;
mod state;
mod stats;

pub use state::GatewayState;

#[worker::event(start)]
fn start() {
    // Panics are logged with their message and location; the runtime answers 500, never HTML.
    console_error_panic_hook::set_once();
}
