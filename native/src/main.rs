//! `uni-api`: run the gateway natively (see `uni_api_native::cli`).

// The gateway allocates small buffers per request; mimalloc serves them faster than glibc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    uni_api_native::cli::main()
}
