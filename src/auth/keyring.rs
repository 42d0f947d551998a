//! The signing secrets of one route (rules 10–11) and the constant-time search for a `v1`
//! that one of them produced (rules 6–7).
//!
//! Each [`KeyringSecret`] builds its HMAC-SHA256 key once, at construction, so the hot path
//! never re-derives the key and never allocates; each secret computes its MAC once per request,
//! then compares it with every `v1` in constant time.

use std::fmt;
use std::sync::Arc;

use super::mac::{is_hex_of, new_key, sign};
use super::signature::SignatureHeader;
use crate::secret::Secret;

/// Which family of secrets a keyring holds. The families never mix (rule 11).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyringKind {
    /// Stripe App secrets (`absec_…`), for UI-extension requests.
    App,
    /// Webhook endpoint secrets (`whsec_…`).
    Webhook,
}

impl KeyringKind {
    /// The prefix every secret of this family starts with: `"absec_"` or `"whsec_"`.
    pub fn prefix(self) -> &'static str {
        match self {
            KeyringKind::App => "absec_",
            KeyringKind::Webhook => "whsec_",
        }
    }

    /// The lowercase name used in configuration and metric labels: `"app"` or `"webhook"`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyringKind::App => "app",
            KeyringKind::Webhook => "webhook",
        }
    }
}

/// One secret of a keyring, with its HMAC key prepared once, at construction (the hot path
/// never re-derives it).
///
/// `Debug` shows only the id and the expiry, never the secret or the MAC state.
#[derive(Clone)]
pub struct KeyringSecret {
    id: Arc<str>,
    not_after: Option<i64>,
    key: ring::hmac::Key,
}

impl KeyringSecret {
    /// Prepares `secret` (the whole string, prefix included, is the HMAC key: rule 6).
    /// `not_after` is the Unix second at which the secret stops verifying; `None` = never.
    pub fn new(id: impl Into<Arc<str>>, secret: &Secret, not_after: Option<i64>) -> Self {
        KeyringSecret {
            id: id.into(),
            not_after,
            key: new_key(secret),
        }
    }

    /// The configured id of this secret (safe to log).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The Unix second at which this secret stops verifying, if any.
    pub fn not_after(&self) -> Option<i64> {
        self.not_after
    }

    /// Whether the secret verifies at `now`: always without `not_after`, otherwise while
    /// `now < not_after` (it no longer verifies exactly at `not_after`).
    pub fn is_active(&self, now: i64) -> bool {
        self.not_after.is_none_or(|not_after| now < not_after)
    }

    /// HMAC-SHA256 of `<t>.<payload>` under this secret.
    fn mac(&self, timestamp_text: &str, payload: &[u8]) -> [u8; 32] {
        sign(&self.key, timestamp_text, payload)
    }
}

impl fmt::Debug for KeyringSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyringSecret")
            .field("id", &self.id)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

/// The secrets one route accepts (new and old during a rotation), all of one [`KeyringKind`].
#[derive(Clone)]
pub struct Keyring {
    kind: KeyringKind,
    secrets: Vec<KeyringSecret>,
}

/// A `v1` that matched: which secret, which header entry, and the decoded signature bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Match {
    pub(crate) secret_index: usize,
    pub(crate) signature_index: usize,
    pub(crate) signature: [u8; 32],
}

impl Keyring {
    /// A keyring of `kind` holding `secrets` in priority order. Checking that each secret has
    /// the family's prefix and is not blank is the configuration layer's job (rules 10–11).
    pub fn new(kind: KeyringKind, secrets: Vec<KeyringSecret>) -> Self {
        Keyring { kind, secrets }
    }

    /// The family of the secrets.
    pub fn kind(&self) -> KeyringKind {
        self.kind
    }

    /// The secrets, in the order given to [`Keyring::new`].
    pub fn secrets(&self) -> &[KeyringSecret] {
        &self.secrets
    }

    /// First active secret (at `now`) whose HMAC-SHA256 over `<t digits>.<payload>` equals any
    /// v1 of the header; returns (secret index, index of the matching v1 in
    /// `header.signatures()`).
    pub fn find_match(
        &self,
        header: &SignatureHeader<'_>,
        payload: &[u8],
        now: i64,
    ) -> Option<(usize, usize)> {
        self.matching(header, payload, now)
            .map(|found| (found.secret_index, found.signature_index))
    }

    /// [`Keyring::find_match`] with the decoded signature, for `Verified`.
    pub(crate) fn matching(
        &self,
        header: &SignatureHeader<'_>,
        payload: &[u8],
        now: i64,
    ) -> Option<Match> {
        for (secret_index, secret) in self.secrets.iter().enumerate() {
            if !secret.is_active(now) {
                continue;
            }
            // One MAC per secret; each candidate then costs a constant-time comparison.
            let expected = secret.mac(header.timestamp_text(), payload);
            for (signature_index, text) in header.signatures().iter().enumerate() {
                // Compared as text with our lowercase hex: uppercase, non-hex or wrong-length
                // values never equal it, so they are skipped rather than treated as malformed
                // (rule 7).
                if is_hex_of(text, &expected) {
                    return Some(Match {
                        secret_index,
                        signature_index,
                        signature: expected,
                    });
                }
            }
        }
        None
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.secrets.iter().map(KeyringSecret::id).collect();
        f.debug_struct("Keyring")
            .field("kind", &self.kind)
            .field("secrets", &ids)
            .finish()
    }
}

#[cfg(test)]
mod tests;
