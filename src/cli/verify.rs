//! `verify`: the outcome code of one header + body against one or more secrets.

use std::path::PathBuf;

use clap::Args;
use sha2::{Digest, Sha256};

use super::{now_or, Kind, EXIT_USAGE};
use crate::auth::{
    verify_app, verify_webhook, AppMode, Keyring, KeyringSecret, Rejection, SignatureHeader,
};
use crate::secret::Secret;

#[derive(Debug, Args)]
pub(super) struct VerifyArgs {
    /// app or webhook.
    #[arg(long, value_enum)]
    kind: Kind,
    /// A secret of the keyring; repeat for several (rotation).
    #[arg(long = "secret", required = true, value_parser = crate::secret::parse_flag)]
    secrets: Vec<Secret>,
    /// The Stripe-Signature value; omitted means the request had none.
    #[arg(long)]
    header: Option<String>,
    /// The exact request body.
    #[arg(long)]
    body_file: PathBuf,
    /// Unix seconds to verify at (default: the clock).
    #[arg(long)]
    now: Option<i64>,
    /// Tolerance: seconds (`300`) or a duration (`300s`, `5m`).
    #[arg(long, default_value = "300")]
    tolerance: String,
    /// app: raw_body, default or raw_body_or_default.
    #[arg(long, default_value = "raw_body_or_default")]
    app_signature: String,
    /// Also print why: timestamp skew, which secrets were tried, the body hash.
    #[arg(long)]
    explain: bool,
}

pub(super) fn verify(args: &VerifyArgs) -> u8 {
    let inputs = match Inputs::from_args(args) {
        Ok(inputs) => inputs,
        Err(message) => {
            eprintln!("error: {message}");
            return EXIT_USAGE;
        }
    };
    let header = args.header.as_deref().unwrap_or("");
    let outcome = match args.kind {
        Kind::App => verify_app(
            header,
            &inputs.body,
            &inputs.keyring,
            inputs.mode,
            inputs.now,
            inputs.tolerance,
        )
        .map(|identity| (identity.verified.secret_index, Some(identity.mode.as_str()))),
        Kind::Webhook => verify_webhook(
            header,
            &inputs.body,
            &inputs.keyring,
            inputs.now,
            inputs.tolerance,
        )
        .map(|v| (v.secret_index, None)),
    };
    say!("{}", outcome.map_or_else(Rejection::code, |_| "ok"));
    if args.explain {
        explain(header, &inputs, outcome.ok());
    }
    u8::from(outcome.is_err())
}

struct Inputs {
    keyring: Keyring,
    body: Vec<u8>,
    now: i64,
    tolerance: i64,
    mode: AppMode,
}

impl Inputs {
    fn from_args(args: &VerifyArgs) -> Result<Inputs, String> {
        let kind = args.kind.keyring_kind();
        let mut secrets = Vec::new();
        for (index, value) in args.secrets.iter().enumerate() {
            if value.expose().trim().is_empty() || !value.expose().starts_with(kind.prefix()) {
                return Err(format!(
                    "--secret #{} must be a non-empty {} secret",
                    index + 1,
                    kind.prefix()
                ));
            }
            secrets.push(KeyringSecret::new(
                format!("secret-{}", index + 1),
                value,
                None,
            ));
        }
        let body = std::fs::read(&args.body_file)
            .map_err(|err| format!("cannot read {}: {err}", args.body_file.display()))?;
        let tolerance = parse_tolerance(&args.tolerance)?;
        let mode = AppMode::parse(&args.app_signature).ok_or_else(|| {
            format!(
                "--app-signature {:?} is not raw_body, default or raw_body_or_default",
                args.app_signature
            )
        })?;
        Ok(Inputs {
            keyring: Keyring::new(kind, secrets),
            body,
            now: now_or(args.now),
            tolerance,
            mode,
        })
    }
}

fn parse_tolerance(text: &str) -> Result<i64, String> {
    let seconds = match text.parse::<i64>() {
        Ok(seconds) => seconds,
        Err(_) => humantime::parse_duration(text)
            .map_err(|_| format!("--tolerance {text:?} is not seconds or a duration"))?
            .as_secs() as i64,
    };
    if seconds <= 0 {
        return Err("--tolerance must be greater than zero".into());
    }
    Ok(seconds)
}

/// Never prints a secret or an expected signature: ids, counts, skew and the body hash only.
fn explain(header: &str, inputs: &Inputs, matched: Option<(usize, Option<&str>)>) {
    match SignatureHeader::parse(header) {
        Ok(parsed) => {
            let age = inputs.now - parsed.timestamp();
            say!(
                "timestamp: {} (age {age}s; tolerance {}s both ways)",
                parsed.timestamp(),
                inputs.tolerance
            );
            say!("v1 signatures in header: {}", parsed.signatures().len());
        }
        Err(rejection) => say!("header: {}", rejection.message()),
    }
    let ids: Vec<&str> = inputs
        .keyring
        .secrets()
        .iter()
        .map(KeyringSecret::id)
        .collect();
    say!("secrets tried: {}", ids.join(", "));
    match matched {
        Some((index, mode)) => {
            say!("matched: {}", ids[index]);
            if let Some(mode) = mode {
                say!("verified as: {mode}");
            }
        }
        None => say!("matched: none"),
    }
    let digest = Sha256::digest(&inputs.body);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    say!("body: {} bytes, sha256 {hex}", inputs.body.len());
}
