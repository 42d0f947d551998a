//! `[keyrings.NAME]` → [`KeyringConfig`]: kinds, secret sources, prefixes, `not_after`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use super::context::{is_label, Ctx};
use super::raw::{RawKeyring, RawSecret};
use super::*;
use crate::auth::KeyringKind;
use crate::secret::Secret;

pub(super) fn keyring(
    ctx: &mut Ctx<'_>,
    name: &str,
    raw: RawKeyring,
) -> Result<KeyringConfig, ConfigError> {
    let base = format!("keyrings.{name}");
    if !is_label(name) {
        return Err(ctx.err(
            &base,
            "keyring names may only use letters, digits, '_', '-' and '.'",
        ));
    }
    let kind = match raw.kind.as_str() {
        "app" => KeyringKind::App,
        "webhook" => KeyringKind::Webhook,
        other => {
            return Err(ctx.err(
                format!("{base}.kind"),
                format!("{other:?} is not one of \"app\", \"webhook\""),
            ))
        }
    };
    if raw.secrets.is_empty() {
        return Err(ctx.err(
            format!("{base}.secrets"),
            "a keyring needs at least one secret",
        ));
    }
    let mut ids = HashSet::new();
    let mut secrets = Vec::with_capacity(raw.secrets.len());
    for (index, secret) in raw.secrets.into_iter().enumerate() {
        let key = format!("{base}.secrets[{index}]");
        if !is_label(&secret.id) {
            return Err(ctx.err(
                format!("{key}.id"),
                "secret ids may only use letters, digits, '_', '-' and '.'",
            ));
        }
        if !ids.insert(secret.id.clone()) {
            return Err(ctx.err(
                format!("{key}.id"),
                format!("duplicate secret id {:?}", secret.id),
            ));
        }
        secrets.push(self::secret(ctx, &key, kind, secret)?);
    }
    Ok(KeyringConfig { kind, secrets })
}

fn secret(
    ctx: &mut Ctx<'_>,
    key: &str,
    kind: KeyringKind,
    raw: RawSecret,
) -> Result<SecretConfig, ConfigError> {
    let (text, source) = match (raw.file, raw.env, raw.value) {
        (Some(file), None, None) => from_file(ctx, key, PathBuf::from(file))?,
        (None, Some(name), None) => {
            let text = (ctx.env)(&name).ok_or_else(|| {
                ctx.err(
                    format!("{key}.env"),
                    format!("environment variable {name} is not set"),
                )
            })?;
            (text, SecretSource::Env(name))
        }
        (None, None, Some(value)) => (value.expose().to_owned(), SecretSource::Inline),
        _ => return Err(ctx.err(key, "set exactly one of file, env, value")),
    };
    let value = checked_value(ctx, key, kind, &text, &source)?;
    let not_after = match raw.not_after {
        None => None,
        Some(text) => Some(unix_seconds(&text).ok_or_else(|| {
            ctx.err(
                format!("{key}.not_after"),
                format!("{text:?} is not an RFC 3339 UTC time such as \"2026-11-23T10:00:00Z\""),
            )
        })?),
    };
    Ok(SecretConfig {
        id: raw.id,
        value: Secret::new(value),
        not_after,
        source,
    })
}

/// A secret from `file = "…"`; a file group or others can read is warned about.
fn from_file(
    ctx: &mut Ctx<'_>,
    key: &str,
    path: PathBuf,
) -> Result<(String, SecretSource), ConfigError> {
    let (text, open_mode) = read_secret_file(&path).map_err(|err| {
        ctx.err(
            format!("{key}.file"),
            format!("cannot read secret file {}: {err}", path.display()),
        )
    })?;
    if let Some(mode) = open_mode {
        // As ssh does for private keys: a secret others can read is no longer secret.
        ctx.warnings.push(format!(
            "{}: {key}.file: secret file {} is accessible to group or others (mode \
             {mode:04o}); restrict it: chmod 600 {}",
            ctx.file.display(),
            path.display(),
            path.display()
        ));
    }
    Ok((text, SecretSource::File(path)))
}

/// The secret in `text`, trimmed, checked against the keyring's family. Errors and warnings
/// name the key and, for a file, the file (the config file is named by every error).
fn checked_value<'t>(
    ctx: &mut Ctx<'_>,
    key: &str,
    kind: KeyringKind,
    text: &'t str,
    source: &SecretSource,
) -> Result<&'t str, ConfigError> {
    // Files and variables usually end with a newline; the secret itself never has one at its ends.
    let value = crate::secret::trimmed(text);
    let where_ = match source {
        SecretSource::File(path) => format!("{key} (from {})", path.display()),
        SecretSource::Env(_) | SecretSource::Inline => key.to_string(),
    };
    if value.is_empty() {
        return Err(ctx.err(key, format!("secret of {where_} is empty")));
    }
    if !value.starts_with(kind.prefix()) {
        return Err(ctx.err(
            key,
            format!(
                "secret of {where_} must start with {} for a {} keyring",
                kind.prefix(),
                kind.as_str()
            ),
        ));
    }
    if value.chars().any(char::is_whitespace) {
        ctx.warnings.push(format!(
            "{}: {where_}: secret contains whitespace, which usually means a copy-paste error",
            ctx.file.display()
        ));
    }
    Ok(value)
}

/// Reads a secret file and, from the same open file, its permission bits when group or others
/// have any access to it (unix only).
fn read_secret_file(path: &Path) -> std::io::Result<(String, Option<u32>)> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let open_mode = open_mode(&file.metadata()?);
    let mut text = String::new();
    file.read_to_string(&mut text)?;
    Ok((text, open_mode))
}

#[cfg(unix)]
fn open_mode(metadata: &std::fs::Metadata) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = metadata.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then_some(mode)
}

#[cfg(not(unix))]
fn open_mode(_: &std::fs::Metadata) -> Option<u32> {
    None
}

fn unix_seconds(text: &str) -> Option<i64> {
    let time = humantime::parse_rfc3339(text.trim()).ok()?;
    let secs = time.duration_since(UNIX_EPOCH).ok()?.as_secs();
    i64::try_from(secs).ok()
}

#[cfg(test)]
mod tests;
