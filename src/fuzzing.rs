//! The checks behind the fuzz targets in `fuzz/`, one function per target.
//!
//! Each function takes the raw bytes libFuzzer produced, runs a parser of attacker (or
//! operator) input and asserts the invariants its documentation promises, beyond "no panic".
//! A failed check panics, which is what libFuzzer reports as a crash. The fuzz targets are
//! one-line calls into these functions, and `cargo test` replays every committed corpus and
//! regression input through the same functions (`src/fuzzing/tests.rs`), so a crash found once
//! stays fixed.
//!
//! Not part of the gateway's interface: hidden from the documentation and free to change.

mod config;
mod http1;
mod json;
mod signature;
mod verify;

pub use self::config::config;
pub use self::http1::{http1_chunked, http1_request, http1_response};
pub use self::json::json_body;
pub use self::signature::signature_header;
pub use self::verify::{identity, verify};

/// A fuzz check: the input bytes in, a panic on a broken invariant.
pub type Check = fn(&[u8]);

/// Every check by the name of its fuzz target (and of its `fuzz/corpus/` and
/// `fuzz/regressions/` directories).
pub const TARGETS: [(&str, Check); 8] = [
    ("signature_header", signature_header),
    ("json_body", json_body),
    ("identity", identity),
    ("verify", verify),
    ("config", config),
    ("http1_request", http1_request),
    ("http1_response", http1_response),
    ("http1_chunked", http1_chunked),
];

#[cfg(test)]
mod tests;
