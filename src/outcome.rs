//! What happened to a request, as typed values: the auth decision ([`AuthOutcome`]) and what
//! became of a webhook event ([`WebhookOutcome`]). Metric labels, access-log fields and error
//! codes are spelled here and nowhere else, and each value has a fixed index, so metric
//! children are resolved once per snapshot into arrays (no label lookup per request, no series
//! created by a typo).

use crate::auth::Rejection;

/// Why a request was refused by authentication or authorization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Denial {
    /// The signature did not verify (or the signed body is not what the route requires).
    Signature(Rejection),
    /// An app signature already used within the tolerance window (`replay = "reject"`).
    Replayed,
    /// The verified roles do not satisfy the route.
    RoleDenied,
}

impl Denial {
    /// How many denials there are.
    pub(crate) const COUNT: usize = Rejection::ALL.len() + 2;

    /// The outcome code of the spec, in responses, logs and metric labels.
    pub(crate) fn code(self) -> &'static str {
        match self {
            Denial::Signature(rejection) => rejection.code(),
            Denial::Replayed => "replayed",
            Denial::RoleDenied => "role_denied",
        }
    }

    /// A sentence for humans; never a secret, an expected signature or which secret failed.
    pub(crate) fn message(self) -> &'static str {
        match self {
            Denial::Signature(rejection) => rejection.message(),
            Denial::Replayed => "This signature was already used; sign each request anew.",
            Denial::RoleDenied => "The signed user roles do not allow this request.",
        }
    }

    /// Position among all denials: the rejections in the order of [`Rejection::ALL`], then
    /// `replayed`, `role_denied`.
    fn index(self) -> usize {
        match self {
            Denial::Signature(rejection) => rejection.index(),
            Denial::Replayed => Rejection::ALL.len(),
            Denial::RoleDenied => Rejection::ALL.len() + 1,
        }
    }
}

/// Why authentication did not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Skip {
    /// A CORS preflight, answered by the gateway.
    Preflight,
    /// An `auth = "none"` route.
    None,
}

/// The auth decision of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthOutcome {
    /// Verified and authorized.
    Allowed,
    /// Refused.
    Denied(Denial),
    /// Not authenticated.
    Skipped(Skip),
}

impl AuthOutcome {
    /// How many outcomes there are.
    pub(crate) const COUNT: usize = Denial::COUNT + 3;

    /// Every outcome, in the order of [`AuthOutcome::index`].
    pub(crate) const ALL: [AuthOutcome; AuthOutcome::COUNT] = {
        let mut all = [AuthOutcome::Allowed; AuthOutcome::COUNT];
        let mut i = 0;
        while i < Rejection::ALL.len() {
            all[i + 1] = AuthOutcome::Denied(Denial::Signature(Rejection::ALL[i]));
            i += 1;
        }
        all[Denial::COUNT - 1] = AuthOutcome::Denied(Denial::Replayed);
        all[Denial::COUNT] = AuthOutcome::Denied(Denial::RoleDenied);
        all[Denial::COUNT + 1] = AuthOutcome::Skipped(Skip::Preflight);
        all[Denial::COUNT + 2] = AuthOutcome::Skipped(Skip::None);
        all
    };

    /// Position in [`AuthOutcome::ALL`].
    pub(crate) fn index(self) -> usize {
        match self {
            AuthOutcome::Allowed => 0,
            AuthOutcome::Denied(denial) => 1 + denial.index(),
            AuthOutcome::Skipped(Skip::Preflight) => Denial::COUNT + 1,
            AuthOutcome::Skipped(Skip::None) => Denial::COUNT + 2,
        }
    }

    /// The `result` label and access-log `auth` field: `allowed`, `denied` or `skipped`.
    pub(crate) fn result(self) -> &'static str {
        match self {
            AuthOutcome::Allowed => "allowed",
            AuthOutcome::Denied(_) => "denied",
            AuthOutcome::Skipped(_) => "skipped",
        }
    }

    /// The `reason` label and access-log field.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            AuthOutcome::Allowed => "ok",
            AuthOutcome::Denied(denial) => denial.code(),
            AuthOutcome::Skipped(Skip::Preflight) => "preflight",
            AuthOutcome::Skipped(Skip::None) => "none",
        }
    }
}

/// What became of a verified webhook event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WebhookOutcome {
    /// Delivered: the backend answered 2xx.
    Forwarded = 0,
    /// Not forwarded: its type or livemode is not wanted (acknowledged 200).
    Filtered = 1,
    /// Not forwarded: already delivered (acknowledged 200).
    Duplicate = 2,
    /// Refused 409: the same event is being delivered right now.
    InFlight = 3,
    /// Forwarded, and the backend failed or did not answer 2xx.
    Failed = 4,
}

impl WebhookOutcome {
    /// Every outcome, in the order of their discriminants.
    pub(crate) const ALL: [WebhookOutcome; 5] = [
        WebhookOutcome::Forwarded,
        WebhookOutcome::Filtered,
        WebhookOutcome::Duplicate,
        WebhookOutcome::InFlight,
        WebhookOutcome::Failed,
    ];

    /// The `outcome` label.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            WebhookOutcome::Forwarded => "forwarded",
            WebhookOutcome::Filtered => "filtered",
            WebhookOutcome::Duplicate => "duplicate",
            WebhookOutcome::InFlight => "in_flight",
            WebhookOutcome::Failed => "failed",
        }
    }

    /// Position in [`WebhookOutcome::ALL`].
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_are_the_positions_in_all() {
        for (index, outcome) in AuthOutcome::ALL.into_iter().enumerate() {
            assert_eq!(outcome.index(), index, "{outcome:?}");
        }
        for (index, outcome) in WebhookOutcome::ALL.into_iter().enumerate() {
            assert_eq!(outcome.index(), index, "{outcome:?}");
        }
        let mut labels: Vec<(&str, &str)> = AuthOutcome::ALL
            .iter()
            .map(|outcome| (outcome.result(), outcome.reason()))
            .collect();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), AuthOutcome::COUNT, "labels are distinct");
    }
}
