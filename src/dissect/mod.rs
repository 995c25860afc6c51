//! Protocol dissectors and their registry. Each protocol lives in its own module with the
//! same shape: a content probe that never panics, and (as each protocol lands) a dissector
//! producing typed events. Adding a protocol is one module and one line in [`REGISTRY`].

pub mod buffered;
pub mod dns;
pub mod dtls;
pub mod http;
pub mod quic;
pub mod rtmp;
pub mod rtp;
pub mod rtsp;
pub mod sctp;
pub mod sdp;
pub mod sip;
pub mod srtp;
pub mod stun;
pub mod textmsg;
pub mod tls;

use crate::flow::{Direction, FlowId};
use crate::session::latency::LatencyBook;
use crate::time::Timestamp;
use crate::timeline::{Event, Timeline};

/// What a probe concludes from the bytes seen so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// The bytes are this protocol.
    Match,
    /// The bytes are not this protocol.
    NoMatch,
    /// Not enough bytes to tell.
    NeedMore,
}

/// What a probe looks at.
#[derive(Debug, Clone, Copy)]
pub struct ProbeInput<'a> {
    /// Direction of `data`.
    pub dir: Direction,
    /// TCP: the first bytes of this direction; UDP: this datagram.
    pub data: &'a [u8],
    /// TCP: the first bytes of the other direction; UDP: empty.
    pub other: &'a [u8],
    /// UDP: the previous datagram in the same direction (its first bytes), if any.
    pub prev: Option<&'a [u8]>,
    /// Whether the flow is UDP.
    pub udp: bool,
}

/// A dissector's answer to a chunk of stream bytes (Suricata's app-layer convention).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Everything given was consumed.
    Done,
    /// `consumed` bytes were used; call again once `needed` bytes (counted from the first
    /// unconsumed byte) are available.
    NeedMore {
        /// Bytes consumed from the start of the data given.
        consumed: usize,
        /// Bytes needed from the first unconsumed byte.
        needed: usize,
    },
    /// The stream is not (or no longer) this protocol; the dissector is dropped.
    Reject(DissectError),
}

/// Why a dissector gave up, with where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DissectError {
    /// Offset in the data given.
    pub offset: usize,
    /// What was wrong.
    pub what: String,
}

/// What a dissector may touch while it works: its flow's id, the timeline and the latency book.
pub struct Ctx<'a> {
    /// The flow being dissected.
    pub flow: FlowId,
    /// Where events go.
    pub timeline: &'a mut Timeline,
    /// Where latency samples go.
    pub latency: &'a mut LatencyBook,
    /// Whether secrets (stream keys, credentials) may be shown.
    pub show_secrets: bool,
    /// Anomalies raised so far on this flow (incremented by [`Ctx::anomaly`]).
    pub anomalies: &'a mut u64,
    /// TLS secrets, when a key log was given.
    pub keylog: Option<&'a tls::keylog::KeyLog>,
    /// The flow's client endpoint.
    pub client: std::net::SocketAddr,
    /// The flow's server endpoint.
    pub server: std::net::SocketAddr,
    /// Media that signalling (RTSP, SIP) announced, shared across flows.
    pub signalled: &'a mut Signalled,
    /// SRTP master keys given on the command line (`--srtp-key`).
    pub srtp_keys: &'a [srtp::KeySpec],
}

/// Everything a [`Ctx`] borrows, owned: for running a dissector outside the engine (unit
/// tests, fuzz targets, tools).
pub struct Standalone {
    /// Where events go.
    pub timeline: Timeline,
    /// Where latency samples go.
    pub latency: LatencyBook,
    /// Anomalies raised.
    pub anomalies: u64,
    /// Media announced by signalling.
    pub signalled: Signalled,
}

impl Standalone {
    /// Owned parts keeping up to `max_events` events.
    pub fn new(max_events: usize) -> Self {
        Standalone {
            timeline: Timeline::new(max_events),
            latency: LatencyBook::default(),
            anomalies: 0,
            signalled: Signalled::default(),
        }
    }

    /// A context for `flow` between `client` and `server`, with `srtp_keys` (no key log,
    /// secrets masked).
    pub fn ctx<'a>(
        &'a mut self,
        flow: FlowId,
        client: std::net::SocketAddr,
        server: std::net::SocketAddr,
        srtp_keys: &'a [srtp::KeySpec],
    ) -> Ctx<'a> {
        Ctx {
            flow,
            timeline: &mut self.timeline,
            latency: &mut self.latency,
            show_secrets: false,
            anomalies: &mut self.anomalies,
            keylog: None,
            client,
            server,
            signalled: &mut self.signalled,
            srtp_keys,
        }
    }
}

