//! A minimal pcapng writer (Section Header, Interface Description and Enhanced Packet blocks,
//! draft-ietf-opsawg-pcapng §4.1–4.3) for `-w out.pcapng` and for exporting a flow's packets.

use super::LinkType;
use crate::time::Timestamp;
use std::io::{self, Write};

/// Writes packets to a pcapng stream. Interfaces are declared on first use of a link type.
pub struct PcapngWriter<W: Write> {
    out: W,
    interfaces: Vec<LinkType>,
    snaplen: u32,
}

impl<W: Write> PcapngWriter<W> {
    /// Starts a new section on `out`.
    pub fn new(mut out: W, snaplen: u32) -> io::Result<Self> {
        // SHB: type, length, byte-order magic, version 1.0, section length unknown (-1).
        let mut b = Vec::with_capacity(28);
        b.extend_from_slice(&0x0A0D_0D0Au32.to_le_bytes());
        b.extend_from_slice(&28u32.to_le_bytes());
        b.extend_from_slice(&0x1A2B_3C4Du32.to_le_bytes());
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&0u16.to_le_bytes());
        b.extend_from_slice(&(-1i64).to_le_bytes());
        b.extend_from_slice(&28u32.to_le_bytes());
        out.write_all(&b)?;
        Ok(PcapngWriter { out, interfaces: Vec::new(), snaplen })
    }

    fn interface_for(&mut self, link: LinkType) -> io::Result<u32> {
        if let Some(i) = self.interfaces.iter().position(|l| *l == link) {
            return Ok(i as u32);
        }
        // IDB with an if_tsresol option of 9 (nanoseconds) and opt_endofopt.
        let mut b = Vec::with_capacity(32);
        b.extend_from_slice(&1u32.to_le_bytes());
        b.extend_from_slice(&32u32.to_le_bytes());
        b.extend_from_slice(&(link.0 as u16).to_le_bytes());
        b.extend_from_slice(&0u16.to_le_bytes());
        b.extend_from_slice(&self.snaplen.to_le_bytes());
        b.extend_from_slice(&9u16.to_le_bytes()); // if_tsresol
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&[9, 0, 0, 0]);
        b.extend_from_slice(&0u32.to_le_bytes()); // opt_endofopt
        b.extend_from_slice(&32u32.to_le_bytes());
        self.out.write_all(&b)?;
        self.interfaces.push(link);
        Ok((self.interfaces.len() - 1) as u32)
    }

    /// Appends one packet as an Enhanced Packet Block.
    pub fn write_packet(&mut self, link: LinkType, ts: Timestamp, data: &[u8], orig_len: u32) -> io::Result<()> {
        let if_id = self.interface_for(link)?;
        let pad = (4 - data.len() % 4) % 4;
        let total = (32 + data.len() + pad) as u32;
        let ticks = ts.0.max(0) as u64;
        let mut h = [0u8; 28];
        h[0..4].copy_from_slice(&6u32.to_le_bytes());
        h[4..8].copy_from_slice(&total.to_le_bytes());
        h[8..12].copy_from_slice(&if_id.to_le_bytes());
        h[12..16].copy_from_slice(&((ticks >> 32) as u32).to_le_bytes());
        h[16..20].copy_from_slice(&(ticks as u32).to_le_bytes());
        h[20..24].copy_from_slice(&(data.len() as u32).to_le_bytes());
        h[24..28].copy_from_slice(&orig_len.max(data.len() as u32).to_le_bytes());
        self.out.write_all(&h)?;
        self.out.write_all(data)?;
        self.out.write_all([0u8; 3].get(..pad).unwrap_or(&[]))?;
        self.out.write_all(&total.to_le_bytes())
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::file::read_capture;
    use std::ops::ControlFlow;

    #[test]
    fn written_pcapng_reads_back() {
        let mut buf = Vec::new();
        {
            let mut w = PcapngWriter::new(&mut buf, 65535).unwrap();
            w.write_packet(LinkType::ETHERNET, Timestamp(1_700_000_000_123_456_789), &[1, 2, 3, 4, 5], 60).unwrap();
            w.write_packet(LinkType::RAW, Timestamp(1_700_000_001_000_000_001), &[0x45; 20], 20).unwrap();
        }
        let mut got = Vec::new();
        let s = read_capture(&buf[..], |p| {
            got.push((p.link, p.ts, p.data.to_vec(), p.orig_len));
            ControlFlow::Continue(())
        })
        .unwrap();
        assert_eq!(s.format, "pcapng");
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], (LinkType::ETHERNET, Timestamp(1_700_000_000_123_456_789), vec![1, 2, 3, 4, 5], 60));
        assert_eq!(got[1].0, LinkType::RAW);
        assert_eq!(got[1].1, Timestamp(1_700_000_001_000_000_001));
    }
}
