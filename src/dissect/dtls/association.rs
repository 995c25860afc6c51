//! One DTLS association on a WebRTC/TURN 5-tuple: its records (DTLS 1.0/1.2, DTLS 1.2 with a
//! connection ID, DTLS 1.3 unified headers), the handshake (hellos read once their fragments
//! are put together: version, cipher suite, use_srtp, connection IDs), the handshake time, the
//! DTLS-SRTP keys, and with `--keylog` the protected records decrypted (RFC 6347 §4.1.2) and
//! what they carry: SCTP (RFC 8261, WebRTC data channels) or other application data.

use super::record::{records, Layout, Record};
use crate::dissect::sctp;
use crate::dissect::srtp::{self, MasterKey};
use crate::dissect::stun::handshake::{Handshakes, Hello};
use crate::dissect::tls::crypto::{self, RecordKey};
use crate::dissect::tls::hello;
use crate::dissect::Ctx;
use crate::flow::{Direction, FlowId, PerDir};
use crate::report::{json_ms, json_ts};
use crate::time::Timestamp;
use crate::timeline::{Event, FieldValue};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// `dtls.application_data` events per association (plaintext that is not SCTP).
const MAX_APP_EVENTS: u64 = 1000;
/// Decrypted alerts kept per association.
const MAX_ALERTS: usize = 32;
/// Longest text shown in a `dtls.application_data` event.
const MAX_TEXT: usize = 256;

/// What the WebRTC demultiplexer must tell its SRTP/RTP dissector after a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SrtpNews {
    /// Nothing new.
    None,
    /// use_srtp was negotiated: the media is SRTP, without keys.
    Hint,
    /// The exported keys: the DTLS client's direction, its write key and the server's.
    Keys(Direction, MasterKey, MasterKey),
}

/// Why the protected records are (not) decrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decryption {
    /// No ServerHello seen yet (or no ClientHello random).
    Pending,
    /// Keys derived from the key log.
    Keys,
    /// No `--keylog` given.
    NoKeyLog,
    /// The key log has no master secret for this ClientHello random.
    NoSecret,
    /// A CBC (or other non-AEAD) suite: counted, not decrypted.
    SuiteNotAead,
    /// DTLS 1.3: its traffic secrets and record protection are not implemented.
    Dtls13,
}

impl Decryption {
    fn name(self) -> &'static str {
        match self {
            Decryption::Pending => "pending",
            Decryption::Keys => "keys",
            Decryption::NoKeyLog => "no_key_log",
            Decryption::NoSecret => "no_secret_for_client_random",
            Decryption::SuiteNotAead => "cipher_suite_not_aead",
            Decryption::Dtls13 => "dtls13_not_supported",
        }
    }
}

/// What the decrypted application data turned out to be.
enum Inner {
    /// Nothing decrypted yet.
    Unknown,
    /// SCTP (RFC 8261).
    Sctp(Box<sctp::Association>),
    /// Something else: each record an event.
    Other,
}

/// DTLS 1.3 DTLSCiphertext records (unified header) of the association.
#[derive(Debug, Default)]
struct Dtls13 {
    records: PerDir<u64>,
    /// Records per direction and epoch low bits.
    by_epoch: PerDir<BTreeMap<u16, u64>>,
    /// Records whose CID length had to be guessed.
    cid_guessed: u64,
    /// The CID last seen in each direction's records.
    cid_seen: PerDir<Option<Vec<u8>>>,
    /// The DTLS client's last epoch-2 record before any epoch-3 record: its Finished.
    client_epoch2_last: Option<Timestamp>,
    epoch3_seen: bool,
}

