//! Reading pcap (µs and ns) and pcapng (several sections and interfaces, per-interface
//! timestamp resolution and offset) files or standard input, through pcap-parser.

use super::{CaptureError, LinkType, RawPacket, SourceSummary};
use crate::time::Timestamp;
use pcap_parser::pcapng::Block;
use pcap_parser::traits::PcapNGPacketBlock;
use pcap_parser::{PcapBlockOwned, PcapError};
use std::io::Read;
use std::ops::ControlFlow;

/// Initial read buffer; it grows (up to [`MAX_BLOCK`]) when a block does not fit.
const INITIAL_BUFFER: usize = 1 << 20;
/// The largest block accepted; anything larger is treated as corruption.
const MAX_BLOCK: usize = 64 << 20;

/// Per-interface facts from a pcapng Interface Description Block (RFC draft-ietf-opsawg-pcapng
/// §4.2): link type, timestamp units per second (if_tsresol) and offset (if_tsoffset).
#[derive(Debug, Clone, Copy)]
struct Interface {
    link: LinkType,
    units_per_sec: u64,
    offset_secs: i64,
}

/// Opens `path` (or standard input for `-`) and calls `on_packet` for every frame in order.
/// The callback may stop the reading early by returning `ControlFlow::Break`.
pub fn read_path(
    path: &str,
    on_packet: impl FnMut(&RawPacket<'_>) -> ControlFlow<()>,
) -> Result<SourceSummary, CaptureError> {
    if path == "-" {
        let stdin = std::io::stdin();
        return read_capture(stdin, on_packet);
    }
    let file = std::fs::File::open(path).map_err(|e| CaptureError::Io(format!("cannot open {path}: {e}")))?;
    if file.metadata().map(|m| m.is_dir()).unwrap_or(false) {
        return Err(CaptureError::Io(format!("cannot read {path}: it is a directory")));
    }
    read_capture(file, on_packet)
}

/// Reads a pcap or pcapng stream from any reader. The reading, the file format and the
/// copying of frames into batches happen on a second thread (see [`super::read_ahead`]);
/// `on_packet` runs on the calling thread, frame by frame, in capture order.
pub fn read_capture<R: Read + Send>(
    reader: R,
    on_packet: impl FnMut(&RawPacket<'_>) -> ControlFlow<()>,
) -> Result<SourceSummary, CaptureError> {
    super::read_ahead::run(move |emit| parse_capture(reader, emit), on_packet)
}

/// Parses a pcap or pcapng stream, calling `on_packet` for every frame, on the calling thread.
pub fn parse_capture<R: Read + Send>(
    reader: R,
    mut on_packet: impl FnMut(&RawPacket<'_>) -> ControlFlow<()>,
) -> Result<SourceSummary, CaptureError> {
    let mut summary = SourceSummary::default();
    let mut rd = match pcap_parser::create_reader(INITIAL_BUFFER, reader) {
        Ok(r) => r,
        Err(PcapError::Eof) => {
            return Err(CaptureError::NotACapture("the input is empty: not a pcap or pcapng capture".into()))
        }
        Err(PcapError::Incomplete(_)) => {
            return Err(CaptureError::NotACapture("the input is too short to be a pcap or pcapng capture".into()))
        }
        Err(PcapError::ReadError) => return Err(CaptureError::Io("read error on the input".into())),
        Err(_) => return Err(CaptureError::NotACapture("the input is not a pcap or pcapng capture".into())),
    };
    let mut capacity = INITIAL_BUFFER;
    let mut legacy_link = LinkType(u32::MAX);
    let mut legacy_units: u64 = 1_000_000;
    let mut interfaces: Vec<Interface> = Vec::new();
    let mut last_ts = Timestamp::default();
    loop {
        match rd.next() {
            Ok((offset, block)) => {
                let mut emit = |link: LinkType, ts: Timestamp, data: &[u8], orig_len: u32, interface: u32| {
                    if !summary.link_types.contains(&link) {
                        summary.link_types.push(link);
                    }
                    if !link.is_supported() {
                        summary.unsupported_link_frames += 1;
                    }
                    on_packet(&RawPacket { ts, link, data, orig_len, interface })
                };
                let flow = match block {
                    PcapBlockOwned::LegacyHeader(h) => {
                        summary.format = if h.is_nanosecond_precision() { "pcap-ns".into() } else { "pcap".into() };
                        legacy_units = if h.is_nanosecond_precision() { 1_000_000_000 } else { 1_000_000 };
                        legacy_link = LinkType(h.network.0 as u32);
                        if !summary.link_types.contains(&legacy_link) {
                            summary.link_types.push(legacy_link);
                        }
                        ControlFlow::Continue(())
                    }
                    PcapBlockOwned::Legacy(b) => {
                        let frac = u64::from(b.ts_usec).min(legacy_units - 1);
                        let nanos = (frac * (1_000_000_000 / legacy_units)) as u32;
                        let ts = Timestamp::from_secs_nanos(i64::from(b.ts_sec), nanos);
                        last_ts = ts;
                        let cap = (b.caplen as usize).min(b.data.len());
                        let data = b.data.get(..cap).unwrap_or(b.data);
                        emit(legacy_link, ts, data, b.origlen, 0)
                    }
                    PcapBlockOwned::NG(Block::SectionHeader(_)) => {
                        summary.format = "pcapng".into();
                        interfaces.clear();
                        ControlFlow::Continue(())
                    }
                    PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                        let link = LinkType(idb.linktype.0 as u32);
                        if !summary.link_types.contains(&link) {
                            summary.link_types.push(link);
                        }
                        interfaces.push(Interface {
                            link,
                            units_per_sec: idb.ts_resolution().unwrap_or(1_000_000),
                            offset_secs: idb.ts_offset(),
                        });
                        ControlFlow::Continue(())
                    }
                    PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                        let iface = interfaces.get(epb.if_id as usize).copied();
                        match iface {
                            Some(i) => {
                                let ticks = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                                let ts = Timestamp::from_ticks(ticks, i.units_per_sec, i.offset_secs);
                                last_ts = ts;
                                emit(i.link, ts, epb.packet_data(), epb.origlen, epb.if_id)
                            }
                            None => {
                                summary.warning.get_or_insert_with(|| {
                                    format!("packet block names interface {} that was never described", epb.if_id)
                                });
                                ControlFlow::Continue(())
                            }
                        }
                    }
                    PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                        match interfaces.first().copied() {
                            // A Simple Packet Block has no timestamp (pcapng §4.4): reuse the last one.
                            Some(i) => emit(i.link, last_ts, spb.packet_data(), spb.origlen, 0),
                            None => ControlFlow::Continue(()),
                        }
                    }
                    PcapBlockOwned::NG(_) => ControlFlow::Continue(()),
                };
                summary.bytes_read += offset as u64;
                // No shift here: the buffer is compacted only when a refill needs room, so the
                // data is not copied twice.
                rd.consume_noshift(offset);
                if flow.is_break() {
                    break;
                }
            }
            Err(PcapError::Eof) => break,
            Err(PcapError::Incomplete(_)) => {
                if rd.refill().is_err() {
                    summary.warning = Some("read error on the input; stopped early".into());
                    break;
                }
            }
            Err(PcapError::BufferTooSmall) => {
                if capacity >= MAX_BLOCK || !rd.grow(capacity * 2) {
                    summary.warning = Some(format!(
                        "a block larger than {} MiB at byte {}: the file looks corrupt; stopped there",
                        MAX_BLOCK >> 20,
                        summary.bytes_read
                    ));
                    break;
                }
                capacity *= 2;
                if rd.refill().is_err() {
                    summary.warning = Some("read error on the input; stopped early".into());
                    break;
                }
            }
            Err(PcapError::UnexpectedEof) => {
                summary.warning = Some(format!(
                    "the capture ends in the middle of a packet record at byte {}: it was cut off; reported what was read",
                    summary.bytes_read
                ));
                break;
            }
            Err(e) => {
                summary.warning = Some(format!(
                    "corrupt block at byte {} ({}); stopped there and reported what was read",
                    summary.bytes_read,
                    describe(&e)
                ));
                break;
            }
        }
    }
    if !summary.link_types.is_empty() && summary.link_types.iter().all(|l| !l.is_supported()) {
        let names: Vec<String> = summary.link_types.iter().map(|l| l.0.to_string()).collect();
        return Err(CaptureError::UnsupportedLinkType(format!(
            "unsupported link type {} (supported: Ethernet, Linux SLL/SLL2, raw IP, BSD NULL/LOOP)",
            names.join(", ")
        )));
    }
    Ok(summary)
}

fn describe(e: &PcapError<&[u8]>) -> String {
    match e {
        PcapError::NomError(_, k) => format!("{k:?}"),
        PcapError::OwnedNomError(_, k) => format!("{k:?}"),
        PcapError::HeaderNotRecognized => "unrecognised header".into(),
        PcapError::ReadError => "read error".into(),
        other => format!("{other:?}"),
    }
}
