//! Phase 2, CORS: a preflight on a `cors = true` route is answered here (`204`), never
//! authenticated, never forwarded; every other response of such a route, errors included, is
//! made readable by the UI extension. The rules are in `src/cors.rs`.

use http::request::Parts;
use http::{Response, StatusCode};

use crate::body::GatewayBody;
use crate::snapshot::Route;

/// The gateway's answer when `request` is a preflight on a CORS `route`.
pub(super) fn preflight(route: &Route, request: &Parts) -> Option<Response<GatewayBody>> {
    if !(route.cors && crate::cors::is_preflight(&request.method, &request.headers)) {
        return None;
    }
    let mut response = Response::new(GatewayBody::Empty);
    *response.status_mut() = StatusCode::NO_CONTENT;
    crate::cors::preflight_headers(response.headers_mut(), &route.allow);
    Some(response)
}

/// Marks any response of a CORS route readable by the UI extension.
pub(super) fn expose(route: Option<&Route>, response: &mut Response<GatewayBody>) {
    if route.is_some_and(|route| route.cors) {
        for (name, value) in &crate::cors::ANY_ORIGIN {
            crate::body::set_field(response, name, value);
        }
    }
}