/// The state of one DTLS association.
pub struct Association {
    records: u64,
    /// The negotiated version (ServerHello, supported_versions first).
    version: Option<u16>,
    /// The record layer's version, shown while no ServerHello says more.
    record_version: Option<u16>,
    /// What the ClientHello offered (supported_versions, else client_version).
    offered: Vec<u16>,
    /// The ClientHello had supported_versions: its record version says nothing.
    offered_supported_versions: bool,
    cipher: Option<u16>,
    srtp_profile: Option<u16>,
    /// The MKI length use_srtp selected.
    srtp_mki_len: u8,
    first_client_hello: Option<Timestamp>,
    /// The first epoch-1 handshake record (the Finished) of each side.
    finished: PerDir<Option<Timestamp>>,
    /// DTLS 1.3 without keys: the handshake's end as the records show it.
    done13: Option<Timestamp>,
    content: BTreeMap<&'static str, u64>,
    alerts: u64,
    /// The DTLS client's direction and ClientHello random (RFC 6347 §4.2.1: the same in a
    /// ClientHello repeated with a cookie).
    client_random: Option<(Direction, [u8; 32])>,
    server_random: Option<[u8; 32]>,
    /// SRTP master keys exported from a key-logged master secret: (client write, server
    /// write). Secrets: reported only with `--show-secrets`.
    srtp_keys: Option<(MasterKey, MasterKey)>,
    /// Handshake messages (fragments reassembled), cookies, retransmitted flights.
    handshakes: Handshakes,
    /// The connection ID the records sent in each direction carry (RFC 9146 §3: the one the
    /// receiver asked for in its hello).
    cids: PerDir<Option<Vec<u8>>>,
    decryption: Decryption,
    keys: PerDir<Option<RecordKey>>,
    decrypted: PerDir<u64>,
    failures: PerDir<u64>,
    /// Protected records not decrypted (no keys, another epoch, CID records).
    not_decrypted: PerDir<u64>,
    plaintext_bytes: PerDir<u64>,
    decrypted_alerts: Vec<Value>,
    dtls13: Dtls13,
    inner: Inner,
    app_events: u64,
}

impl Default for Association {
    fn default() -> Self {
        Association {
            records: 0,
            version: None,
            record_version: None,
            offered: Vec::new(),
            offered_supported_versions: false,
            cipher: None,
            srtp_profile: None,
            srtp_mki_len: 0,
            first_client_hello: None,
            finished: PerDir::default(),
            done13: None,
            content: BTreeMap::new(),
            alerts: 0,
            client_random: None,
            server_random: None,
            srtp_keys: None,
            handshakes: Handshakes::default(),
            cids: PerDir::default(),
            decryption: Decryption::Pending,
            keys: PerDir::default(),
            decrypted: PerDir::default(),
            failures: PerDir::default(),
            not_decrypted: PerDir::default(),
            plaintext_bytes: PerDir::default(),
            decrypted_alerts: Vec::new(),
            dtls13: Dtls13::default(),
            inner: Inner::Unknown,
            app_events: 0,
        }
    }
}

/// A record-layer version's name.
fn version_name(v: u16) -> &'static str {
    match v {
        0xfeff => "DTLS 1.0",
        0xfefd => "DTLS 1.2",
        0xfefc => "DTLS 1.3",
        _ => "unknown",
    }
}

/// IANA DTLS-SRTP protection profiles (RFC 5764 §4.1.2, RFC 7714 §14.2).
fn srtp_profile_name(p: u16) -> String {
    match p {
        0x0001 => "SRTP_AES128_CM_HMAC_SHA1_80".into(),
        0x0002 => "SRTP_AES128_CM_HMAC_SHA1_32".into(),
        0x0005 => "SRTP_NULL_HMAC_SHA1_80".into(),
        0x0006 => "SRTP_NULL_HMAC_SHA1_32".into(),
        0x0007 => "SRTP_AEAD_AES_128_GCM".into(),
        0x0008 => "SRTP_AEAD_AES_256_GCM".into(),
        other => format!("0x{other:04x}"),
    }
}

fn content_name(ct: u8) -> &'static str {
    match ct {
        20 => "change_cipher_spec",
        21 => "alert",
        22 => "handshake",
        23 => "application_data",
        _ => "other",
    }
}

