//! The Vercel function: `vercel.json` routes every path here, and this serves it through the same
//! core as the native binary (`uni_api_native::vercel`). Built by Vercel's Rust runtime from the
//! `[[bin]]` entry in the top-level Cargo.toml; on the Worker's wasm32 target it is empty.

#[cfg(not(target_arch = "wasm32"))]
fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    uni_api_native::vercel::main()
}

#[cfg(target_arch = "wasm32")]
fn main() {}
