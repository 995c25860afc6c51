//! TLS records and hellos on arbitrary bytes, whole and cut at fuzzer-chosen places: the
//! report must not change with the cuts. Also the key log parser.
#![no_main]

use libfuzzer_sys::fuzz_target;
use streamscope::dissect::buffered::Buffered;
use streamscope::dissect::tls::{self, hello, keylog};
use streamscope::dissect::StreamStart;
use streamscope::flow::Direction;
use streamscope::time::Timestamp;

fn run(data: &[u8], cuts: &[usize]) -> String {
    streamscope_fuzz::with_ctx(|ctx| {
        let mut b = Buffered::new((tls::SPEC.stream.unwrap())(StreamStart::Beginning));
        let mut last = 0;
        let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
        bounds.sort_unstable();
        bounds.push(data.len());
        for x in bounds {
            if x > last {
                let _ = b.feed(ctx, Direction::C2S, &data[last..x], Timestamp(0));
                last = x;
            }
        }
        format!("{:?}", b.dissector().report(0, false))
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = hello::parse(data, true);
    let _ = hello::parse(data, false);
    let _ = keylog::KeyLog::parse(&String::from_utf8_lossy(data));
    if data.len() < 3 {
        return;
    }
    let (head, rest) = data.split_at(3);
    let cuts: Vec<usize> = head.iter().map(|b| usize::from(*b) * 5).collect();
    assert_eq!(run(rest, &[]), run(rest, &cuts), "cutting the stream changed the TLS report");
});