fn per_dir(v: &PerDir<u64>) -> Value {
    json!({"c2s": v.c2s, "s2c": v.s2c})
}

impl Association {
    /// One datagram of DTLS records from `dir`.
    pub fn datagram(&mut self, ctx: &mut Ctx<'_>, dir: Direction, d: &[u8], ts: Timestamp) -> SrtpNews {
        let mut news = SrtpNews::None;
        let mut recs = records(d, self.cids[dir].as_ref().map(Vec::len));
        while let Some(rec) = recs.next() {
            self.records += 1;
            let hellos = self.handshakes.on_record(ctx, dir, &rec, ts);
            match rec.layout {
                Layout::Unified => {
                    *self.content.entry("ciphertext").or_insert(0) += 1;
                    self.unified(ctx, dir, &rec, ts);
                }
                Layout::Classic | Layout::Cid12 => {
                    *self.content.entry(content_name(rec.content_type)).or_insert(0) += 1;
                    if rec.content_type == 21 {
                        self.alerts += 1;
                    }
                    if rec.content_type == 22 && rec.epoch == 0 && rec.layout == Layout::Classic {
                        self.plain_handshake(ctx, dir, rec.body, ts);
                    } else if rec.epoch >= 1 {
                        self.protected(ctx, dir, &rec, ts);
                    }
                    if self.record_version.is_none() {
                        self.record_version = rec.version;
                    }
                }
            }
            for h in hellos {
                if let Some(n) = self.hello(ctx, &h, ts) {
                    news = n;
                }
            }
            recs.set_cid_len(self.cids[dir].as_ref().map(Vec::len));
        }
        news
    }

    /// An epoch-0 handshake record: the first ClientHello's random and event, and the
    /// ServerHello event (its contents are read once it is whole, in [`Self::hello`]).
    fn plain_handshake(&mut self, ctx: &mut Ctx<'_>, dir: Direction, frag: &[u8], ts: Timestamp) {
        // Handshake header (RFC 6347 §4.2.2): type, length, message_seq, fragment_offset,
        // fragment_length, then the body.
        let body = frag.get(12..).unwrap_or(&[]);
        let fragment_offset = crate::dissect::rtmp::be24(frag, 6);
        match frag.first() {
            Some(1) => {
                // client_version(2) then the 32-byte random, in the first fragment.
                let random = body.get(2..34).and_then(|r| <[u8; 32]>::try_from(r).ok());
                if let (Some(0), Some(r)) = (fragment_offset, random) {
                    self.client_random = Some((dir, r));
                }
                if self.first_client_hello.is_none() {
                    self.first_client_hello = Some(ts);
                    ctx.emit(Event::new(ts, Some(ctx.flow), "dtls", "dtls.handshake.client_hello", Some(dir)));
                }
            }
            Some(2) => {
                let hrr = fragment_offset == Some(0) && body.get(2..34) == Some(&hello::HRR_RANDOM[..]);
                let name = if hrr { "dtls.handshake.hello_retry_request" } else { "dtls.handshake.server_hello" };
                ctx.emit(Event::new(ts, Some(ctx.flow), "dtls", name, Some(dir)));
            }
            _ => {}
        }
    }

    /// A ClientHello or ServerHello put together from its fragments (RFC 6347 §4.2.3), so that
    /// a fragmented ServerHello still gives the version, suite and use_srtp.
    fn hello(&mut self, ctx: &mut Ctx<'_>, h: &Hello, ts: Timestamp) -> Option<SrtpNews> {
        let client = h.msg_type == 1;
        let parsed = hello::parse_dtls(&h.body, client)?;
        // RFC 9146 §3: the CID the hello's sender wants on the records sent to it.
        if let Some(cid) = parsed.connection_id.clone() {
            self.cids[h.dir.flip()] = Some(cid);
        }
        if client {
            self.offered_supported_versions = !parsed.versions.is_empty();
            self.offered = if parsed.versions.is_empty() { vec![parsed.legacy_version] } else { parsed.versions };
            return None;
        }
        // DTLS 1.3 (RFC 9147 §5.3): supported_versions names the version, also in a
        // HelloRetryRequest.
        self.version = Some(parsed.versions.first().copied().unwrap_or(parsed.legacy_version));
        self.cipher = parsed.cipher_suites.first().copied();
        if parsed.random == hello::HRR_RANDOM {
            return None;
        }
        self.srtp_profile = parsed.srtp_profiles.first().copied();
        self.srtp_mki_len = parsed.srtp_mki_len;
        self.server_random = Some(parsed.random);
        self.derive_keys(ctx);
        Some(self.srtp_keys(ctx, &parsed.random, ts))
    }

