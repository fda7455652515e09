//! uni-api on Cloudflare Workers: the thin shell that hands each request to the shared core.
//!
//! On the host this crate is empty (the whole file is gated on `wasm32`), so workspace builds and
//! tests never compile the Workers SDK. The full Worker (Durable Object state, KV config cache,
//! streaming fetch client) is its own issue; until then the fetch handler answers with a clear
//! JSON error instead of pretending to serve.
#![cfg(target_arch = "wasm32")]

use worker::{event, Context, Env, Request, Response, Result};

#[event(fetch)]
async fn fetch(_req: Request, _env: Env, _ctx: Context) -> Result<Response> {
    console_error_panic_hook::set_once();
    let body = serde_json::json!({
        "error": {
            "message": "the Cloudflare Worker build of uni-api is not implemented yet; run the native binary",
            "type": "not_implemented",
            "code": "worker_not_ready"
        }
    });
    Ok(Response::from_json(&body)?.with_status(501))
}
