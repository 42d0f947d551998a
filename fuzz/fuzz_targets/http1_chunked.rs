#![no_main]
//! Fuzz target `http1_chunked`: the checks live in `stripe_app_gateway::fuzzing::http1_chunked`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| stripe_app_gateway::fuzzing::http1_chunked(data));
