#![no_main]
//! Fuzz target `config`: the checks live in `stripe_app_gateway::fuzzing::config`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| stripe_app_gateway::fuzzing::config(data));
