//! `stripe-app-gateway` binary: see the library's `cli` module.

/// mimalloc: per-thread free lists suit one serving thread per core, and a request's small
/// allocations (header values, the verified body) cost a fraction of glibc's (measured in the
/// README's Performance section).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(stripe_app_gateway::cli::main())
}
