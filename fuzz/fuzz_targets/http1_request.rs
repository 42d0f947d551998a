#![no_main]
//! Fuzz target `http1_request`: the checks live in `stripe_app_gateway::fuzzing::http1_request`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| stripe_app_gateway::fuzzing::http1_request(data));
