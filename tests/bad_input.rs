//! Bad input is normal input: missing files, non-captures, files cut mid-packet, snaplen-cut
//! packets and garbage must give a clear message or a report, never a panic.

mod common;

use common::{analyse, root, shared_captures};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::Command;
use streamscope::capture::file;
use streamscope::Config;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_streamscope"))
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("streamscope-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Some sample capture to derive bad inputs from (a shipped one, else a shared one).
fn a_sample() -> PathBuf {
    let s = root().join("samples").join("rtmp-publish-play.pcapng");
    if s.exists() {
        return s;
    }
    shared_captures().expect("a sample capture").join("rtmp").join("fq-ffmpeg-play-RECONSTRUCTED.pcap")
}

/// Writes a classic µs pcap with the given link type and (data, orig_len, ts µs) records.
fn write_pcap(path: &Path, link: u32, pkts: &[(Vec<u8>, u32, i64)]) {
    let mut b = Vec::new();
    b.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&4u16.to_le_bytes());
    b.extend_from_slice(&[0; 8]);
    b.extend_from_slice(&65535u32.to_le_bytes());
    b.extend_from_slice(&link.to_le_bytes());
    for (d, orig, us) in pkts {
        b.extend_from_slice(&((us / 1_000_000) as u32).to_le_bytes());
        b.extend_from_slice(&((us % 1_000_000) as u32).to_le_bytes());
        b.extend_from_slice(&(d.len() as u32).to_le_bytes());
        b.extend_from_slice(&orig.to_le_bytes());
        b.extend_from_slice(d);
    }
    std::fs::write(path, b).unwrap();
}

fn packets_of(path: &Path) -> (u32, Vec<(Vec<u8>, u32, i64)>) {
    let mut link = 1;
    let mut v = Vec::new();
    file::read_path(path.to_str().unwrap(), |p| {
        link = p.link.0;
        v.push((p.data.to_vec(), p.orig_len, p.ts.micros()));
        ControlFlow::Continue(())
    })
    .unwrap();
    (link, v)
}

#[test]
fn missing_file_is_one_line_and_exit_2() {
    let out = bin().arg("/nonexistent/capture.pcap").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("cannot open"), "{err}");
}

#[test]
fn not_a_capture_and_empty_file_exit_2() {
    let text = tmp("notes.txt");
    std::fs::write(&text, "this is not a capture file at all, just some words\n").unwrap();
    let empty = tmp("empty.pcap");
    std::fs::write(&empty, b"").unwrap();
    for p in [&text, &empty] {
        let out = bin().arg(p).arg("--report").arg("json").output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", p.display());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("not a pcap or pcapng"), "{err}");
        assert!(!err.contains("panicked"));
    }
}

#[test]
fn unsupported_link_type_exit_2() {
    let p = tmp("usb.pcap");
    write_pcap(&p, 189, &[(vec![0u8; 40], 40, 1_000_000)]);
    let out = bin().arg(&p).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unsupported link type 189"));
}

#[test]
fn file_cut_mid_packet_reports_what_was_read() {
    let sample = a_sample();
    let bytes = std::fs::read(&sample).unwrap();
    let cut = tmp("cut.pcapng");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3 + 7]).unwrap();
    let out = bin().arg(&cut).arg("--report").arg("json").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("warning") && err.contains("cut off"), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["capture"]["packets"].as_u64().unwrap() > 10);
    assert!(v["capture"]["warning"].is_string());
}