    /// Record keys from the key log's master secret (RFC 5246 §6.3), once both randoms and
    /// the suite are known.
    fn derive_keys(&mut self, ctx: &Ctx<'_>) {
        let (Some((client_dir, client_random)), Some(server_random)) = (self.client_random, self.server_random) else {
            return;
        };
        if self.version == Some(0xfefc) {
            self.decryption = Decryption::Dtls13;
            return;
        }
        let Some(log) = ctx.keylog else {
            self.decryption = Decryption::NoKeyLog;
            return;
        };
        let Some(master) = log.get(&client_random).and_then(|s| s.master.as_deref()) else {
            self.decryption = Decryption::NoSecret;
            return;
        };
        let Some(suite) = self.cipher else { return };
        match crypto::tls12_record_keys(suite, master, &client_random, &server_random) {
            Some((c, s)) => {
                self.keys[client_dir] = Some(c);
                self.keys[client_dir.flip()] = Some(s);
                self.decryption = Decryption::Keys;
            }
            None => self.decryption = Decryption::SuiteNotAead,
        }
    }

    /// After a ServerHello that negotiated use_srtp: the media is SRTP and, with the
    /// association's master secret in the key log, its SRTP keys (RFC 5764 §4.2).
    fn srtp_keys(&mut self, ctx: &mut Ctx<'_>, server_random: &[u8; 32], ts: Timestamp) -> SrtpNews {
        let Some(code) = self.srtp_profile else { return SrtpNews::None };
        let Some(profile) = srtp::Profile::from_dtls(code) else { return SrtpNews::Hint };
        // The exporter here is the TLS 1.2 PRF: DTLS 1.2 only.
        let (Some(0xfefd), Some(suite), Some((client_dir, client_random))) =
            (self.version, self.cipher, self.client_random)
        else {
            return SrtpNews::Hint;
        };
        let Some(master) = ctx.keylog.and_then(|k| k.get(&client_random)).and_then(|s| s.master.as_deref()) else {
            return SrtpNews::Hint;
        };
        let hash = srtp::keys::prf_hash(suite);
        let Some((mut c, mut s)) = srtp::keys::dtls_srtp_keys(profile, hash, master, &client_random, server_random)
        else {
            return SrtpNews::Hint;
        };
        c.mki_len = self.srtp_mki_len;
        s.mki_len = self.srtp_mki_len;
        self.srtp_keys = Some((c, s));
        ctx.emit(
            Event::new(ts, Some(ctx.flow), "dtls", "dtls.srtp.keys_exported", Some(client_dir.flip()))
                .with("srtp_profile", FieldValue::Str(profile.iana_name().into())),
        );
        SrtpNews::Keys(client_dir, c, s)
    }

