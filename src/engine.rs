//! The analysis engine: one synchronous, deterministic pipeline from captured frames to flows,
//! events and report sections, driven only by capture time. The binary, tests and benchmarks
//! all call it the same way.

use crate::app::{AppLayer, DecodeAs};
use crate::capture::{LinkType, RawPacket};
use crate::flow::{FlowLimits, FlowTable};
use crate::time::Timestamp;
use crate::timeline::Timeline;
use crate::wire::tunnel::{self, GTP_U_PORT};
use crate::wire::{self, defrag, DecodeError, Network, Transport};
use std::net::{IpAddr, SocketAddr};

/// How often (capture time) idle flows are looked for.
const SWEEP_EVERY_SECS: u64 = 10;
/// Idle timeout of a flow recognised as DNS: one query and its answer, then nothing (a
/// capture of streaming traffic holds tens of thousands; waiting the UDP timeout for each
/// would hold them all in the table). A 5-tuple reused after this is a new flow.
const DNS_IDLE_SECS: u64 = 30;
/// Malformed packets remembered in detail for the report.
const MALFORMED_SAMPLES: usize = 20;

/// Settings of a run.
#[derive(Debug, Clone)]
pub struct Config {
    /// Flow table limits.
    pub flows: FlowLimits,
    /// IP reassembly limits.
    pub defrag: defrag::Limits,
    /// `--decode-as` rules.
    pub decode_as: Vec<DecodeAs>,
    /// Events kept in memory (the timeline store's cap).
    pub max_events: usize,
    /// Whether secrets may be shown.
    pub show_secrets: bool,
    /// TLS secrets (SSLKEYLOGFILE format) for decrypting TLS.
    pub keylog: Option<std::sync::Arc<crate::dissect::tls::keylog::KeyLog>>,
    /// SRTP master keys (`--srtp-key`).
    pub srtp_keys: Vec<crate::dissect::srtp::KeySpec>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            flows: FlowLimits::default(),
            defrag: defrag::Limits::default(),
            decode_as: Vec::new(),
            max_events: 200_000,
            show_secrets: false,
            keylog: None,
            srtp_keys: Vec::new(),
        }
    }
}

/// One malformed packet, for the report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MalformedSample {
    /// 1-based frame number in the capture.
    pub frame: u64,
    /// Capture time (seconds, µs precision).
    pub ts: String,
    /// What was wrong.
    pub error: String,
}

/// Capture-wide counters.
#[derive(Debug, Default, Clone)]
pub struct CaptureStats {
    /// Frames read.
    pub packets: u64,
    /// Sum of the frames' on-the-wire lengths.
    pub bytes: u64,
    /// Sum of the captured lengths.
    pub captured_bytes: u64,
    /// First frame's time.
    pub first_ts: Option<Timestamp>,
    /// Last frame's time.
    pub last_ts: Option<Timestamp>,
    /// Frames whose captured length is below their length on the wire.
    pub truncated: u64,
    /// Frames that failed to decode down to their transport header.
    pub malformed: u64,
    /// Frames that are not IP (ARP, LLDP, …).
    pub non_ip: u64,
    /// IP packets of other transports (ICMP, SCTP, …).
    pub other_transport: u64,
    /// Packets taken out of a tunnel (GTP-U) and analysed as the inner packet.
    pub tunnelled: u64,
    /// Frames of link types streamscope cannot decode.
    pub unsupported_link: u64,
    /// Frames whose timestamp is earlier than the previous frame's.
    pub time_went_back: u64,
    /// Link types seen, in order of appearance.
    pub link_types: Vec<LinkType>,
    /// The first malformed frames, described.
    pub malformed_samples: Vec<MalformedSample>,
}

/// The pipeline.
pub struct Engine {
    /// Capture-wide counters.
    pub capture: CaptureStats,
    /// The flow table.
    pub flows: FlowTable,
    /// Detection, dissectors, timeline and latency.
    pub app: AppLayer,
    /// IP fragment reassembly.
    pub defrag: defrag::Defragmenter,
    next_sweep: Option<Timestamp>,
    finished: bool,
}

impl Engine {
    /// An engine whose events are kept in memory (up to the configured cap).
    pub fn new(cfg: Config) -> Self {
        let timeline = Timeline::new(cfg.max_events);
        Self::with_timeline(cfg, timeline)
    }

    /// An engine writing its events to the given timeline.
    pub fn with_timeline(cfg: Config, timeline: Timeline) -> Self {
        Engine {
            capture: CaptureStats::default(),
            flows: FlowTable::new(cfg.flows, Box::new(crate::dissect::is_service_port)),
            app: {
                let mut app = AppLayer::new(cfg.decode_as, timeline, cfg.show_secrets);
                app.keylog = cfg.keylog;
                app.srtp_keys = cfg.srtp_keys;
                app
            },
            defrag: defrag::Defragmenter::new(cfg.defrag),
            next_sweep: None,
            finished: false,
        }
    }

