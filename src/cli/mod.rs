//! Command line (SPEC §4): `run` (default), `check`, `sign`, `verify`.
//!
//! Exit codes: 0 ok, 1 runtime failure or verification failed, 2 usage, 78 configuration error.

/// Writes a line to standard output; a reader that went away (`| head -1`) ends the output
/// quietly instead of panicking.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

mod check;
mod sign;
mod verify;

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};

use crate::config::Config;
use crate::secret::Secret;

/// Exit code for a bad configuration (EX_CONFIG of sysexits.h).
pub(crate) const EXIT_CONFIG: u8 = 78;
/// Exit code for bad usage.
pub(crate) const EXIT_USAGE: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "stripe-app-gateway",
    version,
    about = "Verifies Stripe App and webhook signatures in front of any backend"
)]
struct Cli {
    /// Configuration file.
    #[arg(
        long,
        global = true,
        env = "STRIPE_APP_GATEWAY_CONFIG",
        default_value = "config/gateway.toml"
    )]
    config: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway (the default).
    Run,
    /// Load and validate the configuration and every secret, print a summary.
    Check,
    /// Print a valid Stripe-Signature header (and, for app, the body to send), for testing.
    Sign(sign::SignArgs),
    /// Verify a Stripe-Signature header against a body; prints the outcome code.
    Verify(verify::VerifyArgs),
}

/// Which kind of signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Kind {
    /// A Stripe App UI-extension request (`absec_` secrets).
    App,
    /// A webhook delivery (`whsec_` secrets).
    Webhook,
}

impl Kind {
    fn keyring_kind(self) -> crate::auth::KeyringKind {
        match self {
            Kind::App => crate::auth::KeyringKind::App,
            Kind::Webhook => crate::auth::KeyringKind::Webhook,
        }
    }
}

/// Parses the arguments and runs the command; returns the process exit code.
pub fn main() -> u8 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return if err.use_stderr() { EXIT_USAGE } else { 0 };
        }
    };
    match cli.command.unwrap_or(Command::Run) {
        Command::Run => run(&cli.config),
        Command::Check => check::check(&cli.config),
        Command::Sign(args) => sign::sign(&args),
        Command::Verify(args) => verify::verify(&args),
    }
}

fn load(path: &std::path::Path) -> Result<Config, u8> {
    Config::load(path).map_err(|err| {
        eprintln!("error: {err}");
        EXIT_CONFIG
    })
}

fn run(path: &std::path::Path) -> u8 {
    let config = match load(path) {
        Ok(config) => config,
        Err(code) => return code,
    };
    crate::telemetry::init(&config.log);
    let runtime = match runtime_for(&config) {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the runtime: {err}");
            return 1;
        }
    };
    runtime.block_on(async move {
        let signals = match crate::signal::Signals::install() {
            Ok(signals) => signals,
            Err(err) => {
                eprintln!("error: cannot install signal handlers: {err}");
                return 1;
            }
        };
        let clock = Arc::new(crate::clock::SystemClock);
        let running = match crate::run::start(config, prometheus::Registry::new(), clock).await {
            Ok(running) => running,
            Err(err) => {
                tracing::error!("{err:#}");
                eprintln!("error: {err:#}");
                return 1;
            }
        };
        crate::signal::run_until_shutdown(running, signals).await;
        0
    })
}

/// The control runtime: signals, the admin listener, reloads, the access-log flusher. Requests
/// are served by threads of their own (one per CPU the process may use, or `server.workers`),
/// which `run::start` starts.
fn runtime_for(_config: &Config) -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// Reads a secret given as `--secret` or `--secret-file`, trimmed like config secrets.
fn read_secret(value: Option<&Secret>, file: Option<&std::path::Path>) -> Result<Secret, String> {
    let text = match (value, file) {
        (Some(value), None) => value.expose().to_string(),
        (None, Some(file)) => std::fs::read_to_string(file)
            .map_err(|err| format!("cannot read {}: {err}", file.display()))?,
        _ => return Err("give exactly one of --secret, --secret-file".into()),
    };
    Ok(Secret::new(crate::secret::trimmed(&text)))
}

/// `--timestamp`/`--now`: Unix seconds, default the clock.
fn now_or(value: Option<i64>) -> i64 {
    use crate::clock::Clock;
    value.unwrap_or_else(|| crate::clock::SystemClock.now())
}
