#![no_main]
//! Fuzz target `verify`: the checks live in `stripe_app_gateway::fuzzing::verify`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| stripe_app_gateway::fuzzing::verify(data));
