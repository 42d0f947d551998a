//! [`ConfigError`]: which file, which key, what is wrong; and parser messages turned into one,
//! with the value blanked (it may be a secret written in the wrong place) and the line and
//! column of a syntax error.

use std::path::{Path, PathBuf};

/// A configuration problem: which file, which key, what is wrong with the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {key}: {reason}", file.display())]
pub struct ConfigError {
    /// The configuration file. A problem with a file it names (a secret) names that file in
    /// `reason`, so that the message says which config, which key and which file.
    pub file: PathBuf,
    /// Dotted key path such as `routes[1].keyring`, or `(file)` for the file as a whole.
    pub key: String,
    /// What is wrong, without ever quoting a secret value.
    pub reason: String,
}

/// The error of a file that does not parse as the configuration's TOML.
pub(super) fn parse_error(
    path: &Path,
    text: &str,
    err: &serde_path_to_error::Error<toml::de::Error>,
) -> ConfigError {
    let key = err.path().to_string();
    let mut reason = redact_values(&first_line(&err.inner().to_string()));
    if let Some(span) = err.inner().span() {
        reason = format!("{} ({reason})", location(text, span.start));
    }
    ConfigError {
        file: path.to_path_buf(),
        key: if key == "." { "(file)".into() } else { key },
        reason,
    }
}

/// `line L, column C` of byte `offset` in `text`.
fn location(text: &str, offset: usize) -> String {
    let before = &text.as_bytes()[..offset.min(text.len())];
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let column = before.iter().rev().take_while(|b| **b != b'\n').count() + 1;
    format!("line {line}, column {column}")
}

/// Parser messages quote the offending value (`invalid type: string "…"`), which may be a
/// secret written in the wrong place: every double-quoted part is blanked. Field names, which
/// serde quotes with backticks, stay.
fn redact_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut quoted = false;
    for c in message.chars() {
        if c == '"' {
            if quoted {
                out.push_str("…\"");
            } else {
                out.push('"');
            }
            quoted = !quoted;
        } else if !quoted {
            out.push(c);
        }
    }
    out
}

/// toml's messages span several lines with a source excerpt; the key path already says where.
fn first_line(message: &str) -> String {
    let mut lines = message.lines().filter(|line| {
        let line = line.trim();
        !(line.is_empty()
            || line.starts_with("TOML parse error")
            || line.starts_with('|')
            || line.chars().next().is_some_and(|c| c.is_ascii_digit()))
    });
    lines.next().unwrap_or(message).trim().to_string()
}
