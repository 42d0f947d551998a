//! Phase 1, route: the request path (never the query) against the snapshot's compiled routes
//! (`src/routes.rs`: exact beats prefix, the longest prefix wins, paths a backend could read
//! differently match nothing), then the route's methods.

use http::Method;

use crate::error::GatewayError;
use crate::snapshot::{Route, Snapshot};

/// The route `path` belongs to, if any.
pub(super) fn find<'s>(snapshot: &'s Snapshot, path: &str) -> Option<&'s Route> {
    snapshot
        .router
        .find(path)
        .and_then(|index| snapshot.routes.get(index))
}

/// `405` with the route's `Allow` unless it accepts `method`.
pub(super) fn check_method(route: &Route, method: &Method) -> Result<(), GatewayError> {
    if route.allows(method) {
        Ok(())
    } else {
        Err(GatewayError::MethodNotAllowed(route.allow.clone()))
    }
}
