//! `config` (being written).

/// Placeholder.
pub fn config(_data: &[u8]) {}
