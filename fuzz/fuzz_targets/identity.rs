#![no_main]
//! Fuzz target `identity`: the checks live in `stripe_app_gateway::fuzzing::identity`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| stripe_app_gateway::fuzzing::identity(data));