/// What signalling said a UDP port will carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaBinding {
    /// `rtp` or `rtcp`.
    pub protocol: &'static str,
    /// Payload types the SDP lists for this media: (payload type, encoding, clock rate).
    pub codecs: Vec<(u8, String, u32)>,
    /// The signalling protocol that said so.
    pub by: &'static str,
    /// The signalling flow.
    pub flow: FlowId,
    /// The session or call it belongs to (SIP Call-ID, RTSP session).
    pub session: Option<String>,
    /// Whether the media is SRTP (an `RTP/SAVP`-family profile or `a=crypto` lines).
    pub secure: bool,
    /// SDES master keys (`a=crypto`) of the endpoint that announced the port: they protect
    /// what it sends.
    pub srtp_keys: Vec<srtp::MasterKey>,
}

/// UDP ports announced by signalling (RTSP Transport, SDP), like Wireshark's conversations
/// set up by SDP: they pin the media flows and give RTP its clock rate.
#[derive(Debug, Default)]
pub struct Signalled {
    ports: std::collections::HashMap<u16, MediaBinding>,
    /// Media flows pinned by signalling → the session they belong to.
    pub flow_session: std::collections::HashMap<FlowId, String>,
    /// Session → capture time of its first media packet.
    pub first_media: std::collections::HashMap<String, Timestamp>,
    /// Segment → init segment links learnt from playlists and manifests, across connections.
    pub media: MediaIndex,
    /// RTP packets seen on more than one flow (relays), when the latency lab asked for them.
    pub rtp_sightings: Option<rtp::sightings::RtpSightings>,
}

/// Which init segment a fragmented-MP4 media segment needs (HLS EXT-X-MAP, DASH
/// SegmentTemplate), and the tracks of the init segments fetched so far, capture-wide: players
/// often fetch them on different connections.
#[derive(Debug, Default)]
pub struct MediaIndex {
    /// Init segment path → its tracks.
    pub inits: std::collections::HashMap<String, Vec<http::fmp4::Track>>,
    /// Media segment path → init segment path (HLS).
    pub init_of: std::collections::HashMap<String, String>,
    /// DASH templates: (media path before the number, after it, init path).
    pub templates: Vec<(String, String, String)>,
}

impl MediaIndex {
    /// Most entries kept in each table.
    pub const CAP: usize = 100_000;

    /// The tracks of the init segment a media segment path belongs to.
    pub fn tracks_for(&self, path: &str) -> Option<&Vec<http::fmp4::Track>> {
        if let Some(init) = self.init_of.get(path) {
            return self.inits.get(init);
        }
        self.templates
            .iter()
            .find(|(pre, post, _)| {
                path.starts_with(pre.as_str()) && path.ends_with(post.as_str()) && path.len() > pre.len() + post.len()
            })
            .and_then(|(_, _, init)| self.inits.get(init))
    }
}

impl Signalled {
    /// Most ports remembered.
    pub const CAP: usize = 4096;

    /// Announces that `port` will carry this media.
    pub fn announce(&mut self, port: u16, b: MediaBinding) {
        if port != 0 && (self.ports.len() < Self::CAP || self.ports.contains_key(&port)) {
            self.ports.insert(port, b);
        }
    }

    /// What a port was announced to carry.
    pub fn get(&self, port: u16) -> Option<&MediaBinding> {
        self.ports.get(&port)
    }

    /// What either end of a flow was announced to carry.
    pub fn for_flow(&self, a: std::net::SocketAddr, b: std::net::SocketAddr) -> Option<&MediaBinding> {
        self.get(b.port()).or_else(|| self.get(a.port()))
    }
}

impl Ctx<'_> {
    /// Emits an event.
    pub fn emit(&mut self, ev: Event) {
        self.timeline.push(ev);
    }

    /// Emits an anomaly event (`<protocol>.anomaly`) and counts it on the flow.
    pub fn anomaly(&mut self, protocol: &'static str, ts: Timestamp, dir: Option<Direction>, what: String) {
        *self.anomalies += 1;
        let ev = Event::new(ts, Some(self.flow), protocol, "anomaly", dir)
            .with("what", crate::timeline::FieldValue::Str(what));
        self.timeline.push(ev);
    }
}

