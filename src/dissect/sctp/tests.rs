//! Unit tests of the SCTP association: fragments, retransmissions, I-DATA, DCEP, resets, and
//! bad input.

use super::*;
use crate::dissect::{Ctx, Standalone};

fn run(f: impl FnOnce(&mut Ctx<'_>)) -> Vec<Event> {
    let mut parts = Standalone::new(10_000);
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], 5000).into();
    f(&mut parts.ctx(3, addr, addr, &[]));
    parts.timeline.events().to_vec()
}

/// A packet with the given chunks (type, flags, value) and a correct CRC32c.
fn packet(vtag: u32, chunks: &[(u8, u8, Vec<u8>)]) -> Vec<u8> {
    let mut p = vec![0x13, 0x88, 0x13, 0x88];
    p.extend_from_slice(&vtag.to_be_bytes());
    p.extend_from_slice(&[0; 4]);
    for (t, f, v) in chunks {
        p.extend_from_slice(&[*t, *f]);
        p.extend_from_slice(&((v.len() + 4) as u16).to_be_bytes());
        p.extend_from_slice(v);
        p.resize(p.len().div_ceil(4) * 4, 0);
    }
    let crc = chunks::crc32c(&p);
    p[8..12].copy_from_slice(&crc.to_le_bytes());
    p
}

