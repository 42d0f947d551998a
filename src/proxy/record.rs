//! Phase 8, record: the facts the other phases hand over, written once as an access-log line
//! and as metrics when the response head is ready (or, if the client went away first, when
//! the request is dropped: status 499). A sink: it decides nothing, every label and field comes
//! from the typed facts it was given.

use std::time::{Duration, Instant};

use http::request::Parts;
use http::{Method, StatusCode, Uri};

use super::request_id::RequestId;

use crate::accesslog::{AccessLog, Entry};
use crate::auth::Verified;
use crate::metrics::{RequestMetrics, NO_ROUTE};
use crate::outcome::{AuthOutcome, WebhookOutcome};
use crate::snapshot::{Route, RouteKeyring};
use crate::upstream::UpstreamFailure;

/// Status recorded for a request whose client left before the answer (not sent: nobody is
/// there to read it).
const CLIENT_CLOSED: StatusCode = match StatusCode::from_u16(499) {
    Ok(status) => status,
    Err(_) => StatusCode::BAD_REQUEST,
};

/// Facts gathered along the pipeline, borrowing from the request's snapshot `'s`. Holds no
/// secret and no signature.
pub(crate) struct Record<'s> {
    request_id: RequestId,
    method: Method,
    path: LoggedPath,
    route: Option<&'s Route>,
    auth: Option<AuthOutcome>,
    account: Option<String>,
    /// The keyring and secret that verified, and the signature's age in seconds.
    verified: Option<(&'s RouteKeyring, usize, i64)>,
    upstream: Option<(Option<StatusCode>, Duration)>,
    upstream_failure: Option<UpstreamFailure>,
    webhook: Option<WebhookOutcome>,
    /// The code of the error the request was answered with (or `client_closed`).
    error: Option<&'static str>,
    /// Where [`Record::finish`] writes, and when the request began; taken when it is written.
    sink: Option<(&'s RequestMetrics, &'s AccessLog, Instant)>,
}

/// The request's path as its access-log line shows it: copied when short, which most are (no
/// allocation, and no shared count on the target's bytes, which cloning them would make);
/// otherwise the target itself, shared.
enum LoggedPath {
    Short { len: u8, bytes: [u8; SHORT_PATH] },
    Long(Uri),
}

/// The longest path [`LoggedPath`] copies.
const SHORT_PATH: usize = 62;

impl LoggedPath {
    fn of(uri: &Uri) -> LoggedPath {
        let path = uri.path().as_bytes();
        match u8::try_from(path.len()) {
            Ok(len) if path.len() <= SHORT_PATH => {
                let mut bytes = [0u8; SHORT_PATH];
                if let Some(slot) = bytes.get_mut(..path.len()) {
                    slot.copy_from_slice(path);
                }
                LoggedPath::Short { len, bytes }
            }
            _ => LoggedPath::Long(uri.clone()),
        }
    }

    /// The bytes of the path's `str`.
    fn as_bytes(&self) -> &[u8] {
        match self {
            LoggedPath::Short { len, bytes } => bytes.get(..usize::from(*len)).unwrap_or_default(),
            LoggedPath::Long(uri) => uri.path().as_bytes(),
        }
    }
}

