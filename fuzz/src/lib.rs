//! The bodies of streamscope's fuzz targets, shared by the cargo-fuzz binaries in
//! `fuzz_targets/` and by the replay test `tests/fuzz_regressions.rs` (which includes this file
//! as a module), so a saved input always goes through exactly the code path that found it.
//!
//! Every function takes arbitrary bytes, must never panic, and panics (through `assert!`) when
//! an invariant of the code under test is broken.

use std::ops::ControlFlow;
use streamscope::capture::file::read_capture;
use streamscope::capture::LinkType;
use streamscope::dissect::{ProbeInput, REGISTRY};
use streamscope::flow::reassembly::{Chunk, ReasmLimits, Reassembler};
use streamscope::flow::Direction;
use streamscope::time::Timestamp;
use streamscope::wire::{self, transport, tunnel, Network};
use streamscope::{Config, Engine};

/// The link types `packet_decode` picks from with its first byte.
pub const LINK_TYPES: [u32; 9] = [0, 1, 12, 101, 108, 113, 228, 229, 276];

/// Runs the target named `target` (a fuzz target's name) on `data`; `false` for an unknown name.
pub fn run(target: &str, data: &[u8]) -> bool {
    match target {
        "packet_decode" => packet_decode(data),
        "reassembly" => reassembly(data),
        "reassembly_split" => reassembly_split(data),
        "probes" => probes(data),
        "pipeline" => pipeline(data),
        "rtmp_chunks" => rtmp_chunks(data),
        "srtp" => srtp(data),
        "sctp" => sctp(data),
        "http_streaming" => http_streaming(data),
        _ => return false,
    }
    true
}

/// A small cursor over the fuzz input; reads past the end yield `None`.
struct Bytes<'a>(&'a [u8]);

impl<'a> Bytes<'a> {
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes([self.u8()?, self.u8()?]))
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes([self.u8()?, self.u8()?, self.u8()?, self.u8()?]))
    }

    fn i64(&mut self) -> Option<i64> {
        Some((u64::from(self.u32()?) << 32 | u64::from(self.u32()?)) as i64)
    }

    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.0)
    }
}

// ---------------------------------------------------------------------------------------------
// packet_decode

