//! QUIC datagrams (long/short headers, coalesced packets, Initial decryption and CRYPTO
//! reassembly) and the varint/frame readers on arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use streamscope::dissect::quic::{self, initial};
use streamscope::flow::Direction;
use streamscope::time::Timestamp;

fuzz_target!(|data: &[u8]| {
    let _ = initial::crypto_frames(data);
    let mut p = 0;
    let _ = initial::varint(data, &mut p);
    streamscope_fuzz::with_ctx(|ctx| {
        let mut d = (quic::SPEC.datagram.unwrap())();
        let mut rest = data;
        while let Some((&len, tail)) = rest.split_first() {
            let n = (usize::from(len) * 8).min(tail.len());
            let (dgram, next) = tail.split_at(n);
            let dir = if len % 2 == 0 { Direction::C2S } else { Direction::S2C };
            d.on_datagram(ctx, dir, dgram, Timestamp(i64::from(len)));
            rest = next;
        }
        let _ = d.report(0, false);
    })
});