impl<'s> Record<'s> {
    /// A record of `request`, known as `request_id`, written to `log` (and the route's
    /// metrics, or `unmatched`) when finished, or when dropped unfinished because the client
    /// went away (status 499).
    pub(crate) fn new(
        request: &Parts,
        request_id: RequestId,
        unmatched: &'s RequestMetrics,
        log: &'s AccessLog,
        started: Instant,
    ) -> Record<'s> {
        Record {
            request_id,
            method: request.method.clone(),
            path: LoggedPath::of(&request.uri),
            route: None,
            auth: None,
            account: None,
            verified: None,
            upstream: None,
            upstream_failure: None,
            webhook: None,
            error: None,
            sink: Some((unmatched, log, started)),
        }
    }

    /// The request id.
    pub(crate) fn request_id(&self) -> &RequestId {
        &self.request_id
    }

    /// The request id as text.
    pub(crate) fn request_id_str(&self) -> &str {
        self.request_id.as_str()
    }

    /// The request matched `route`.
    pub(crate) fn route(&mut self, route: &'s Route) {
        self.route = Some(route);
    }

    /// The auth decision (a later one replaces an earlier one).
    pub(crate) fn auth(&mut self, outcome: AuthOutcome) {
        self.auth = Some(outcome);
    }

    /// A secret of `keyring` verified the request at `now`, as `verified` tells.
    pub(crate) fn verified(&mut self, keyring: &'s RouteKeyring, verified: &Verified, now: i64) {
        let age = now.saturating_sub(verified.timestamp);
        self.verified = Some((keyring, verified.secret_index, age));
    }

    /// The account the request acts for.
    pub(crate) fn account(&mut self, account: Option<String>) {
        self.account = account;
    }

    /// The upstream answered with `status` (or failed: `None`) after `took`.
    pub(crate) fn upstream(&mut self, status: Option<StatusCode>, took: Duration) {
        self.upstream = Some((status, took));
    }

    /// The upstream failed this way.
    pub(crate) fn upstream_failed(&mut self, failure: UpstreamFailure) {
        self.upstream_failure = Some(failure);
    }

    /// What became of a webhook event.
    pub(crate) fn webhook(&mut self, outcome: WebhookOutcome) {
        self.webhook = Some(outcome);
    }

    /// The request was answered with the error whose code is `code`.
    pub(crate) fn error(&mut self, code: &'static str) {
        self.error = Some(code);
    }

    /// Writes the metrics (the route's, or `unmatched`) and the access-log line.
    pub(crate) fn finish(&mut self, status: StatusCode) {
        let Some((unmatched, log, started)) = self.sink.take() else {
            return;
        };
        let elapsed = started.elapsed();
        self.count(status, elapsed, unmatched);
        let secret = self
            .verified
            .and_then(|(keyring, index, _)| keyring.keyring.secrets().get(index).map(|s| s.id()));
        log.write(&Entry {
            request_id: self.request_id.as_bytes(),
            route: self.route.map_or(NO_ROUTE, |route| &route.id),
            method: self.method.as_str(),
            path: self.path.as_bytes(),
            status: status.as_u16(),
            duration: elapsed,
            upstream_status: self
                .upstream
                .and_then(|(status, _)| status.map(|s| s.as_u16())),
            upstream: self.upstream.map(|(_, took)| took),
            auth: self.auth.map(AuthOutcome::result),
            reason: self.auth.map(AuthOutcome::reason),
            error: self.error,
            account: self.account.as_deref(),
            secret,
        });
    }

    fn count(&self, status: StatusCode, elapsed: Duration, unmatched: &RequestMetrics) {
        if let Some((keyring, index, age)) = self.verified {
            keyring.metrics.matched(index, age);
        }
        let Some(route) = self.route else {
            unmatched.answered(status, elapsed);
            return;
        };
        let metrics = &route.metrics;
        metrics.requests.answered(status, elapsed);
        if let Some(outcome) = self.auth {
            metrics.auth(outcome);
        }
        if let Some(failure) = self.upstream_failure {
            metrics.upstream_error(failure);
        }
        if let Some((_, took)) = self.upstream {
            metrics.upstream_answered(took);
        }
        if let Some(outcome) = self.webhook {
            metrics.webhook(outcome);
        }
    }
}

impl Drop for Record<'_> {
    fn drop(&mut self) {
        // The client went away before the response head: nginx's 499, "client closed request".
        if self.sink.is_some() {
            self.error.get_or_insert("client_closed");
            self.finish(CLIENT_CLOSED);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_logged_path_is_the_targets_path_whatever_its_length() {
        let long = format!("/api/{}", "a".repeat(200));
        for target in [
            "/".to_string(),
            "/api/x?secret=query".to_string(),
            format!("/{}", "b".repeat(SHORT_PATH - 1)),
            format!("/{}", "c".repeat(SHORT_PATH)),
            long,
            "/%E2%82%AC/\"q\"".to_string(),
        ] {
            let uri: Uri = target.parse().expect("uri");
            let logged = LoggedPath::of(&uri);
            assert_eq!(logged.as_bytes(), uri.path().as_bytes(), "{target}");
            let short = uri.path().len() <= SHORT_PATH;
            assert_eq!(
                matches!(logged, LoggedPath::Short { .. }),
                short,
                "{target}"
            );
        }
    }
}
