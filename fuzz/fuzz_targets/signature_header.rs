#![no_main]
//! Fuzz target `signature_header`: the checks live in `stripe_app_gateway::fuzzing::signature_header`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| stripe_app_gateway::fuzzing::signature_header(data));