    /// Analyses one captured frame.
    pub fn process(&mut self, pkt: &RawPacket<'_>) {
        let c = &mut self.capture;
        c.packets += 1;
        self.app.timeline.frame = c.packets;
        c.bytes += u64::from(pkt.orig_len.max(pkt.data.len() as u32));
        c.captured_bytes += pkt.data.len() as u64;
        if (pkt.data.len() as u64) < u64::from(pkt.orig_len) {
            c.truncated += 1;
        }
        if c.first_ts.is_none() {
            c.first_ts = Some(pkt.ts);
        }
        if c.last_ts.is_some_and(|l| pkt.ts < l) {
            c.time_went_back += 1;
        }
        c.last_ts = Some(c.last_ts.map_or(pkt.ts, |l| l.max(pkt.ts)));
        if !c.link_types.contains(&pkt.link) {
            c.link_types.push(pkt.link);
        }
        if !pkt.link.is_supported() {
            c.unsupported_link += 1;
            return;
        }
        let now = c.last_ts.unwrap_or(pkt.ts);
        self.maybe_sweep(now);
        match wire::decode_network(pkt.link, pkt.data) {
            Err(e) => self.malformed(pkt.ts, &e),
            Ok(Network::NotIp(_)) => self.capture.non_ip += 1,
            Ok(Network::Ip(ip)) => self.ip(ip, pkt.ts, 0),
        }
        self.apply_labels();
    }

    /// One IP packet (from the wire, or out of a tunnel at `depth` > 0).
    fn ip(&mut self, ip: wire::IpPacket<'_>, ts: Timestamp, depth: u8) {
        if let Some(frag) = ip.fragment {
            let whole = self.defrag.push(ip.src, ip.dst, ip.proto, frag.id, frag.offset, frag.more, ip.payload, ts);
            if let Some(whole) = whole {
                let len = whole.len();
                self.transport(ip.src, ip.dst, ip.proto, &whole, len, ts, depth);
            }
            return;
        }
        self.transport(ip.src, ip.dst, ip.proto, ip.payload, ip.declared_len, ts, depth);
    }

    fn malformed(&mut self, ts: Timestamp, e: &DecodeError) {
        let c = &mut self.capture;
        c.malformed += 1;
        if c.malformed_samples.len() < MALFORMED_SAMPLES {
            let error = match e {
                DecodeError::Truncated { layer, offset, needed, had } => {
                    format!("{layer:?} header truncated at offset {offset}: needed {needed} bytes, had {had}")
                }
                DecodeError::Invalid { layer, what } => format!("{layer:?}: {what}"),
            };
            c.malformed_samples.push(MalformedSample { frame: c.packets, ts: ts.to_string(), error });
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn transport(
        &mut self,
        src: IpAddr,
        dst: IpAddr,
        proto: u8,
        payload: &[u8],
        declared: usize,
        ts: Timestamp,
        depth: u8,
    ) {
        match wire::transport::decode(proto, payload, declared) {
            Err(e) => self.malformed(ts, &e),
            Ok(Transport::Tcp { header, payload, payload_len }) => {
                let (s, d) = (SocketAddr::new(src, header.src_port), SocketAddr::new(dst, header.dst_port));
                self.flows.on_tcp(s, d, &header, payload, payload_len, ts, &mut self.app);
            }
            Ok(Transport::Udp { src_port, dst_port, payload, payload_len }) => {
                if depth < 2 && (src_port == GTP_U_PORT || dst_port == GTP_U_PORT) {
                    if let Some(inner) = tunnel::gtp_u_inner(payload) {
                        if let Ok(Network::Ip(ip)) = wire::decode_ip(inner, 0) {
                            self.capture.tunnelled += 1;
                            self.ip(ip, ts, depth + 1);
                            return;
                        }
                    }
                }
                let (s, d) = (SocketAddr::new(src, src_port), SocketAddr::new(dst, dst_port));
                if let Some(p) = self.flows.on_udp(s, d, payload_len, ts, &mut self.app) {
                    self.app.datagram(p.flow, p.dir, payload, ts);
                }
            }
            Ok(Transport::Other(_)) => self.capture.other_transport += 1,
        }
    }

    fn maybe_sweep(&mut self, now: Timestamp) {
        match self.next_sweep {
            None => self.next_sweep = Some(now.plus_secs(SWEEP_EVERY_SECS)),
            Some(t) if now >= t => {
                self.flows.sweep(now, &mut self.app);
                self.next_sweep = Some(now.plus_secs(SWEEP_EVERY_SECS));
            }
            Some(_) => {}
        }
    }

    /// Applies the application layer's protocol labels, then lets the flows that ended leave
    /// the table (after their last label), taking their anomaly counts with them.
    fn apply_labels(&mut self) {
        for (flow, name, how) in self.app.relabeled.drain(..) {
            if let Some(r) = self.flows.record_mut(flow) {
                r.protocol = name;
                r.detected_by = Some(how);
            }
            if name == crate::dissect::dns::SPEC.name {
                self.flows.set_idle_timeout(flow, DNS_IDLE_SECS);
            }
        }
        let app = &mut self.app;
        self.flows.retire(&mut |flow| app.retire(flow));
    }

    /// Ends the capture: flushes every flow and fragment table. Idempotent.
    pub fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        let now = self.capture.last_ts.unwrap_or_default();
        self.flows.finish(now, &mut self.app);
        self.defrag.finish();
        self.apply_labels();
        self.app.timeline.flush();
    }
}
