//! QUIC connections equal tshark's view of their first client Initial (fixtures: `tshark -T
//! fields`, command in each file's first line): version, DCID, SCID, and from the decrypted
//! Initial the SNI and ALPN — v1, v2 (RFC 9369) and after a Retry. After Version Negotiation
//! tshark 4.0 cannot decrypt the Initial (checktag fails); streamscope does, and the test checks
//! the SNI the same client sends in the Retry capture.

mod common;

use common::{report, root, shared_captures};

#[test]
fn quic_initials_equal_tshark() {
    let Some(shared) = shared_captures() else {
        eprintln!("skipped: ../shared/captures is not present");
        return;
    };
    let dir = root().join("tests/fixtures/shared/quic");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let Some(cap) = name.strip_suffix(".quic.tsv") else { continue };
        let text = std::fs::read_to_string(e.path()).unwrap();
        let f: Vec<&str> = text.lines().nth(1).unwrap().split('\t').collect();
        let (version, dcid, scid, sni, alpn) = (f[1], f[2], f[3], f[4], f.get(5).copied().unwrap_or(""));
        let rep = report(&shared.join("quic").join(cap));
        let q = &rep["quic"][0];
        assert_eq!(q["dcid"], dcid, "{cap}");
        assert_eq!(q["scid"].as_str().unwrap_or(""), scid, "{cap}");
        let grease = version.ends_with("a3a4a") || version == "0x1a2a3a4a";
        if grease {
            // Version Negotiation answered the greased version; the client then used v1.
            assert_eq!(q["version_hex"], "0x00000001", "{cap}");
            assert!(q["offered_versions"].as_array().unwrap().iter().any(|v| v == "0x00000001"));
            assert_eq!(q["sni"], "localhost", "{cap}: tshark cannot decrypt this one");
        } else {
            assert_eq!(q["version_hex"], version, "{cap}");
            assert_eq!(q["sni"], sni, "{cap}");
            assert_eq!(q["alpn"][0], alpn, "{cap}");
        }
        assert_eq!(q["initial_failures"], 0, "{cap}");
        n += 1;
    }
    assert_eq!(n, 5);
}
