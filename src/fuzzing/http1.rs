//! http1 (being written).

/// Placeholder.
pub fn http1_request(_data: &[u8]) {}

/// Placeholder.
pub fn http1_response(_data: &[u8]) {}

/// Placeholder.
pub fn http1_chunked(_data: &[u8]) {}
