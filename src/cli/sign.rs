//! `sign`: a header Stripe would send, for local testing.

use std::path::PathBuf;

use clap::Args;

use super::{now_or, read_secret, Kind, EXIT_USAGE};
use crate::auth::signature::signature_header;
use crate::secret::Secret;

#[derive(Debug, Args)]
pub(super) struct SignArgs {
    /// app (UI-extension request, absec_ secret) or webhook (whsec_ secret).
    #[arg(long, value_enum)]
    kind: Kind,
    /// The secret value.
    #[arg(long, conflicts_with = "secret_file", value_parser = crate::secret::parse_flag)]
    secret: Option<Secret>,
    /// A file holding the secret.
    #[arg(long)]
    secret_file: Option<PathBuf>,
    /// app: the user id to sign.
    #[arg(long)]
    user_id: Option<String>,
    /// app: the account id to sign.
    #[arg(long)]
    account_id: Option<String>,
    /// app: a JSON object of extra fields, signed as fetchStripeSignature(payload) does
    /// (its keys first, then user_id, account_id). webhook: the exact event body.
    #[arg(long, conflicts_with = "body_file")]
    payload: Option<String>,
    /// Sign the exact bytes of this file as the body.
    #[arg(long)]
    body_file: Option<PathBuf>,
    /// Unix seconds to sign with (default: now).
    #[arg(long)]
    timestamp: Option<i64>,
    /// app: write the body to this file instead of printing it as the second line.
    #[arg(long)]
    body_out: Option<PathBuf>,
}

pub(super) fn sign(args: &SignArgs) -> u8 {
    match run(args) {
        Ok(()) => 0,
        Err(message) => {
            eprintln!("error: {message}");
            EXIT_USAGE
        }
    }
}

fn run(args: &SignArgs) -> Result<(), String> {
    let secret = read_secret(args.secret.as_ref(), args.secret_file.as_deref())?;
    let prefix = args.kind.keyring_kind().prefix();
    if !secret.expose().starts_with(prefix) {
        return Err(format!(
            "a {} secret starts with {prefix}",
            args.kind.keyring_kind().as_str()
        ));
    }
    let timestamp = now_or(args.timestamp);
    if timestamp < 0 {
        return Err("--timestamp must be Unix seconds".into());
    }
    let body = body(args)?;
    say!("{}", signature_header(&[&secret], timestamp, &body));
    if args.kind == Kind::App {
        match &args.body_out {
            Some(path) => std::fs::write(path, &body)
                .map_err(|err| format!("cannot write {}: {err}", path.display()))?,
            None => say!("{}", String::from_utf8_lossy(&body)),
        }
    }
    Ok(())
}

fn body(args: &SignArgs) -> Result<Vec<u8>, String> {
    if let Some(path) = &args.body_file {
        return std::fs::read(path).map_err(|err| format!("cannot read {}: {err}", path.display()));
    }
    match args.kind {
        Kind::Webhook => args
            .payload
            .clone()
            .map(String::into_bytes)
            .ok_or_else(|| "webhook: give --body-file or --payload".to_string()),
        Kind::App => {
            let (Some(user), Some(account)) = (&args.user_id, &args.account_id) else {
                return Err("app: give --user-id and --account-id (or --body-file)".into());
            };
            app_body(args.payload.as_deref(), user, account)
        }
    }
}

/// `JSON.stringify({...payload, user_id, account_id})`: payload keys in their order, compact.
fn app_body(payload: Option<&str>, user_id: &str, account_id: &str) -> Result<Vec<u8>, String> {
    let ids = crate::auth::json::default_payload(user_id, account_id);
    let Some(payload) = payload else {
        return Ok(ids);
    };
    let fields: serde_json::Map<String, serde_json::Value> = serde_json::from_str(payload)
        .map_err(|err| format!("--payload must be a JSON object: {err}"))?;
    if fields.contains_key("user_id") || fields.contains_key("account_id") {
        return Err("--payload must not contain user_id or account_id: they are added".into());
    }
    let compact = compact_object(payload)?;
    if compact == "{}" {
        return Ok(ids);
    }
    // `{…payload}` minus its closing brace, a comma, then the ids object minus its opening brace.
    let mut body = compact.as_bytes()[..compact.len() - 1].to_vec();
    body.push(b',');
    body.extend_from_slice(&ids[1..]);
    Ok(body)
}

/// The payload text with insignificant whitespace removed, keys kept in their written order.
fn compact_object(text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in text.trim().chars() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !c.is_whitespace() {
            out.push(c);
        }
    }
    if out.starts_with('{') && out.ends_with('}') {
        Ok(out)
    } else {
        Err("--payload must be a JSON object".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_body_puts_payload_keys_first() {
        let body = app_body(
            Some(r#"{ "transaction_id": "ipi_1", "amount": 100 }"#),
            "usr_1",
            "acct_1",
        )
        .expect("body");
        assert_eq!(
            String::from_utf8(body).expect("utf8"),
            r#"{"transaction_id":"ipi_1","amount":100,"user_id":"usr_1","account_id":"acct_1"}"#
        );
        let body = app_body(None, "usr_1", "acct_1").expect("body");
        assert_eq!(
            String::from_utf8(body).expect("utf8"),
            r#"{"user_id":"usr_1","account_id":"acct_1"}"#
        );
        assert!(app_body(Some(r#"{"user_id":"x"}"#), "usr_1", "acct_1").is_err());
        assert!(app_body(Some("[1]"), "usr_1", "acct_1").is_err());
    }
}
