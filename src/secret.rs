//! Secret strings that never print.
//!
//! A [`Secret`] holds a signing secret (`absec_…` or `whsec_…`). Its `Debug` and `Display` are
//! redacted so that no log line, error or panic message can carry the value.

use std::fmt;

/// A signing secret. The value is reachable only through [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value exactly as given (no trimming: callers decide).
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret value, for computing a MAC. Never log what this returns.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// A secret as read from a file, a variable or a flag: surrounding ASCII whitespace (the
/// trailing newline of a file) removed; the secret itself never starts or ends with any.
pub(crate) fn trimmed(text: &str) -> &str {
    text.trim_matches(|c: char| c.is_ascii_whitespace())
}

/// For `clap`: a command-line value taken as a secret, so argument structs never print it.
pub(crate) fn parse_flag(text: &str) -> Result<Secret, std::convert::Infallible> {
    Ok(Secret::new(text))
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_are_redacted() {
        let secret = Secret::new("absec_do_not_print");
        assert!(!format!("{secret:?}").contains("do_not_print"));
        assert!(!format!("{secret}").contains("do_not_print"));
        assert_eq!(secret.expose(), "absec_do_not_print");
    }
}
