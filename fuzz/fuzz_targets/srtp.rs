//! SRTP/SRTCP unprotection with a fixed key: arbitrary packets, protect/unprotect round
//! trips with a flipped bit, and the RTP dissector's per-flow SRTP state.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| streamscope_fuzz::srtp(data));
