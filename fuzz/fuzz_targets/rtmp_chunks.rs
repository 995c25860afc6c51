//! The RTMP chunk parser, whole vs cut (see `rtmp_chunks` in src/lib.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| streamscope_fuzz::rtmp_chunks(data));