    /// A record of epoch 1 or later with the classic (or CID) header: the Finished marks the
    /// handshake's end; with keys it is decrypted (RFC 6347 §4.1.2.1).
    fn protected(&mut self, ctx: &mut Ctx<'_>, dir: Direction, rec: &Record<'_>, ts: Timestamp) {
        if rec.content_type == 22 && self.finished[dir].is_none() {
            self.finished[dir] = Some(ts);
            if let (Some(a), Some(b), Some(start)) = (self.finished.c2s, self.finished.s2c, self.first_client_hello) {
                let done = a.max(b);
                let ms = done.ms_since(start);
                ctx.latency.add("dtls", "handshake_ms", ms);
                ctx.emit(Event::new(done, Some(ctx.flow), "dtls", "dtls.handshake.done", None).latency(ms));
            }
        }
        let version = rec.version.unwrap_or(0xfefd);
        // The keys are epoch 1's; a renegotiated epoch or a CID record (RFC 9146 §5, another
        // AAD) is counted, not decrypted.
        let key = self.keys[dir].as_mut().filter(|_| rec.epoch == 1 && rec.layout == Layout::Classic);
        let Some(key) = key else {
            self.not_decrypted[dir] += 1;
            return;
        };
        let Some(plain) = key.open_dtls(rec.epoch, rec.seq, rec.content_type, version, rec.body) else {
            self.failures[dir] += 1;
            if self.failures[dir] == 1 {
                let what =
                    format!("DTLS record epoch {} seq {} does not authenticate with the key log", rec.epoch, rec.seq);
                ctx.anomaly("dtls", ts, Some(dir), what);
            }
            return;
        };
        self.decrypted[dir] += 1;
        self.plaintext_bytes[dir] += plain.len() as u64;
        match rec.content_type {
            23 => self.application(ctx, dir, &plain, ts),
            21 => {
                let (level, desc) = (plain.first().copied(), plain.get(1).copied());
                if self.decrypted_alerts.len() < MAX_ALERTS {
                    self.decrypted_alerts
                        .push(json!({"ts": json_ts(ts), "dir": dir.as_str(), "level": level, "description": desc}));
                }
                ctx.emit(
                    Event::new(ts, Some(ctx.flow), "dtls", "dtls.alert", Some(dir))
                        .with("level", FieldValue::U64(u64::from(level.unwrap_or(0))))
                        .with("description", FieldValue::U64(u64::from(desc.unwrap_or(0)))),
                );
            }
            _ => {}
        }
    }

    /// Decrypted application data: SCTP (RFC 8261: one SCTP packet a record) when the first
    /// record looks like one, else an event per record with its length (and text, if printable).
    fn application(&mut self, ctx: &mut Ctx<'_>, dir: Direction, plain: &[u8], ts: Timestamp) {
        if matches!(self.inner, Inner::Unknown) {
            self.inner = if sctp::chunks::probe(plain) { Inner::Sctp(Box::default()) } else { Inner::Other };
        }
        match &mut self.inner {
            Inner::Sctp(a) => a.packet(ctx, dir, plain, ts),
            Inner::Other | Inner::Unknown => {
                self.app_events += 1;
                if self.app_events > MAX_APP_EVENTS {
                    return;
                }
                let mut ev = Event::new(ts, Some(ctx.flow), "dtls", "dtls.application_data", Some(dir))
                    .with("length", FieldValue::U64(plain.len() as u64));
                let text = std::str::from_utf8(plain)
                    .ok()
                    .filter(|t| t.len() <= MAX_TEXT && t.chars().all(|c| !c.is_control() || "\r\n\t".contains(c)));
                if let Some(t) = text {
                    ev = ev.with("text", FieldValue::Str(t.to_string()));
                }
                ctx.emit(ev);
            }
        }
    }

    /// A DTLS 1.3 record with the unified header (RFC 9147 §4): counted per direction and
    /// epoch. Without keys the handshake ends, as the records show it, with the DTLS client's
    /// last epoch-2 record before the first epoch-3 one (its Finished).
    fn unified(&mut self, ctx: &mut Ctx<'_>, dir: Direction, rec: &Record<'_>, ts: Timestamp) {
        let t = &mut self.dtls13;
        t.records[dir] += 1;
        *t.by_epoch[dir].entry(rec.epoch).or_insert(0) += 1;
        if !rec.cid_known {
            t.cid_guessed += 1;
        }
        if !rec.cid.is_empty() && t.cid_seen[dir].as_deref() != Some(rec.cid) {
            t.cid_seen[dir] = Some(rec.cid.to_vec());
        }
        self.not_decrypted[dir] += 1;
        let client = self.client_random.map(|(d, _)| d);
        match rec.epoch {
            2 if !t.epoch3_seen && client == Some(dir) => t.client_epoch2_last = Some(ts),
            3 if !t.epoch3_seen => {
                t.epoch3_seen = true;
                if let (Some(done), Some(start)) = (t.client_epoch2_last, self.first_client_hello) {
                    self.done13 = Some(done);
                    let ms = done.ms_since(start);
                    ctx.latency.add("dtls", "handshake_ms", ms);
                    ctx.emit(Event::new(done, Some(ctx.flow), "dtls", "dtls.handshake.done", None).latency(ms));
                }
            }
            _ => {}
        }
    }

