//! RTSP, SIP and SDP parsing: the text framing, the Transport header, SDP bodies, and the
//! RTSP and SIP dissectors driven through a minimal context, on arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use streamscope::dissect::{rtsp, sdp, sip, textmsg, StreamStart};
use streamscope::flow::Direction;
use streamscope::time::Timestamp;

fuzz_target!(|data: &[u8]| {
    let _ = textmsg::parse(data);
    let _ = sdp::parse(data);
    let _ = rtsp::transport::parse(&String::from_utf8_lossy(data));
    streamscope_fuzz::with_ctx(|ctx| {
        for start in [StreamStart::Beginning, StreamStart::MidStream] {
            let spec = rtsp::SPEC.stream.unwrap();
            let mut d = spec(start);
            let half = data.len() / 2;
            let _ = d.on_data(ctx, Direction::C2S, &data[..half], Timestamp(1));
            let _ = d.on_data(ctx, Direction::S2C, &data[half..], Timestamp(2));
            let _ = d.report(0, false);
            let _ = d.extra_reports(0, false);
        }
        let mut s = (sip::SPEC.datagram.unwrap())();
        s.on_datagram(ctx, Direction::C2S, data, Timestamp(3));
        let _ = s.report(0, false);
    })
});
