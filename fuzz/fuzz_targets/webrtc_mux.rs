//! The WebRTC demultiplexer (STUN/TURN, ChannelData, DTLS, SRTP) on arbitrary datagrams (split
//! by their own length bytes) and as a TCP stream cut at fuzzer-chosen places.
#![no_main]

use libfuzzer_sys::fuzz_target;
use streamscope::dissect::buffered::Buffered;
use streamscope::dissect::stun::{self, message};
use streamscope::dissect::StreamStart;
use streamscope::flow::Direction;
use streamscope::time::Timestamp;

fuzz_target!(|data: &[u8]| {
    let _ = message::parse(data);
    streamscope_fuzz::with_ctx(|ctx| {
        let mut d = (stun::SPEC.datagram.unwrap())();
        let mut rest = data;
        while let Some((&len, tail)) = rest.split_first() {
            let n = usize::from(len).min(tail.len());
            let (dgram, next) = tail.split_at(n);
            let dir = if len % 2 == 0 { Direction::C2S } else { Direction::S2C };
            d.on_datagram(ctx, dir, dgram, Timestamp(i64::from(len)));
            rest = next;
        }
        let _ = d.extra_reports(0, false);
        let mut s = Buffered::new((stun::SPEC.stream.unwrap())(StreamStart::Beginning));
        for piece in data.chunks(7) {
            let _ = s.feed(ctx, Direction::C2S, piece, Timestamp(0));
        }
        let _ = s.dissector().extra_reports(0, false);
    })
});
