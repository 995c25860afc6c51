//! SCTP over DTLS and WebRTC data channels: the chunk walk, DCEP, the DTLS record parser, and
//! one SCTP association fed the same packets twice (see `streamscope_fuzz::sctp`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| streamscope_fuzz::sctp(data));
