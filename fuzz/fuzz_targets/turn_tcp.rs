//! TURN over TCP (RFC 8656 §12.5): a stream of STUN messages and ChannelData messages on any
//! channel 0x4000–0x7FFF, padded to 4 bytes, with STUN, DTLS, RTP or garbage inside, plus raw
//! garbage, built from the fuzz input and fed to the WebRTC demultiplexer whole and cut at
//! fuzzer-chosen places (both directions, one after the other): the report must not change
//! with the cuts.
#![no_main]

use libfuzzer_sys::fuzz_target;
use streamscope::dissect::buffered::Buffered;
use streamscope::dissect::stun;
use streamscope::dissect::StreamStart;
use streamscope::flow::Direction;
use streamscope::time::Timestamp;

const COOKIE: [u8; 4] = [0x21, 0x12, 0xA4, 0x42];

/// Takes `n` bytes from the input (fewer at its end).
fn take<'a>(data: &mut &'a [u8], n: usize) -> &'a [u8] {
    let (head, tail) = data.split_at(n.min(data.len()));
    *data = tail;
    head
}

fn byte(data: &mut &[u8]) -> u8 {
    take(data, 1).first().copied().unwrap_or(0)
}

/// A STUN message: a type (method and class from the input), the cookie, a transaction id and
/// up to three attributes, with a correct length.
fn stun_message(data: &mut &[u8]) -> Vec<u8> {
    let ty = u16::from_be_bytes([byte(data) & 0x3F, byte(data)]);
    let mut body = Vec::new();
    for _ in 0..byte(data) % 4 {
        let at = u16::from_be_bytes([byte(data), byte(data)]);
        let n = usize::from(byte(data) % 24);
        let v = take(data, n);
        body.extend_from_slice(&at.to_be_bytes());
        body.extend_from_slice(&(v.len() as u16).to_be_bytes());
        body.extend_from_slice(v);
        body.resize(body.len().div_ceil(4) * 4, 0);
    }
    let mut m = ty.to_be_bytes().to_vec();
    m.extend_from_slice(&(body.len() as u16).to_be_bytes());
    m.extend_from_slice(&COOKIE);
    m.extend(take(data, 12).iter().copied().chain(std::iter::repeat(0)).take(12));
    m.extend_from_slice(&body);
    m
}

/// The TURN stream the input describes.
fn build(mut data: &[u8]) -> Vec<u8> {
    let d = &mut data;
    let mut out = Vec::new();
    while !d.is_empty() {
        match byte(d) % 5 {
            0 => out.extend(stun_message(d)),
            op @ 1..=3 => {
                // ChannelData (RFC 8656 §12.4) on any channel of 0x4000–0x7FFF.
                let channel = 0x4000 | (u16::from_be_bytes([byte(d), byte(d)]) & 0x3FFF);
                let inner = match op {
                    1 => stun_message(d),
                    2 => {
                        // A DTLS record header, then bytes.
                        let mut r = vec![22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0];
                        let n = usize::from(byte(d));
                        let body = take(d, n);
                        r.extend_from_slice(&(body.len() as u16).to_be_bytes());
                        r.extend_from_slice(body);
                        r
                    }
                    _ => {
                        let n = usize::from(byte(d));
                        take(d, n).to_vec()
                    }
                };
                out.extend_from_slice(&channel.to_be_bytes());
                out.extend_from_slice(&(inner.len() as u16).to_be_bytes());
                out.extend_from_slice(&inner);
                out.resize(out.len().div_ceil(4) * 4, 0);
            }
            _ => {
                // Garbage between messages.
                let n = usize::from(byte(d) % 16);
                out.extend_from_slice(take(d, n));
            }
        }
    }
    out
}

/// The report after feeding `c2s`, then `s2c`, each cut at `cuts` (positions, taken modulo its
/// length).
fn run(c2s: &[u8], s2c: &[u8], cuts: &[usize]) -> String {
    streamscope_fuzz::with_ctx(|ctx| {
        let mut b = Buffered::new((stun::SPEC.stream.unwrap())(StreamStart::Beginning));
        let mut pieces: Vec<(Direction, &[u8])> = Vec::new();
        for (dir, data) in [(Direction::C2S, c2s), (Direction::S2C, s2c)] {
            let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
            bounds.sort_unstable();
            bounds.push(data.len());
            let mut last = 0;
            for x in bounds {
                if x > last {
                    pieces.push((dir, &data[last..x]));
                    last = x;
                }
            }
        }
        for (dir, p) in pieces {
            let _ = b.feed(ctx, dir, p, Timestamp(0));
        }
        format!("{:?}", b.dissector().extra_reports(0, false))
    })
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let (head, rest) = data.split_at(4);
    let cuts: Vec<usize> = head.iter().skip(1).map(|b| usize::from(*b) * 3).collect();
    let split = usize::from(head[0]) % (rest.len() + 1);
    let (c2s, s2c) = (build(&rest[..split]), build(&rest[split..]));
    assert_eq!(run(&c2s, &s2c, &[]), run(&c2s, &s2c, &cuts), "cutting the stream changed the report");
});
