#![no_main]
//! Fuzz target `json_body`: the checks live in `stripe_app_gateway::fuzzing::json_body`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| stripe_app_gateway::fuzzing::json_body(data));
