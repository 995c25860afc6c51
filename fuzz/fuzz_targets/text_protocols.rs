//! RTSP, SIP and SDP parsing: the text framing, the Transport header, SDP bodies, and the
//! RTSP and SIP dissectors driven through a minimal context, on arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use streamscope::dissect::{rtsp, sdp, sip, textmsg, Ctx, DatagramDissector, Signalled, StreamDissector, StreamStart};
use streamscope::flow::Direction;
use streamscope::session::latency::LatencyBook;
use streamscope::time::Timestamp;
use streamscope::timeline::Timeline;

fuzz_target!(|data: &[u8]| {
    let _ = textmsg::parse(data);
    let _ = sdp::parse(data);
    let _ = rtsp::transport::parse(&String::from_utf8_lossy(data));
    let mut timeline = Timeline::new(1000);
    let mut latency = LatencyBook::default();
    let mut anomalies = 0;
    let mut signalled = Signalled::default();
    let addr = "127.0.0.1:554".parse().unwrap();
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
    for start in [StreamStart::Beginning, StreamStart::MidStream] {
        let spec = rtsp::SPEC.stream.unwrap();
        let mut d = spec(start);
        let half = data.len() / 2;
        let _ = d.on_data(&mut ctx, Direction::C2S, &data[..half], Timestamp(1));
        let _ = d.on_data(&mut ctx, Direction::S2C, &data[half..], Timestamp(2));
        let _ = d.report(0, false);
        let _ = d.extra_reports(0, false);
    }
    let mut s = (sip::SPEC.datagram.unwrap())();
    s.on_datagram(&mut ctx, Direction::C2S, data, Timestamp(3));
    let _ = s.report(0, false);
});
