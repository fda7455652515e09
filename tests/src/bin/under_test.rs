//! The `uni-api` command exactly as shipped, built inside the test package so black-box tests
//! can start it as a process (`CARGO_BIN_EXE_uni-api-under-test`): signals, file watching,
//! shutdown and exit codes are only visible from outside.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    uni_api_native::cli::main()
}
