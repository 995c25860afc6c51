//! The RTMP chunk parser fed the same bytes whole and cut at fuzzer-chosen places (through the
//! same engine-side buffering the pipeline uses): the messages must not change. Also AMF0 on
//! arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use streamscope::dissect::rtmp::amf0;
use streamscope::dissect::rtmp::chunk::ChunkReader;
use streamscope::time::Timestamp;

fn run(stream: &[u8], cuts: &[usize], mid: bool) -> Vec<(u8, u32, u32, u32, Vec<u8>)> {
    let mut r = if mid { ChunkReader::mid_stream() } else { ChunkReader::new() };
    let mut got = Vec::new();
    let mut stash: Vec<u8> = Vec::new();
    let mut need = 0usize;
    let mut last = 0;
    let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
    bounds.sort_unstable();
    bounds.push(stream.len());
    for b in bounds {
        if b <= last {
            continue;
        }
        stash.extend_from_slice(&stream[last..b]);
        last = b;
        if stash.len() < need {
            continue;
        }
        let fed = r.feed(
            &stash,
            Timestamp(0),
            &mut |m| got.push((m.type_id, m.csid, m.stream_id, m.timestamp, m.body.to_vec())),
            &mut |_| {},
        );
        stash.drain(..fed.consumed.min(stash.len()));
        need = fed.needed;
    }
    got
}

fuzz_target!(|data: &[u8]| {
    let _ = amf0::decode_all(data);
    if data.len() < 4 {
        return;
    }
    let (head, stream) = data.split_at(4);
    let cuts: Vec<usize> = head.iter().map(|b| usize::from(*b) * 7).collect();
    let whole = run(stream, &[], false);
    let cut = run(stream, &cuts, false);
    assert_eq!(whole, cut, "cutting the stream changed the messages");
    // Mid-way resynchronisation must never panic either.
    let _ = run(stream, &cuts, true);
});
