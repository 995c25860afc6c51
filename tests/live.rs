//! Live capture on loopback while real traffic runs: the flow shows up with the right counts,
//! the BPF filter applies, and `-w` saves exactly what was seen. Skipped (with a message) where
//! the test may not capture (not root, no CAP_NET_RAW).

#![cfg(feature = "live")]

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn captures_loopback_traffic_with_filter_and_writes_pcapng() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let out = std::env::temp_dir().join(format!("streamscope-live-{}.pcapng", std::process::id()));
    let child = Command::new(env!("CARGO_BIN_EXE_streamscope"))
        .args(["-i", "lo", "-f", &format!("tcp port {port}"), "--duration", "4", "--report", "json", "-w"])
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the capture to be open (the "capturing on" line), then make a bounded exchange.
    let mut child = child;
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut stderr, &mut first).unwrap();
    if !first.contains("capturing on") {
        let mut rest = String::new();
        let _ = stderr.read_to_string(&mut rest);
        let _ = child.wait();
        assert!(first.contains("permission") || first.contains("no such interface"), "{first}{rest}");
        eprintln!("skipped: cannot capture here: {first}");
        return;
    }
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = vec![0u8; 1 << 16];
        let mut total = 0;
        while total < 100_000 {
            let n = s.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            total += n;
        }
        s.write_all(b"thanks").unwrap();
        total
    });
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.write_all(&vec![0x42u8; 100_000]).unwrap();
    let mut reply = [0u8; 6];
    c.read_exact(&mut reply).unwrap();
    drop(c);
    assert_eq!(server.join().unwrap(), 100_000);
    let started = Instant::now();
    let output = child.wait_with_output().unwrap();
    assert!(started.elapsed() < Duration::from_secs(20));
    let mut err = String::new();
    let _ = stderr.read_to_string(&mut err);
    assert_eq!(output.status.code(), Some(0), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(v["capture"]["format"], "live");
    let flows = v["flows"].as_array().unwrap();
    assert_eq!(flows.len(), 1, "the filter keeps only our connection: {flows:?}");
    let f = &flows[0];
    assert_eq!(f["server"], format!("127.0.0.1:{port}"));
    // Payload bytes as sent, plus whatever the kernel retransmitted (counted as tshark does:
    // on a loaded machine loopback TCP does retransmit now and then).
    let retransmitted = f["tcp"]["retransmissions"].as_u64().unwrap();
    let sent = f["bytes_c2s"].as_u64().unwrap();
    if retransmitted == 0 {
        assert_eq!(sent, 100_000);
    } else {
        assert!(sent > 100_000, "{f}");
    }
    assert_eq!(f["bytes_s2c"], 6);
    assert!(f["tcp"]["handshake_rtt_ms"].is_number());
    assert_eq!(v["capture"]["channel_dropped"], 0);
    // What -w saved reads back to the same flows.
    let saved = common::report(&out);
    assert_eq!(saved["flows"][0]["bytes_c2s"], sent);
    assert_eq!(saved["capture"]["packets"], v["capture"]["packets"]);
    let _ = std::fs::remove_file(&out);
}

/// Run as root, the capture gives up root once the interface and the -w file are open (like
/// tcpdump -Z): to the given user, or to `nobody` when no sudo user is known; the report says
/// who it ran as, read back from the process's own ids after the switch.
#[test]
fn root_is_dropped_after_the_device_is_open() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: not root");
        return;
    }
    let out = std::env::temp_dir().join(format!("streamscope-privs-{}.pcapng", std::process::id()));
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_streamscope"))
            .args(["-i", "lo", "--duration", "0.5", "--report", "json", "-w"])
            .arg(&out)
            .args(extra)
            .env_remove("SUDO_UID")
            .env_remove("SUDO_GID")
            .env_remove("SUDO_USER")
            .output()
            .unwrap()
    };
    let o = run(&[]);
    let err = String::from_utf8_lossy(&o.stderr);
    if err.contains("permission") || err.contains("no such interface") {
        eprintln!("skipped: cannot capture here: {err}");
        return;
    }
    assert!(o.status.success(), "{err}");
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["capture"]["running_as"], "nobody uid=65534 gid=65534", "{err}");
    assert!(err.contains("dropped root, running as nobody"), "{err}");
    // The file was opened before the switch: it exists, owned by root, and holds a capture.
    assert!(std::fs::metadata(&out).unwrap().len() >= 28);
    // -Z root keeps root; an unknown user is refused before any packet is read.
    let o = run(&["-Z", "root"]);
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(report["capture"]["running_as"].is_null());
    let o = run(&["-Z", "no-such-user-here"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no user \"no-such-user-here\""));
    let _ = std::fs::remove_file(&out);
}
