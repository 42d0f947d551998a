//! Replay marks of app signatures. A mark is keyed by the keyring's scope, `t`, and a hash of
//! what was signed (the body in raw-body mode, the rebuilt default payload otherwise), not by
//! the `v1` that matched: during a secret roll Stripe sends one `v1` per secret, and each alone
//! would verify. It is kept until the signature could no longer pass the tolerance check.

use sha2::{Digest, Sha256};

use crate::auth::{default_payload, AppIdentity, VerifiedMode};
use crate::proxy::authenticate::Timing;
use crate::snapshot::ReplayScope;
use crate::store::{Claim, Held, SeenStore};

/// Bytes of a mark's key: scope, `t`, SHA-256 of the signed content.
const KEY_LEN: usize = 8 + 8 + 32;

/// A signed message recorded as used, with the claim that lets this request (and only it)
/// take the record back.
#[derive(Debug)]
pub(crate) struct ReplayMark<'s> {
    store: &'s dyn SeenStore,
    key: [u8; KEY_LEN],
    claim: Claim,
}

impl<'s> ReplayMark<'s> {
    /// Records the message `identity` verified as used under `scope`, or `Err` when it was
    /// used before (on any route of the keyring).
    pub(super) fn take(
        store: &'s dyn SeenStore,
        scope: &ReplayScope,
        identity: &AppIdentity,
        body: &[u8],
        Timing { now, tolerance }: Timing,
    ) -> Result<Self, Held> {
        let timestamp = identity.verified.timestamp;
        let digest = match identity.mode {
            VerifiedMode::RawBody => Sha256::digest(body),
            VerifiedMode::ReconstructedDefault => {
                Sha256::digest(default_payload(&identity.user_id, &identity.account_id))
            }
        };
        let key = key(scope, timestamp, &digest.into());
        let until = timestamp.saturating_add(tolerance).saturating_add(1);
        let claim = store.claim(&key, Held::Done, now, until)?;
        Ok(ReplayMark { store, key, claim })
    }

    /// Gives the mark back: the signature may be used again.
    pub(super) fn release(self) {
        self.store.release(&self.key, self.claim);
    }
}

/// The store key of a mark.
pub(super) fn key(scope: &ReplayScope, timestamp: i64, digest: &[u8; 32]) -> [u8; KEY_LEN] {
    let mut key = [0u8; KEY_LEN];
    let (head, rest) = key.split_at_mut(8);
    let (time, hash) = rest.split_at_mut(8);
    head.copy_from_slice(scope);
    time.copy_from_slice(&timestamp.to_be_bytes());
    hash.copy_from_slice(digest);
    key
}