/// A dissector of one TCP connection, fed the in-order bytes of each direction.
pub trait StreamDissector: Send {
    /// New in-order bytes of one direction; `ts` is the capture time of the segment that
    /// carried the last of them.
    fn on_data(&mut self, ctx: &mut Ctx<'_>, dir: Direction, data: &[u8], ts: Timestamp) -> Progress;
    /// `len` bytes of one direction were never captured: resynchronise.
    fn on_gap(&mut self, _ctx: &mut Ctx<'_>, _dir: Direction, _len: u64) {}
    /// The direction ended.
    fn on_end(&mut self, _ctx: &mut Ctx<'_>, _dir: Direction, _ts: Timestamp) {}
    /// This connection's entries for the report section named by the registry.
    fn report(&self, _flow: FlowId, _show_secrets: bool) -> Vec<serde_json::Value> {
        Vec::new()
    }
    /// The same entries as [`StreamDissector::report`], as the JSON text they serialise to,
    /// each handed to `out`; false when the dissector does not write text (then `report` is
    /// used). For dissectors with many entries per connection.
    fn report_text(&self, _flow: FlowId, _show_secrets: bool, _out: &mut dyn FnMut(&[u8])) -> bool {
        false
    }
    /// Entries for other report sections (a protocol carried inside this one).
    fn extra_reports(&self, _flow: FlowId, _show_secrets: bool) -> Vec<(&'static str, serde_json::Value)> {
        Vec::new()
    }
    /// A one-line summary for the flows view (e.g. `publish live/****`).
    fn headline(&self) -> Option<String> {
        None
    }
}

/// A dissector of one UDP flow, fed one datagram at a time.
pub trait DatagramDissector: Send {
    /// One datagram.
    fn on_datagram(&mut self, ctx: &mut Ctx<'_>, dir: Direction, data: &[u8], ts: Timestamp);
    /// The flow ended.
    fn on_end(&mut self, _ctx: &mut Ctx<'_>, _ts: Timestamp) {}
    /// This flow's entries for the report section named by the registry.
    fn report(&self, _flow: FlowId, _show_secrets: bool) -> Vec<serde_json::Value> {
        Vec::new()
    }
    /// Entries for other report sections (or several sections at once).
    fn extra_reports(&self, _flow: FlowId, _show_secrets: bool) -> Vec<(&'static str, serde_json::Value)> {
        Vec::new()
    }
    /// A one-line summary for the flows view.
    fn headline(&self) -> Option<String> {
        None
    }
}

/// Where in its byte stream a TCP dissector starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamStart {
    /// At the protocol's beginning (a SYN was seen, or the content probe matched its start).
    Beginning,
    /// Somewhere in the middle (joined mid-way and pinned by port or decode-as).
    MidStream,
}

/// Which transports a protocol runs over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Over {
    /// TCP only.
    Tcp,
    /// UDP only.
    Udp,
    /// Either.
    Both,
}

/// One protocol in the registry.
pub struct ProtocolSpec {
    /// Lower-case name used in reports and `--decode-as`.
    pub name: &'static str,
    /// Transports it runs over.
    pub over: Over,
    /// Well-known ports: a hint for probe order and orientation, never a verdict.
    pub ports: &'static [u16],
    /// The content probe; must never panic.
    pub probe: fn(&ProbeInput<'_>) -> Probe,
    /// Creates a TCP dissector, once the protocol has one.
    pub stream: Option<fn(StreamStart) -> Box<dyn StreamDissector>>,
    /// Creates a UDP dissector, once the protocol has one.
    pub datagram: Option<fn() -> Box<dyn DatagramDissector>>,
    /// The report section its dissector fills.
    pub section: &'static str,
}

impl ProtocolSpec {
    /// Whether it can run over TCP (`udp == false`) or UDP.
    pub fn runs_over(&self, udp: bool) -> bool {
        matches!((self.over, udp), (Over::Both, _) | (Over::Tcp, false) | (Over::Udp, true))
    }
}

/// Every protocol streamscope recognises, in probe order (strict probes first).
pub static REGISTRY: &[ProtocolSpec] = &[
    rtmp::SPEC,
    rtsp::SPEC,
    sip::SPEC,
    http::SPEC,
    tls::SPEC,
    stun::SPEC,
    dtls::SPEC,
    quic::SPEC,
    rtp::RTCP_SPEC,
    rtp::RTP_SPEC,
    dns::SPEC,
];

/// Runs the probes of `candidates` (registry indexes, in order) on the first bytes of both
/// directions of a TCP stream: the first that matches, and whether some probe still needs
/// more bytes.
pub fn probe_stream(candidates: impl IntoIterator<Item = usize>, c2s: &[u8], s2c: &[u8]) -> (Option<usize>, bool) {
    let mut need_more = false;
    for i in candidates {
        let Some(spec) = REGISTRY.get(i) else { continue };
        let mut verdict = Probe::NoMatch;
        for (dir, mine, other) in [(Direction::C2S, c2s, s2c), (Direction::S2C, s2c, c2s)] {
            if mine.is_empty() {
                continue;
            }
            match (spec.probe)(&ProbeInput { dir, data: mine, other, prev: None, udp: false }) {
                Probe::Match => verdict = Probe::Match,
                Probe::NeedMore if verdict != Probe::Match => verdict = Probe::NeedMore,
                _ => {}
            }
        }
        match verdict {
            Probe::Match => return (Some(i), need_more),
            Probe::NeedMore => need_more = true,
            Probe::NoMatch => {}
        }
    }
    (None, need_more)
}

/// Looks a protocol up by name.
pub fn spec_by_name(name: &str) -> Option<(usize, &'static ProtocolSpec)> {
    REGISTRY.iter().enumerate().find(|(_, s)| s.name == name)
}

/// Whether some protocol lists `port` as its well-known port, or it is below 1024.
pub fn is_service_port(port: u16) -> bool {
    port < 1024 || REGISTRY.iter().any(|s| s.ports.contains(&port))
}

/// Reads a big-endian u16 at `at`, if present.
pub(crate) fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// Reads a big-endian u32 at `at`, if present.
pub(crate) fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes([*b.get(at)?, *b.get(at + 1)?, *b.get(at + 2)?, *b.get(at + 3)?]))
}

/// Probe helper for text protocols: the first line (without CR LF) once complete, `None`
/// while incomplete; gives up after `max` bytes.
pub(crate) fn first_line(data: &[u8], max: usize) -> Result<Option<&[u8]>, ()> {
    match memchr::memchr(b'\n', data) {
        Some(i) => {
            let line = data.get(..i).unwrap_or(&[]);
            Ok(Some(line.strip_suffix(b"\r").unwrap_or(line)))
        }
        None if data.len() >= max => Err(()),
        None => Ok(None),
    }
}

/// Probe helper for text protocols: a request line `METHOD SP target SP VERSION` whose
/// method is in `methods` and whose version starts with `version`, or a status line starting
/// with `version`.
pub(crate) fn probe_text(data: &[u8], methods: &[&str], version: &[u8]) -> Probe {
    // Decide early on the first bytes where possible.
    let starts_ok = methods.iter().any(|m| {
        let m = m.as_bytes();
        let n = m.len().min(data.len());
        data.get(..n) == m.get(..n)
    }) || {
        let n = version.len().min(data.len());
        data.get(..n) == version.get(..n)
    };
    if !starts_ok {
        return Probe::NoMatch;
    }
    let line = match first_line(data, 4096) {
        Ok(Some(l)) => l,
        Ok(None) => return Probe::NeedMore,
        Err(()) => return Probe::NoMatch,
    };
    if line.starts_with(version) {
        // Status line: VERSION SP 3DIGIT
        let code = line.get(version.len()..).unwrap_or(&[]);
        let ok = code
            .iter()
            .position(|&b| b == b' ')
            .and_then(|sp| code.get(sp + 1..sp + 4))
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit));
        return if ok { Probe::Match } else { Probe::NoMatch };
    }
    let mut parts = line.split(|&b| b == b' ');
    let (Some(m), Some(target), Some(v), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Probe::NoMatch;
    };
    let known = methods.iter().any(|x| x.as_bytes() == m);
    if known && !target.is_empty() && v.starts_with(version) {
        Probe::Match
    } else {
        Probe::NoMatch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_names_are_unique_and_lower_case() {
        for (i, s) in REGISTRY.iter().enumerate() {
            assert_eq!(s.name, s.name.to_lowercase());
            assert!(REGISTRY.iter().skip(i + 1).all(|o| o.name != s.name));
        }
    }

    #[test]
    fn text_probe() {
        let m = ["GET", "POST"];
        assert_eq!(probe_text(b"GET /x HTTP/1.1\r\n", &m, b"HTTP/1."), Probe::Match);
        assert_eq!(probe_text(b"GE", &m, b"HTTP/1."), Probe::NeedMore);
        assert_eq!(probe_text(b"GET /x HT", &m, b"HTTP/1."), Probe::NeedMore);
        assert_eq!(probe_text(b"GET /x FTP\r\n", &m, b"HTTP/1."), Probe::NoMatch);
        assert_eq!(probe_text(b"HTTP/1.1 200 OK\r\n", &m, b"HTTP/1."), Probe::Match);
        assert_eq!(probe_text(b"\x16\x03\x01", &m, b"HTTP/1."), Probe::NoMatch);
    }
}