#[test]
fn snaplen_cut_packets_keep_flow_counts_and_are_counted() {
    let (link, pkts) = packets_of(&a_sample());
    let full = tmp("full.pcap");
    write_pcap(&full, link, &pkts);
    let cut: Vec<_> = pkts.iter().map(|(d, o, t)| (d[..d.len().min(96)].to_vec(), *o, *t)).collect();
    let snap = tmp("snap96.pcap");
    write_pcap(&snap, link, &cut);
    let (a, _) = analyse(&full, Config::default());
    let (b, _) = analyse(&snap, Config::default());
    assert_eq!(b.capture.truncated, pkts.iter().filter(|(d, ..)| d.len() > 96).count() as u64);
    assert_eq!(a.flows.len(), b.flows.len());
    for (x, y) in a.flows.iter().zip(b.flows.iter()) {
        assert_eq!((x.client, x.server), (y.client, y.server));
        assert_eq!(x.dirs.c2s.packets, y.dirs.c2s.packets);
        assert_eq!(x.dirs.s2c.packets, y.dirs.s2c.packets);
        // Payload byte counts come from the headers, not from what was captured.
        assert_eq!(x.dirs.c2s.bytes, y.dirs.c2s.bytes);
        assert_eq!(x.dirs.s2c.bytes, y.dirs.s2c.bytes);
    }
    assert!(b.flows.iter().any(|r| r.tcp.is_some_and(|t| t.gaps > 0)), "cut payload is a gap for dissectors");
}

#[test]
fn garbage_frames_are_malformed_not_fatal() {
    let mut pkts = Vec::new();
    let mut x: u32 = 12345;
    for i in 0..2000 {
        let len = (i % 97) as usize;
        let mut d = Vec::with_capacity(len);
        for _ in 0..len {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            d.push((x >> 16) as u8);
        }
        // Make some look like IPv4/Ethernet so deeper layers see junk too.
        if len > 14 && i % 3 == 0 {
            d[12] = 0x08;
            d[13] = 0x00;
            d[14] = 0x45;
        }
        pkts.push((d, len as u32 + (i % 5), 1_000_000 + i64::from(i) * 100));
    }
    let p = tmp("garbage.pcap");
    write_pcap(&p, 1, &pkts);
    let (e, _) = analyse(&p, Config::default());
    assert_eq!(e.capture.packets, 2000);
    assert!(e.capture.malformed > 0);
    assert!(e.capture.malformed_samples.len() <= 20);
}

#[test]
fn timestamps_going_back_are_counted() {
    let (link, mut pkts) = packets_of(&a_sample());
    pkts.swap(3, 10);
    let p = tmp("backwards.pcap");
    write_pcap(&p, link, &pkts);
    let (e, _) = analyse(&p, Config::default());
    assert!(e.capture.time_went_back >= 1);
    assert_eq!(e.capture.packets as usize, pkts.len());
}

#[test]
fn stdin_is_read_with_dash() {
    let sample = a_sample();
    let out = bin().arg("-").arg("--report").arg("json").stdin(std::fs::File::open(&sample).unwrap()).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let from_stdin: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let direct = common::report(&sample);
    assert_eq!(from_stdin["flows"], direct["flows"]);
}

#[test]
fn events_are_ndjson_in_capture_order() {
    let out = bin().arg(a_sample()).arg("--events").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    let mut last = 0i64;
    let mut n = 0;
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        for k in ["ts", "flow", "protocol", "event", "dir"] {
            assert!(v.get(k).is_some(), "{k} missing in {line}");
        }
        let t = common::report_micros(&v["ts"]);
        assert!(t >= last, "events out of order at {line}");
        last = t;
        n += 1;
    }
    assert!(n > 0);
    assert!(text.contains("\"tcp.handshake\""));
}

