//! QUIC frames of a decrypted payload, QPACK (Huffman strings, encoder stream instructions,
//! field sections) and HTTP/3 over reassembled streams, on arbitrary bytes.
//!
//! The first byte picks where the input is cut: the QPACK encoder stream is fed whole to one
//! table and in two pieces to another, and both must end with the same insert count and decode
//! the same field section. The input then goes to `frames::parse`, `huffman::decode`, and, read
//! as records (stream id byte, flags byte, length byte, data), to STREAM reassembly and the
//! HTTP/3 dissector.
#![no_main]

use libfuzzer_sys::fuzz_target;
use streamscope::dissect::quic::{frames, h3::H3, huffman, qpack::DynamicTable, streams::Streams};
use streamscope::flow::Direction;
use streamscope::time::Timestamp;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, rest)) = data.split_first() else { return };
    let _ = frames::parse(rest);
    let _ = huffman::decode(rest, 4096);

    // QPACK: whole vs cut encoder stream, then a field section from the rest.
    let half = rest.len() / 2;
    let (enc, section) = rest.split_at(half);
    let at = usize::from(cut) % (enc.len() + 1);
    let mut whole = DynamicTable::default();
    let mut split = DynamicTable::default();
    whole.set_max_capacity(4096);
    split.set_max_capacity(4096);
    let ok_whole = whole.feed_encoder_stream(enc);
    let ok_split = split.feed_encoder_stream(&enc[..at]) && split.feed_encoder_stream(&enc[at..]);
    assert_eq!(ok_whole, ok_split);
    if ok_whole {
        assert_eq!(whole.insert_count(), split.insert_count());
        assert_eq!(whole.decode_section(section), split.decode_section(section));
    }

    // Records: stream id, flags (bit 0 direction, bit 1 FIN, bits 2.. offset step), length.
    streamscope_fuzz::with_ctx(|ctx| {
        let mut streams = Streams::default();
        let mut h3 = H3::default();
        let mut offsets = std::collections::HashMap::new();
        let mut r = rest;
        let mut t = 0i64;
        while let [id, flags, len, tail @ ..] = r {
            let n = usize::from(*len).min(tail.len());
            let (chunk, next) = tail.split_at(n);
            let dir = if flags & 1 == 0 { Direction::C2S } else { Direction::S2C };
            let id = u64::from(*id);
            let off: &mut u64 = offsets.entry((id, dir)).or_default();
            let offset = off.saturating_sub(u64::from(flags >> 2));
            *off = offset + n as u64;
            let d = streams.push(id, dir, offset, chunk, flags & 2 != 0);
            t += 1000;
            if !d.data.is_empty() || d.finished {
                h3.stream_data(ctx, id, dir, &d.data, d.finished, Timestamp(t));
            }
            r = next;
        }
        let _ = h3.summary();
        let _ = h3.extra_reports(0);
    });
});
