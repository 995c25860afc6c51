//! Getting packets back out of a capture file: one frame by number (for the UI's hex pane) and
//! every packet of one flow, written to a pcapng (the UI's `w`). The file is read again from
//! the start; nothing is kept in memory meanwhile. Knows addresses and ports, no protocols.

use super::pcapng_writer::PcapngWriter;
use super::{file, CaptureError, LinkType};
use crate::time::Timestamp;
use crate::wire::{self, transport::Transport, Network};
use std::net::SocketAddr;
use std::ops::ControlFlow;

/// One frame, copied out of the capture.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// Frame number (1-based).
    pub number: u64,
    /// Capture time.
    pub ts: Timestamp,
    /// Link type.
    pub link: LinkType,
    /// Captured bytes.
    pub data: Vec<u8>,
    /// Length on the wire.
    pub orig_len: u32,
}

/// Reads frame `number` (1-based, as tshark numbers them) of the capture at `path`.
pub fn frame(path: &str, number: u64) -> Result<Option<Frame>, CaptureError> {
    let mut n = 0u64;
    let mut found = None;
    file::read_path(path, |p| {
        n += 1;
        if n == number {
            found = Some(Frame { number, ts: p.ts, link: p.link, data: p.data.to_vec(), orig_len: p.orig_len });
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    })?;
    Ok(found)
}

/// Which packets belong to a flow: its transport, endpoints and time span.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FlowMatch {
    /// `true` for TCP, `false` for UDP.
    pub tcp: bool,
    /// One endpoint.
    pub a: SocketAddr,
    /// The other.
    pub b: SocketAddr,
    /// First packet's time.
    pub first: Timestamp,
    /// Last packet's time.
    pub last: Timestamp,
}

impl FlowMatch {
    /// Whether a captured frame belongs to the flow. IP fragments after the first carry no
    /// ports: they are kept when their addresses and protocol match within the flow's span.
    pub fn matches(&self, link: LinkType, ts: Timestamp, data: &[u8]) -> bool {
        if ts < self.first || ts > self.last {
            return false;
        }
        let Ok(Network::Ip(ip)) = wire::decode_network(link, data) else { return false };
        let proto = if self.tcp { 6 } else { 17 };
        if ip.proto != proto {
            return false;
        }
        let ips = (ip.src == self.a.ip() && ip.dst == self.b.ip()) || (ip.src == self.b.ip() && ip.dst == self.a.ip());
        if !ips {
            return false;
        }
        if ip.fragment.is_some_and(|f| f.offset > 0) {
            return true;
        }
        let ports = match wire::transport::decode(ip.proto, ip.payload, ip.declared_len) {
            Ok(Transport::Tcp { header, .. }) => (header.src_port, header.dst_port),
            Ok(Transport::Udp { src_port, dst_port, .. }) => (src_port, dst_port),
            _ => return false,
        };
        let (s, d) = (SocketAddr::new(ip.src, ports.0), SocketAddr::new(ip.dst, ports.1));
        (s == self.a && d == self.b) || (s == self.b && d == self.a)
    }
}

/// Writes every packet of the capture at `path` that belongs to `flow` to a new pcapng file
/// `out`; returns how many were written.
pub fn write_flow(path: &str, flow: &FlowMatch, out: &str) -> Result<u64, CaptureError> {
    let file = std::fs::File::create(out).map_err(|e| CaptureError::Io(format!("cannot create {out}: {e}")))?;
    let io_err = |e: std::io::Error| CaptureError::Io(format!("cannot write {out}: {e}"));
    let mut w = PcapngWriter::new(std::io::BufWriter::new(file), 262_144).map_err(io_err)?;
    let mut written = 0u64;
    let mut failed = None;
    file::read_path(path, |p| {
        if flow.matches(p.link, p.ts, p.data) {
            if let Err(e) = w.write_packet(p.link, p.ts, p.data, p.orig_len) {
                failed = Some(e);
                return ControlFlow::Break(());
            }
            written += 1;
        }
        ControlFlow::Continue(())
    })?;
    if let Some(e) = failed {
        return Err(io_err(e));
    }
    w.flush().map_err(io_err)?;
    Ok(written)
}

/// A classic hex dump: offset, 16 bytes in hex, the printable ASCII.
pub fn hex_dump(data: &[u8]) -> Vec<String> {
    data.chunks(16)
        .enumerate()
        .map(|(i, c)| {
            let hex: Vec<String> = c.iter().map(|b| format!("{b:02x}")).collect();
            let text: String =
                c.iter().map(|b| if b.is_ascii_graphic() || *b == b' ' { *b as char } else { '.' }).collect();
            format!("{:04x}  {:<47}  {text}", i * 16, hex.join(" "))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_dump_lines() {
        let d: Vec<u8> = (0u8..20).chain(*b"AB").collect();
        let lines = hex_dump(&d);
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("0000  00 01 02"));
        assert!(lines[1].starts_with("0010  10 11 12 13 41 42"));
        assert!(lines[1].ends_with("....AB"));
    }
}