/// A DATA chunk value.
fn data(tsn: u32, stream: u16, ssn: u16, ppid: u32, payload: &[u8]) -> Vec<u8> {
    let mut v = tsn.to_be_bytes().to_vec();
    v.extend_from_slice(&stream.to_be_bytes());
    v.extend_from_slice(&ssn.to_be_bytes());
    v.extend_from_slice(&ppid.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// An I-DATA chunk value.
fn idata(tsn: u32, stream: u16, mid: u32, ppid_or_fsn: u32, payload: &[u8]) -> Vec<u8> {
    let mut v = tsn.to_be_bytes().to_vec();
    v.extend_from_slice(&stream.to_be_bytes());
    v.extend_from_slice(&[0, 0]);
    v.extend_from_slice(&mid.to_be_bytes());
    v.extend_from_slice(&ppid_or_fsn.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

fn open(label: &str, protocol: &str) -> Vec<u8> {
    let mut v = vec![3, 0x81, 0, 7, 0, 0, 0, 5];
    v.extend_from_slice(&(label.len() as u16).to_be_bytes());
    v.extend_from_slice(&(protocol.len() as u16).to_be_bytes());
    v.extend_from_slice(label.as_bytes());
    v.extend_from_slice(protocol.as_bytes());
    v
}

fn init(tag: u32, tsn: u32) -> Vec<u8> {
    let mut v = tag.to_be_bytes().to_vec();
    v.extend_from_slice(&[0, 1, 0, 0, 0xff, 0xff, 0xff, 0xff]);
    v.extend_from_slice(&tsn.to_be_bytes());
    v
}

#[test]
fn open_fragmented_messages_and_retransmissions() {
    let mut a = Association::default();
    let c2s = Direction::C2S;
    let ev = run(|ctx| {
        a.packet(ctx, c2s, &packet(0, &[(1, 0, init(0xAAAA, 100))]), Timestamp(1_000));
        a.packet(ctx, Direction::S2C, &packet(0xAAAA, &[(2, 0, init(0xBBBB, 500))]), Timestamp(2_000));
        a.packet(ctx, c2s, &packet(0xBBBB, &[(10, 0, vec![1, 2, 3, 4])]), Timestamp(3_000));
        a.packet(ctx, Direction::S2C, &packet(0xAAAA, &[(11, 0, vec![])]), Timestamp(4_000));
        // DCEP OPEN in two fragments (B, then E), the second arriving first.
        let o = open("a-long-label", "chat-v1");
        let (x, y) = o.split_at(5);
        a.packet(ctx, c2s, &packet(0xBBBB, &[(0, 1, data(101, 2, 0, 50, y))]), Timestamp(5_000));
        a.packet(ctx, c2s, &packet(0xBBBB, &[(0, 2, data(100, 2, 0, 50, x))]), Timestamp(6_000));
        a.packet(ctx, Direction::S2C, &packet(0xAAAA, &[(0, 3, data(500, 2, 0, 50, &[2]))]), Timestamp(7_000));
        // A text message in three fragments, one retransmitted; a binary one; an empty one.
        for (tsn, flags, part) in [(102, 2, &b"hel"[..]), (103, 0, b"lo "), (103, 0, b"lo "), (104, 1, b"you")] {
            a.packet(ctx, c2s, &packet(0xBBBB, &[(0, flags, data(tsn, 2, 1, 51, part))]), Timestamp(8_000));
        }
        a.packet(ctx, Direction::S2C, &packet(0xAAAA, &[(0, 3, data(501, 2, 1, 53, &[0; 40]))]), Timestamp(9_000));
        a.packet(ctx, Direction::S2C, &packet(0xAAAA, &[(0, 3, data(502, 2, 2, 56, &[0]))]), Timestamp(10_000));
        // The whole first message again: a retransmission, not a new message.
        a.packet(ctx, c2s, &packet(0xBBBB, &[(0, 2, data(102, 2, 1, 51, b"hel"))]), Timestamp(11_000));
        // RE-CONFIG: outgoing SSN reset request for stream 2.
        let mut rc = vec![0, 13, 0, 18, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 104, 0, 2];
        rc.resize(20, 0);
        a.packet(ctx, c2s, &packet(0xBBBB, &[(130, 0, rc)]), Timestamp(12_000));
    });
    let r = a.report(3);
    let ch = &r["datachannels"][0];
    assert_eq!(ch["stream_id"], 2);
    assert_eq!((ch["label"].as_str(), ch["protocol"].as_str()), (Some("a-long-label"), Some("chat-v1")));
    assert_eq!(ch["channel_type"], "partial_reliable_rexmit_unordered");
    assert_eq!((ch["priority"].as_u64(), ch["reliability_parameter"].as_u64()), (Some(7), Some(5)));
    assert_eq!((ch["messages_c2s"].as_u64(), ch["bytes_c2s"].as_u64()), (Some(1), Some(9)));
    assert_eq!((ch["messages_s2c"].as_u64(), ch["bytes_s2c"].as_u64()), (Some(2), Some(40)));
    assert_eq!(ch["kinds"], json!({"binary": 1, "string": 1, "string_empty": 1}));
    assert_eq!(ch["closed_ts"].to_string(), "0.000012");
    assert!(ch["acked_ts"].is_number());
    assert_eq!(r["duplicate_tsns"], json!({"c2s": 2, "s2c": 0}));
    assert_eq!(r["checksum"], json!({"ok": 15, "bad": 0, "zero": 0}));
    assert_eq!((r["vtag_mismatches"].as_u64(), r["malformed"].as_u64()), (Some(0), Some(0)));
    assert_eq!(r["setup_ms"].as_f64(), Some(0.003));
    assert_eq!(r["chunks"]["data"], 10);
    let names: Vec<&str> = ev.iter().map(|e| e.name.as_ref()).collect();
    assert_eq!(
        names,
        [
            "sctp.init",
            "sctp.init_ack",
            "sctp.established",
            "datachannel.open",
            "datachannel.ack",
            "datachannel.message",
            "datachannel.message",
            "datachannel.message",
            "datachannel.close"
        ]
    );
}

#[test]
fn i_data_fragments() {
    let mut a = Association::default();
    run(|ctx| {
        let d = Direction::S2C;
        // MID 0: OPEN in one chunk; MID 1: a 3-fragment binary message, FSNs out of order.
        a.packet(ctx, d, &packet(1, &[(64, 3, idata(10, 4, 0, 50, &open("x", "")))]), Timestamp(1_000));
        a.packet(ctx, d, &packet(1, &[(64, 0, idata(13, 4, 1, 2, &[7; 10]))]), Timestamp(2_000));
        a.packet(ctx, d, &packet(1, &[(64, 2, idata(11, 4, 1, 53, &[7; 10]))]), Timestamp(3_000));
        assert_eq!(a.streams[&4].messages.s2c, 0);
        a.packet(ctx, d, &packet(1, &[(64, 1, idata(14, 4, 1, 3, &[7; 5]))]), Timestamp(4_000));
        assert_eq!(a.streams[&4].messages.s2c, 0, "FSN 1 still missing");
        a.packet(ctx, d, &packet(1, &[(64, 0, idata(12, 4, 1, 1, &[7; 10]))]), Timestamp(5_000));
    });
    let s = &a.streams[&4];
    assert_eq!((s.label.as_deref(), s.messages.s2c, s.bytes.s2c), (Some("x"), 1, 35));
    assert_eq!(a.sides.s2c.pending(), 0);
}

#[test]
fn bad_packets_are_counted_not_fatal() {
    let mut a = Association::default();
    let ev = run(|ctx| {
        a.packet(ctx, Direction::C2S, &[1, 2, 3], Timestamp(1_000));
        let mut p = packet(0, &[(0, 3, data(1, 0, 0, 51, b"hi"))]);
        p[14] = 0xff; // chunk length past the end
        a.packet(ctx, Direction::C2S, &p, Timestamp(2_000));
        let mut p = packet(0, &[(0, 3, data(1, 0, 0, 51, b"hi"))]);
        p[20] ^= 1; // a changed byte: the checksum fails
        a.packet(ctx, Direction::C2S, &p, Timestamp(3_000));
        // DATA too short for its fixed part; DCEP that is not an OPEN or ACK.
        a.packet(ctx, Direction::C2S, &packet(0, &[(0, 3, vec![0, 0, 0, 9])]), Timestamp(4_000));
        a.packet(ctx, Direction::C2S, &packet(0, &[(0, 3, data(9, 0, 0, 50, &[]))]), Timestamp(5_000));
        // Every cut of a good packet.
        let good = packet(0, &[(0, 3, data(20, 1, 0, 51, b"hello")), (3, 0, vec![0; 12])]);
        for cut in 0..good.len() {
            a.packet(ctx, Direction::S2C, &good[..cut], Timestamp(6_000));
        }
    });
    let r = a.report(0);
    assert_eq!(r["checksum"]["bad"].as_u64().map(|b| b > 1), Some(true));
    assert!(r["malformed"].as_u64().unwrap() >= 3);
    assert_eq!(r["datachannels"][0]["dcep_malformed"], 1);
    assert!(ev.iter().any(|e| e.name == "anomaly"));
}

#[test]
fn caps_hold() {
    let mut a = Association::default();
    run(|ctx| {
        for i in 0..(MAX_STREAMS as u32 + 10) {
            let p = packet(0, &[(0, 3, data(i, i as u16, 0, 51, b"x"))]);
            a.packet(ctx, Direction::C2S, &p, Timestamp(1_000));
        }
        // Fragments that never complete: bounded.
        for i in 0..(MAX_FRAGMENTS as u32 + 10) {
            let p = packet(0, &[(0, 0, data(100_000 + 2 * i, 1, 0, 51, b"x"))]);
            a.packet(ctx, Direction::S2C, &p, Timestamp(2_000));
        }
    });
    assert_eq!(a.streams.len(), MAX_STREAMS);
    assert_eq!(a.streams_over_cap, 10);
    assert_eq!(a.sides.s2c.pending(), MAX_FRAGMENTS);
    assert_eq!(a.sides.s2c.frags_dropped, 10);
}
