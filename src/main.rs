//! `stripe-app-gateway` binary: see the library's `cli` module.

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(stripe_app_gateway::cli::main())
}