    /// The association's `dtls` report entry and, when it carried SCTP, its `sctp` entry.
    pub fn report(&self, flow: FlowId, show: bool) -> Vec<(&'static str, Value)> {
        let handshake = match (self.finished.c2s, self.finished.s2c, self.first_client_hello, self.done13) {
            (Some(a), Some(b), Some(s), _) => json_ms(a.max(b).ms_since(s)),
            (_, _, Some(s), Some(done)) => json_ms(done.ms_since(s)),
            _ => Value::Null,
        };
        let key = |k: &MasterKey| json!({"master_key": hex::encode(k.key()), "master_salt": hex::encode(k.salt())});
        let keys = self
            .srtp_keys
            .as_ref()
            .filter(|_| show)
            .map(|(c, s)| json!({"client_write": key(c), "server_write": key(s)}));
        let hexo = |v: &Option<Vec<u8>>| v.as_ref().map(hex::encode);
        let t = &self.dtls13;
        // Without a ServerHello, the record version is the answer unless the client offered
        // versions with supported_versions (DTLS 1.3 keeps 1.2 on the record layer).
        let version = self.version.or(self.record_version.filter(|_| !self.offered_supported_versions));
        let offered: Vec<&str> = self.offered.iter().map(|v| version_name(*v)).collect();
        let mut entry = json!({
            "flow": flow, "version": version.map(version_name), "offered_versions": offered,
            "cipher_suite": self.cipher.map(hello::suite_name),
            "srtp_profile": self.srtp_profile.map(srtp_profile_name), "handshake_ms": handshake,
            "records": self.records, "content": self.content, "alerts": self.alerts,
            "srtp_keys_exported": self.srtp_keys.is_some(),
            "decryption": self.decryption.name(),
            "decrypted_records": per_dir(&self.decrypted),
            "decrypt_failures": per_dir(&self.failures),
            "not_decrypted_records": per_dir(&self.not_decrypted),
            "plaintext_bytes": per_dir(&self.plaintext_bytes),
            "decrypted_alerts": self.decrypted_alerts,
            "application_data_events_dropped": self.app_events.saturating_sub(MAX_APP_EVENTS),
            "carries": match &self.inner { Inner::Sctp(_) => Some("sctp"), Inner::Other => Some("unknown"), Inner::Unknown => None },
            "connection_ids": {"c2s": hexo(&self.cids.c2s), "s2c": hexo(&self.cids.s2c)},
            "dtls13_ciphertext_records": per_dir(&t.records),
            "dtls13_ciphertext_by_epoch": {"c2s": t.by_epoch.c2s, "s2c": t.by_epoch.s2c},
            "dtls13_connection_ids_seen": {"c2s": hexo(&t.cid_seen.c2s), "s2c": hexo(&t.cid_seen.s2c)},
            "dtls13_cid_length_guessed": t.cid_guessed,
        });
        if let (Some(k), Some(o)) = (keys, entry.as_object_mut()) {
            o.insert("srtp_keys".into(), k);
        }
        self.handshakes.annotate(&mut entry);
        let mut out = vec![("dtls", entry)];
        if let Inner::Sctp(a) = &self.inner {
            out.push(("sctp", a.report(flow)));
        }
        out
    }
}

#[cfg(test)]
mod tests;
