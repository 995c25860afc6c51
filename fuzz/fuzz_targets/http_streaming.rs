//! HTTP/1.x with HLS playlists, DASH manifests, MPEG-TS and fMP4 bodies on arbitrary bytes:
//! see `streamscope_fuzz::http_streaming`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| streamscope_fuzz::http_streaming(data));
