//! Unit tests of the DTLS association: hellos read once their fragments are together.

use super::*;
use crate::dissect::Standalone;

fn with_ctx(f: impl FnOnce(&mut Ctx<'_>)) {
    let mut parts = Standalone::new(1000);
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], 4433).into();
    f(&mut parts.ctx(0, addr, addr, &[]));
}

/// A DTLS 1.2 epoch-0 record holding one handshake fragment of a message.
fn fragment(ty: u8, seq: u16, msg: &[u8], off: usize, len: usize) -> Vec<u8> {
    let mut hs = vec![ty];
    hs.extend_from_slice(&(msg.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&seq.to_be_bytes());
    hs.extend_from_slice(&(off as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&(len as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&msg[off..off + len]);
    let mut r = vec![22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, seq as u8];
    r.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    r.extend_from_slice(&hs);
    r
}

fn server_hello(random: [u8; 32], exts: &[u8]) -> Vec<u8> {
    let mut b = vec![0xfe, 0xfd];
    b.extend_from_slice(&random);
    b.extend_from_slice(&[0, 0xc0, 0x2b, 0]);
    b.extend_from_slice(&(exts.len() as u16).to_be_bytes());
    b.extend_from_slice(exts);
    b
}

#[test]
fn fragmented_server_hello_still_gives_use_srtp() {
    let mut ch = vec![0xfe, 0xfd];
    ch.extend_from_slice(&[4; 32]);
    ch.extend_from_slice(&[0, 0, 0, 2, 0xc0, 0x2b, 1, 0, 0, 0]);
    // use_srtp: SRTP_AEAD_AES_128_GCM (0x0007), no MKI; then padding (type 21).
    let mut exts = vec![0, 14, 0, 5, 0, 2, 0, 7, 0];
    exts.extend_from_slice(&[0, 21, 0, 40]);
    exts.extend_from_slice(&[0; 40]);
    let sh = server_hello([5; 32], &exts);
    let mut a = Association::default();
    let mut news = Vec::new();
    with_ctx(|ctx| {
        news.push(a.datagram(ctx, Direction::C2S, &fragment(1, 0, &ch, 0, ch.len()), Timestamp(1)));
        // The ServerHello in three fragments, the last first: nothing is known until it is whole.
        let n = sh.len();
        news.push(a.datagram(ctx, Direction::S2C, &fragment(2, 0, &sh, 50, n - 50), Timestamp(2)));
        assert_eq!(a.srtp_profile, None);
        news.push(a.datagram(ctx, Direction::S2C, &fragment(2, 0, &sh, 0, 20), Timestamp(3)));
        news.push(a.datagram(ctx, Direction::S2C, &fragment(2, 0, &sh, 20, 30), Timestamp(4)));
    });
    assert_eq!(news, vec![SrtpNews::None, SrtpNews::None, SrtpNews::None, SrtpNews::Hint]);
    let r = &a.report(0, false)[0].1;
    assert_eq!(r["srtp_profile"], "SRTP_AEAD_AES_128_GCM");
    assert_eq!(r["cipher_suite"], "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256");
    assert_eq!(r["version"], "DTLS 1.2");
    // No key log: the reason is said.
    assert_eq!(r["decryption"], "no_key_log");
}

#[test]
fn hello_retry_request_and_dtls13_version() {
    // A DTLS 1.3 HelloRetryRequest (supported_versions 0xfefc) then a ServerHello with a
    // connection_id: version 1.3, the CID goes on the records sent to the server.
    let hrr = server_hello(hello::HRR_RANDOM, &[0, 43, 0, 2, 0xfe, 0xfc]);
    let sh = server_hello([6; 32], &[0, 43, 0, 2, 0xfe, 0xfc, 0, 54, 0, 3, 2, 0xAB, 0xCD]);
    let mut a = Association::default();
    with_ctx(|ctx| {
        a.datagram(ctx, Direction::S2C, &fragment(2, 0, &hrr, 0, hrr.len()), Timestamp(1));
        assert_eq!(a.server_random, None, "a HelloRetryRequest is not the ServerHello");
        a.datagram(ctx, Direction::S2C, &fragment(2, 1, &sh, 0, sh.len()), Timestamp(2));
        // A unified-header record from the client carrying that CID, 16-bit seq, length, epoch 2.
        let rec = [0x3e, 0xAB, 0xCD, 0x00, 0x01, 0x00, 0x02, 0xEE, 0xEE];
        a.datagram(ctx, Direction::C2S, &rec, Timestamp(3));
    });
    let r = &a.report(0, false)[0].1;
    assert_eq!(r["version"], "DTLS 1.3");
    assert_eq!(r["connection_ids"]["c2s"], "abcd");
    assert_eq!(r["dtls13_connection_ids_seen"]["c2s"], "abcd");
    assert_eq!(r["dtls13_ciphertext_by_epoch"]["c2s"]["2"], 1);
    assert_eq!(r["dtls13_cid_length_guessed"], 0);
}
