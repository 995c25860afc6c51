//! RTP headers, RTCP compounds and the RTP/RTCP dissector on arbitrary datagrams: the input is
//! split into datagrams by its own length bytes and fed in order.
#![no_main]

use libfuzzer_sys::fuzz_target;
use streamscope::dissect::rtp::{self, rtcp};
use streamscope::dissect::{Ctx, DatagramDissector, Signalled};
use streamscope::flow::Direction;
use streamscope::session::latency::LatencyBook;
use streamscope::time::Timestamp;
use streamscope::timeline::Timeline;

fuzz_target!(|data: &[u8]| {
    let _ = rtp::parse_rtp(data);
    let _ = rtcp::parse(data);
    let mut timeline = Timeline::new(1000);
    let mut latency = LatencyBook::default();
    let mut anomalies = 0;
    let mut signalled = Signalled::default();
    let addr = "127.0.0.1:5004".parse().unwrap();
    let mut ctx = Ctx {
        flow: 0,
        timeline: &mut timeline,
        latency: &mut latency,
        show_secrets: false,
        anomalies: &mut anomalies,
        keylog: None,
        client: addr,
        server: addr,
        signalled: &mut signalled,
    };
    let mut d = rtp::RtpDissector::default();
    let mut rest = data;
    let mut t: i64 = 0;
    while let Some((&len, tail)) = rest.split_first() {
        let n = usize::from(len).min(tail.len());
        let (dgram, next) = tail.split_at(n);
        t += i64::from(len) * 1_000_000;
        let dir = if len % 2 == 0 { Direction::C2S } else { Direction::S2C };
        d.on_datagram(&mut ctx, dir, dgram, Timestamp(t));
        rest = next;
    }
    let _ = d.extra_reports(0, false);
});