/// Link layer → IP → TCP/UDP on one frame, plus the GTP-U tunnel parser on the same bytes.
pub fn packet_decode(data: &[u8]) {
    let Some((&first, frame)) = data.split_first() else { return };
    let link = LinkType(LINK_TYPES[usize::from(first) % LINK_TYPES.len()]);
    if let Ok(Network::Ip(ip)) = wire::decode_network(link, frame) {
        assert!(ip.declared_len >= ip.payload.len(), "declared length below the captured payload");
        match transport::decode(ip.proto, ip.payload, ip.declared_len) {
            Ok(wire::Transport::Tcp { payload, payload_len, .. })
            | Ok(wire::Transport::Udp { payload, payload_len, .. }) => {
                assert!(payload.len() <= ip.payload.len());
                assert!(payload_len >= payload.len(), "declared payload below the captured one");
            }
            Ok(wire::Transport::Other(_)) | Err(_) => {}
        }
    }
    for bytes in [data, frame] {
        if let Some(inner) = tunnel::gtp_u_inner(bytes) {
            assert!(inner.len() <= bytes.len());
            let _ = wire::decode_ip(inner, 0);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// reassembly

/// The byte every segment carries at sequence number `seq`: segments are slices of one virtual
/// stream, so each delivered byte can be checked against the position it was delivered at.
pub fn stream_byte(seq: u32) -> u8 {
    (seq.wrapping_mul(0x9E37_79B1) >> 24) as u8
}

/// Longest segment the `reassembly` target pushes.
const MAX_SEG: usize = 40;

/// What the `reassembly` target expects, kept beside the reassembler.
#[derive(Default)]
struct Model {
    origin: Option<u32>,
    /// Stream offset reached by what was handed on (data + gaps).
    pos: u64,
    data: u64,
    gaps: u64,
    /// Highest segment end pushed (stream offset).
    max_push_end: u64,
    /// Highest offset acknowledged.
    max_ack: u64,
}

impl Model {
    /// Stream offset of `seq`, as the reassembler's wrap-safe rule defines it.
    fn offset(&self, seq: u32) -> Option<i64> {
        let origin = self.origin?;
        let next = origin.wrapping_add(self.pos as u32);
        Some(self.pos as i64 + i64::from(seq.wrapping_sub(next) as i32))
    }

    fn take(&mut self, c: Chunk<'_>) {
        match c {
            Chunk::Data(d, _) => {
                assert!(!d.is_empty(), "empty data chunk at offset {}", self.pos);
                let origin = self.origin.unwrap_or(0);
                for (i, &b) in d.iter().enumerate() {
                    let at = self.pos + i as u64;
                    assert_eq!(b, stream_byte(origin.wrapping_add(at as u32)), "wrong byte delivered at offset {at}");
                }
                self.pos += d.len() as u64;
                self.data += d.len() as u64;
            }
            Chunk::Gap(n) => {
                assert!(n > 0, "empty gap at offset {}", self.pos);
                self.pos += n;
                self.gaps += n;
            }
        }
    }
}

/// A sequence of small operations on one [`Reassembler`] with tight caps; checks that each
/// delivered byte is the right one, that data + gaps never pass what was pushed or acked,
/// that the buffer respects its cap, and that a flush leaves nothing behind.
pub fn reassembly(data: &[u8]) {
    let mut b = Bytes(data);
    let Some(cfg) = b.u8() else { return };
    let limits = ReasmLimits {
        max_buffered_bytes: 16 + usize::from(cfg & 0x3f),
        max_segments: 1 + usize::from(cfg >> 6),
        ooo_threshold_ns: 3_000_000,
    };
    let base = b.u32().unwrap_or(0);
    let mut r = Reassembler::default();
    let mut m = Model::default();
    let mut ts = Timestamp(0);
    let mut payload = Vec::with_capacity(MAX_SEG);
    while let Some(op) = b.u8() {
        match op % 8 {
            // Push near the next expected byte (or the base before the stream starts).
            0..=3 => {
                let (Some(delta), Some(len)) = (b.u8(), b.u8()) else { break };
                let near = m.origin.map_or(base, |o| o.wrapping_add(m.pos as u32));
                let seq = near.wrapping_add(i32::from(delta as i8) as u32);
                push(&mut r, &mut m, &limits, &mut payload, seq, len, op & 0x10 != 0, &mut ts, op >> 5);
            }
            // Push anywhere in sequence space (wrap, far ahead, far behind).
            4 => {
                let (Some(seq), Some(len)) = (b.u32(), b.u8()) else { break };
                push(&mut r, &mut m, &limits, &mut payload, seq, len, op & 0x10 != 0, &mut ts, op >> 5);
            }
            5 => {
                let Some(d) = b.u16() else { break };
                let near = m.origin.map_or(base, |o| o.wrapping_add(m.pos as u32));
                let ack =
                    if op & 0x80 != 0 { u32::from(d) << 16 } else { near.wrapping_add(i32::from(d as i16) as u32) };
                if let Some(off) = m.offset(ack) {
                    m.max_ack = m.max_ack.max(off.max(0) as u64);
                }
                r.peer_acked(ack, &mut |c| m.take(c));
            }
            6 => {
                r.flush(&mut |c| m.take(c));
                assert_eq!(r.buffered(), 0, "bytes still buffered after flush");
                assert!(m.pos >= m.max_push_end, "flush stopped at {} below pushed end {}", m.pos, m.max_push_end);
            }
            _ => {
                // Capture time jumps (any value: pcapng timestamps can be anything).
                let Some(t) = b.i64() else { break };
                ts = Timestamp(t);
            }
        }
        assert!(
            m.pos <= m.max_push_end.max(m.max_ack),
            "handed on up to {} but only {} pushed / {} acked",
            m.pos,
            m.max_push_end,
            m.max_ack
        );
        assert!(
            r.buffered() <= limits.max_buffered_bytes + MAX_SEG,
            "{} bytes buffered, cap {} + one segment of at most {MAX_SEG}",
            r.buffered(),
            limits.max_buffered_bytes
        );
        assert_eq!(m.gaps, r.stats.gap_bytes, "gap chunks and gap counter disagree");
    }
    r.flush(&mut |c| m.take(c));
    assert_eq!(r.buffered(), 0, "bytes still buffered after flush");
    assert!(m.pos >= m.max_push_end, "flush stopped at {} below pushed end {}", m.pos, m.max_push_end);
    assert_eq!(m.data + m.gaps, m.pos);
    assert_eq!(m.gaps, r.stats.gap_bytes, "gap chunks and gap counter disagree");
}

#[allow(clippy::too_many_arguments)]
fn push(
    r: &mut Reassembler,
    m: &mut Model,
    limits: &ReasmLimits,
    payload: &mut Vec<u8>,
    seq: u32,
    len: u8,
    fin: bool,
    ts: &mut Timestamp,
    step: u8,
) {
    let len = usize::from(len) % (MAX_SEG + 1);
    payload.clear();
    payload.extend((0..len as u32).map(|i| stream_byte(seq.wrapping_add(i))));
    *ts = Timestamp(ts.0.saturating_add(i64::from(step) * 1_000_000));
    if m.origin.is_none() {
        m.origin = Some(seq);
    }
    if len > 0 {
        if let Some(off) = m.offset(seq) {
            m.max_push_end = m.max_push_end.max((off + len as i64).max(0) as u64);
        }
    }
    r.push(seq, payload, fin, *ts, limits, None, &mut |c| m.take(c));
}

// ---------------------------------------------------------------------------------------------
// reassembly_split

/// Feeds one reassembler `segments` (stream offsets into `stream`), flushes, and returns the
/// concatenated data; panics on a gap.
fn reassemble(isn: u32, stream: &[u8], segments: &[(usize, usize)]) -> Vec<u8> {
    let limits = ReasmLimits::default();
    let mut r = Reassembler::default();
    r.start_at(isn);
    let mut out = Vec::with_capacity(stream.len());
    let mut take = |c: Chunk<'_>| match c {
        Chunk::Data(d, _) => out.extend_from_slice(d),
        Chunk::Gap(n) => panic!("gap of {n} bytes although every byte was pushed"),
    };
    for (i, &(start, end)) in segments.iter().enumerate() {
        let seg = stream.get(start..end).unwrap_or(&[]);
        let fin = end == stream.len();
        let ts = Timestamp(i as i64 * 1_000_000);
        r.push(isn.wrapping_add(start as u32), seg, fin, ts, &limits, None, &mut take);
    }
    r.flush(&mut take);
    assert_eq!(r.buffered(), 0);
    out
}

/// The same byte stream as one segment, cut at fuzzer-chosen places in order, the same cuts in
/// a fuzzer-chosen order, and with overlaps and retransmissions: the delivered bytes must be
/// the stream every time.
pub fn reassembly_split(data: &[u8]) {
    let mut b = Bytes(data);
    let (Some(isn), Some(n), Some(overlap)) = (b.u32(), b.u8(), b.u8()) else { return };
    let n = usize::from(n % 128);
    let mut lens = Vec::with_capacity(n);
    let mut keys = Vec::with_capacity(n);
    for _ in 0..n {
        let (Some(l), Some(k)) = (b.u8(), b.u8()) else { return };
        lens.push(usize::from(l));
        keys.push(k);
    }
    let stream = b.rest();
    if stream.is_empty() {
        return;
    }
    // Cuts: segment lengths from the input (0 means a 1-byte segment); the last takes the rest.
    let mut cuts = Vec::new();
    let mut at = 0;
    for &l in &lens {
        if at >= stream.len() {
            break;
        }
        let end = (at + l.max(1)).min(stream.len());
        cuts.push((at, end));
        at = end;
    }
    if at < stream.len() {
        cuts.push((at, stream.len()));
    }
    let whole = reassemble(isn, stream, &[(0, stream.len())]);
    assert_eq!(whole, stream, "one segment");
    let in_order = reassemble(isn, stream, &cuts);
    assert_eq!(in_order, stream, "in-order cuts {cuts:?}");
    // A permutation: stable sort of the segments by a fuzzer-chosen key.
    let mut order: Vec<usize> = (0..cuts.len()).collect();
    order.sort_by_key(|&i| keys.get(i).copied().unwrap_or(0));
    let shuffled: Vec<(usize, usize)> = order.iter().filter_map(|&i| cuts.get(i).copied()).collect();
    let out_of_order = reassemble(isn, stream, &shuffled);
    assert_eq!(out_of_order, stream, "out-of-order segments {shuffled:?}");
    // Overlaps and retransmissions: each segment may reach into the next by up to `overlap`
    // bytes, and the segments whose key is odd are sent again at the end.
    let ext = usize::from(overlap % 64);
    let mut messy: Vec<(usize, usize)> = shuffled
        .iter()
        .enumerate()
        .map(|(j, &(s, e))| (s, (e + ext * usize::from(j % 2 == 0)).min(stream.len())))
        .collect();
    let again: Vec<(usize, usize)> = order
        .iter()
        .filter(|&&i| keys.get(i).is_some_and(|k| k % 2 == 1))
        .filter_map(|&i| cuts.get(i).copied())
        .collect();
    messy.extend(again);
    let overlapped = reassemble(isn, stream, &messy);
    assert_eq!(overlapped, stream, "overlapping segments {messy:?}");
}

// ---------------------------------------------------------------------------------------------
// probes

/// Every registered protocol's probe on the input, over TCP and UDP, both directions, with and
/// without a previous datagram / other direction.
pub fn probes(data: &[u8]) {
    let Some((&split, rest)) = data.split_first() else { return };
    let (other, this) = rest.split_at(usize::from(split).min(rest.len()));
    for spec in REGISTRY {
        for udp in [false, true] {
            for dir in [Direction::C2S, Direction::S2C] {
                for (d, o, prev) in [(rest, &[][..], None), (this, other, None), (this, &[][..], Some(other))] {
                    let input = ProbeInput { dir, data: d, other: if udp { &[] } else { o }, prev, udp };
                    let _ = (spec.probe)(&input);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// pipeline

/// The whole engine on arbitrary capture bytes, then both reports.
pub fn pipeline(data: &[u8]) {
    let mut engine = Engine::new(Config::default());
    let res = read_capture(data, |p| {
        engine.process(p);
        ControlFlow::Continue(())
    });
    engine.finish();
    if let Ok(summary) = res {
        let json = streamscope::report::json::build(&engine, &summary);
        let _ = json.to_string();
        let _ = streamscope::report::text::render(&engine, &summary);
    }
}

/// The RTMP chunk parser fed the same bytes whole and cut at fuzzer-chosen places (through the
/// same NeedMore buffering the engine uses): the messages must not change. Also AMF0.
pub fn rtmp_chunks(data: &[u8]) {
    let _ = streamscope::dissect::rtmp::amf0::decode_all(data);
    if data.len() < 4 {
        return;
    }
    let (head, stream) = data.split_at(4);
    let cuts: Vec<usize> = head.iter().map(|b| usize::from(*b) * 7).collect();
    let whole = rtmp_run(stream, &[], false);
    let cut = rtmp_run(stream, &cuts, false);
    assert_eq!(whole, cut, "cutting the stream changed the messages");
    // Mid-way resynchronisation must never panic either.
    let _ = rtmp_run(stream, &cuts, true);
}

fn rtmp_run(stream: &[u8], cuts: &[usize], mid: bool) -> Vec<(u8, u32, u32, u32, Vec<u8>)> {
    let mut r = if mid {
        streamscope::dissect::rtmp::chunk::ChunkReader::mid_stream()
    } else {
        streamscope::dissect::rtmp::chunk::ChunkReader::new()
    };
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

// ---------------------------------------------------------------------------------------------
// srtp

/// The fixed master key and salt bytes of the `srtp` target (a prefix per profile).
const SRTP_KEY: [u8; 44] = [
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12,
    0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x51, 0x75, 0x69, 0x64, 0x20, 0x70,
    0x72, 0x6f, 0x20, 0x71, 0x75, 0x6f,
];

/// SRTP/SRTCP unprotection with a fixed key. The first byte picks the profile (bits 0–1),
/// RTP or RTCP (bit 2), the E flag for protecting (bit 3) and the rollover counter (bits
/// 4–7); the next two bytes a bit to flip. The rest is (1) unprotected as it is, (2) protected
/// then unprotected, which must give it back, and with the chosen bit flipped must fail, and
/// (3) cut into length-prefixed datagrams for the RTP dissector's SRTP state with the key
/// given as `--srtp-key any`.
pub fn srtp(data: &[u8]) {
    use streamscope::dissect::srtp::{transform::Transform, KeySpec, MasterKey, Selector, PROFILES};
    let mut b = Bytes(data);
    let (Some(sel), Some(flip)) = (b.u8(), b.u16()) else { return };
    let rest = b.rest();
    let profile = PROFILES[usize::from(sel & 3)];
    let key = MasterKey::from_concat(profile, &SRTP_KEY[..profile.key_len() + profile.salt_len()]).unwrap();
    let t = Transform::new(&key).unwrap();
    let (rtcp, encrypt, roc) = (sel & 4 != 0, sel & 8 != 0, u32::from(sel >> 4));
    let mut out = Vec::new();
    let _ = t.unprotect_rtp(rest, roc, &mut out);
    let _ = t.unprotect_rtcp(rest, &mut out);
    let protected = if rtcp { t.protect_rtcp(rest, u32::from(flip), encrypt) } else { t.protect_rtp(rest, roc) };
    if let Some(mut p) = protected {
        let back = |p: &[u8], out: &mut Vec<u8>| {
            if rtcp {
                t.unprotect_rtcp(p, out).map(|_| ())
            } else {
                t.unprotect_rtp(p, roc, out)
            }
        };
        assert_eq!(back(&p, &mut out), Ok(()), "a protected packet must unprotect");
        assert_eq!(out, rest, "unprotect(protect(x)) == x");
        let bit = usize::from(flip) % (p.len() * 8);
        p[bit / 8] ^= 1 << (bit % 8);
        assert!(back(&p, &mut out).is_err(), "a flipped bit (#{bit}) must fail authentication");
    }
    let spec = KeySpec { selector: Selector::default(), key };
    let mut rtp = streamscope::dissect::rtp::RtpDissector::default();
    with_ctx_keys(&[spec], |ctx| {
        let mut rest = rest;
        while let Some((&len, tail)) = rest.split_first() {
            let n = usize::from(len).min(tail.len());
            let (dgram, next) = tail.split_at(n);
            let dir = if len % 2 == 0 { Direction::C2S } else { Direction::S2C };
            streamscope::dissect::DatagramDissector::on_datagram(&mut rtp, ctx, dir, dgram, Timestamp(0));
            rest = next;
        }
    });
    let _ = streamscope::dissect::DatagramDissector::extra_reports(&rtp, 0, false);
}

// ---------------------------------------------------------------------------------------------
// sctp

/// SCTP over DTLS and WebRTC data channels (RFC 8261, RFC 8831, RFC 8832). The whole input goes
/// to the DCEP parser, the chunk walk (and each chunk's typed reader), and the DTLS record
/// parser with and without a CID length. Then it is cut into packets (a byte: bit 0 the
/// direction, bit 1 "fix the CRC32c", bits 2–7 and the next byte the length) for one SCTP
/// association, fed twice: every DATA TSN of the second pass is a retransmission, so no message
/// may be delivered twice.
pub fn sctp(data: &[u8]) {
    use streamscope::dissect::dtls::record;
    use streamscope::dissect::sctp::{chunks, dcep, Association};
    let _ = dcep::parse(data);
    let mut walked = chunks::COMMON_HEADER;
    for item in chunks::chunks(data) {
        if let chunks::Item::Chunk(c) = item {
            walked += 4 + c.value.len();
            assert!(walked <= data.len(), "a chunk past the packet");
            walked = walked.div_ceil(4) * 4;
            let _ = (chunks::data(&c), chunks::init(&c), chunks::sack(&c), chunks::forward_tsn(&c), chunks::cause(&c));
            assert!(chunks::reset_streams(&c, 8).len() <= 8);
        }
    }
    let _ = chunks::probe(data);
    for cid in [None, Some(0), Some(4), Some(17)] {
        let total: usize = record::records(data, cid).map(|r| r.wire_len()).sum();
        assert!(total <= data.len(), "records past the datagram");
    }
    let mut b = Bytes(data);
    let mut packets: Vec<(Direction, Vec<u8>)> = Vec::new();
    while let (Some(head), Some(lo)) = (b.u8(), b.u8()) {
        let len = usize::from(head >> 2) << 8 | usize::from(lo);
        let take = len.min(b.0.len());
        let (p, rest) = b.0.split_at(take);
        b.0 = rest;
        let mut p = p.to_vec();
        if head & 2 != 0 && p.len() >= 12 {
            let crc = chunks::crc32c(&p);
            p[8..12].copy_from_slice(&crc.to_le_bytes());
        }
        packets.push((if head & 1 == 0 { Direction::C2S } else { Direction::S2C }, p));
    }
    let (once, twice) = with_ctx(|ctx| {
        let mut a = Association::default();
        for (i, (dir, p)) in packets.iter().enumerate() {
            a.packet(ctx, *dir, p, Timestamp(i as i64));
        }
        let once = a.report(0);
        for (dir, p) in &packets {
            a.packet(ctx, *dir, p, Timestamp(1 << 40));
        }
        (once, a.report(0))
    });
    assert_eq!(once["messages"], twice["messages"], "a retransmitted TSN delivered a message again");
    assert_eq!(once["bytes"], twice["bytes"]);
}

/// Runs `f` with a dissector context over throwaway state (timeline, latency book, signalling).
pub fn with_ctx<R>(f: impl FnOnce(&mut streamscope::dissect::Ctx<'_>) -> R) -> R {
    with_ctx_keys(&[], f)
}

/// [`with_ctx`] with `--srtp-key` options.
pub fn with_ctx_keys<R>(
    srtp_keys: &[streamscope::dissect::srtp::KeySpec],
    f: impl FnOnce(&mut streamscope::dissect::Ctx<'_>) -> R,
) -> R {
    let mut parts = streamscope::dissect::Standalone::new(1000);
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], 5004).into();
    f(&mut parts.ctx(0, addr, addr, srtp_keys))
}

/// HTTP/1.x streaming: the first byte picks where the stream is cut; the rest is a request
/// stream (first half, client to server) and a response stream (second half) for the HTTP
/// dissector through the engine's buffering, fed whole and cut — the report (exchanges,
/// playlists, manifests, segment contents) must not change with the cut. The same bytes also go
/// to the HLS playlist and DASH MPD parsers, the fMP4 readers, and the MPEG-TS reader whole and
/// in two pieces (whose summaries must agree).
pub fn http_streaming(data: &[u8]) {
    use streamscope::dissect::buffered::Buffered;
    use streamscope::dissect::http::{self, dash, fmp4, hls, ts::TsReader};
    use streamscope::dissect::StreamStart;
    let Some((&cut, rest)) = data.split_first() else { return };
    let _ = hls::parse(rest, "/live/a.m3u8");
    let _ = dash::parse(rest, "/dash/a.mpd");
    let tracks = fmp4::init_tracks(rest);
    let _ = fmp4::fragments(rest);
    let _ = fmp4::summary(rest, &tracks);
    let k = usize::from(cut) * rest.len() / 256;
    let (a, b) = rest.split_at(k);
    let mut whole = TsReader::default();
    whole.feed(rest);
    let mut pieces = TsReader::default();
    pieces.feed(a);
    pieces.feed(b);
    assert_eq!(whole.summary(), pieces.summary(), "MPEG-TS summary depends on where the body was cut");
    let half = rest.len() / 2;
    let (req, resp) = rest.split_at(half);
    let run = |cut_at: Option<usize>| {
        with_ctx(|ctx| {
            let mut d = Buffered::new((http::SPEC.stream.unwrap_or_else(|| unreachable!()))(StreamStart::Beginning));
            let _ = d.feed(ctx, Direction::C2S, req, Timestamp(1_000));
            match cut_at {
                Some(c) => {
                    let c = c.min(resp.len());
                    let _ = d.feed(ctx, Direction::S2C, &resp[..c], Timestamp(2_000));
                    let _ = d.feed(ctx, Direction::S2C, &resp[c..], Timestamp(2_000));
                }
                None => {
                    let _ = d.feed(ctx, Direction::S2C, resp, Timestamp(2_000));
                }
            }
            d.end(ctx, Direction::S2C, Timestamp(3_000));
            // The entries written as text are the values serialised, byte for byte.
            let values = d.dissector().report(7, false);
            let mut texts: Vec<Vec<u8>> = Vec::new();
            assert!(d.dissector().report_text(7, false, &mut |t| texts.push(t.to_vec())));
            let serialised: Vec<Vec<u8>> = values.iter().map(|v| v.to_string().into_bytes()).collect();
            assert_eq!(texts, serialised, "HTTP entries as text differ from the values");
            format!("{:?}{:?}", d.dissector().report(0, false), d.dissector().extra_reports(0, false))
        })
    };
    assert_eq!(run(None), run(Some(k / 2)), "cutting the response stream changed the HTTP report");
}