#[test]
fn bad_decode_as_is_a_usage_error() {
    let out = bin().arg(a_sample()).arg("--decode-as").arg("tcp:x=rtmp").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = bin().arg(a_sample()).arg("--decode-as").arg("udp:1=rtmp").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn pcapng_with_several_sections_reads_every_section() {
    // Two captures concatenated make one pcapng with two sections (each with its own
    // interfaces and link types): every packet of both is read, with its own interface's
    // link type and timestamp resolution.
    let a = root().join("samples").join("mixed-interfaces.pcapng");
    let b = root().join("samples").join("rtmp-publish-play.pcapng");
    let mut both = std::fs::read(&a).unwrap();
    both.extend(std::fs::read(&b).unwrap());
    let p = tmp("two-sections.pcapng");
    std::fs::write(&p, both).unwrap();
    let (ea, _) = analyse(&a, Config::default());
    let (eb, _) = analyse(&b, Config::default());
    let (e, s) = analyse(&p, Config::default());
    assert!(s.warning.is_none(), "{:?}", s.warning);
    assert_eq!(e.capture.packets, ea.capture.packets + eb.capture.packets);
    assert_eq!(e.capture.malformed, 0);
    assert_eq!(e.flows.len(), ea.flows.len() + eb.flows.len());
}

/// pcapng blocks a reader does not know are skipped; a block whose length is corrupt ends the
/// reading with a warning and the report of what was read (exit 0).
#[test]
fn bogus_pcapng_blocks_are_skipped_or_end_with_a_warning() {
    let sample = root().join("samples").join("rtsp-play-udp.pcapng");
    let bytes = std::fs::read(&sample).unwrap();
    let (_, pkts) = packets_of(&sample);
    // Walk the blocks (little-endian section), inserting an unknown block after the third.
    let mut out = Vec::new();
    let mut at = 0usize;
    let mut n = 0;
    while at + 8 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        out.extend_from_slice(&bytes[at..at + len]);
        at += len;
        n += 1;
        if n == 3 {
            // Block type 0x0BAD0BAD, 16 bytes: type, length, 4 bytes of body, length.
            out.extend_from_slice(&0x0BAD_0BADu32.to_le_bytes());
            out.extend_from_slice(&16u32.to_le_bytes());
            out.extend_from_slice(b"junk");
            out.extend_from_slice(&16u32.to_le_bytes());
        }
    }
    let p = tmp("unknown-block.pcapng");
    std::fs::write(&p, &out).unwrap();
    let (e, _) = analyse(&p, Config::default());
    assert_eq!(e.capture.packets as usize, pkts.len(), "the unknown block is skipped");
    // A block claiming 0xfffffff0 bytes in the middle: what came before is reported.
    let mut cut = bytes[..bytes.len() / 2].to_vec();
    cut.extend_from_slice(&6u32.to_le_bytes());
    cut.extend_from_slice(&0xffff_fff0u32.to_le_bytes());
    cut.extend_from_slice(&[0u8; 64]);
    let p = tmp("bad-length.pcapng");
    std::fs::write(&p, &cut).unwrap();
    let o = bin().arg(&p).args(["--report", "json"]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let read = r["capture"]["packets"].as_u64().unwrap();
    assert!(read > 0 && (read as usize) < pkts.len(), "{read}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("warning"), "{}", String::from_utf8_lossy(&o.stderr));
}

/// `timeout -s INT` signals the command and then its process group: the same interrupt twice
/// within moments must still end the reading cleanly with the report (exit 0); only a second
/// Ctrl-C later quits without one.
#[cfg(unix)]
#[test]
fn an_interrupt_delivered_twice_still_gives_the_report() {
    use std::io::Write;
    use std::process::Stdio;
    let sample = std::fs::read(a_sample()).unwrap();
    let mut child =
        bin().args(["-", "--report", "json", "-q"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&sample).unwrap();
    // The input stays open while the interrupt arrives (twice, as from `timeout`).
    std::thread::sleep(std::time::Duration::from_millis(500));
    let pid = child.id() as libc::pid_t;
    // SAFETY: signalling our own child.
    unsafe {
        libc::kill(pid, libc::SIGINT);
        libc::kill(pid, libc::SIGINT);
    }
    // Before the fix the second signal had already ended the process with 130; now the reading
    // ends at end of input and the report follows.
    std::thread::sleep(std::time::Duration::from_millis(200));
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(r["capture"]["packets"].as_u64().unwrap() > 0);
}
