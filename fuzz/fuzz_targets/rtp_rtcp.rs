//! RTP headers, RTCP compounds and the RTP/RTCP dissector on arbitrary datagrams: the input is
//! split into datagrams by its own length bytes and fed in order.
#![no_main]

use libfuzzer_sys::fuzz_target;
use streamscope::dissect::rtp::{self, rtcp};
use streamscope::dissect::DatagramDissector;
use streamscope::flow::Direction;
use streamscope::time::Timestamp;

fuzz_target!(|data: &[u8]| {
    let _ = rtp::parse_rtp(data);
    let _ = rtcp::parse(data);
    streamscope_fuzz::with_ctx(|ctx| {
        let mut d = rtp::RtpDissector::default();
        let mut rest = data;
        let mut t: i64 = 0;
        while let Some((&len, tail)) = rest.split_first() {
            let n = usize::from(len).min(tail.len());
            let (dgram, next) = tail.split_at(n);
            t += i64::from(len) * 1_000_000;
            let dir = if len % 2 == 0 { Direction::C2S } else { Direction::S2C };
            d.on_datagram(ctx, dir, dgram, Timestamp(t));
            rest = next;
        }
        let _ = d.extra_reports(0, false);
    })
});
