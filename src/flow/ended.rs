//! Records of flows that ended: encoded in a fixed binary form and kept in a [`SpillLog`], so
//! a capture with millions of flows keeps 8 bytes of memory per ended flow plus the log's
//! in-memory budget. Read back whole, by flow id, for the report and the UI.

use super::{DirStats, FlowId, FlowRecord, PerDir, TcpStats, TransportKind};
use crate::spill::SpillLog;
use crate::time::Timestamp;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};

/// Bytes of one encoded record.
const REC: usize = 184;
const NOWHERE: u64 = u64::MAX;

/// Ended flows' records by flow id.
#[derive(Debug)]
pub struct EndedFlows {
    log: SpillLog,
    /// Flow id → offset of its record in the log (`NOWHERE`: not ended).
    at: Vec<u64>,
    /// Protocol and detection names seen, by the index records carry.
    names: Vec<&'static str>,
}

impl EndedFlows {
    /// A store keeping up to `budget` bytes of records in memory.
    pub fn new(budget: usize) -> Self {
        EndedFlows { log: SpillLog::new(budget), at: Vec::new(), names: Vec::new() }
    }

    fn name_index(&mut self, name: &'static str) -> u16 {
        match self.names.iter().position(|n| *n == name) {
            Some(i) => i as u16,
            None => {
                self.names.push(name);
                (self.names.len() - 1) as u16
            }
        }
    }

    /// Stores the final record of a flow.
    pub fn push(&mut self, r: &FlowRecord) {
        let protocol = self.name_index(r.protocol);
        let detected = r.detected_by.map_or(u16::MAX, |d| self.name_index(d));
        let mut b = [0u8; REC];
        let mut w = Writer { buf: &mut b, at: 0 };
        w.u32(r.id);
        w.u8(match r.transport {
            TransportKind::Tcp => 6,
            TransportKind::Udp => 17,
        });
        w.addr(r.client);
        w.addr(r.server);
        for d in [r.dirs.c2s, r.dirs.s2c] {
            w.u64(d.packets);
            w.u64(d.bytes);
        }
        w.i64(r.first_ts.0);
        w.i64(r.last_ts.0);
        w.u16(protocol);
        w.u16(detected);
        w.u64(r.anomalies);
        match &r.tcp {
            None => w.u8(0),
            Some(t) => {
                w.u8(1);
                w.u8(u8::from(t.handshake_rtt_ms.is_some()));
                w.u64(t.handshake_rtt_ms.unwrap_or(0.0).to_bits());
                for v in [t.retransmissions, t.out_of_order, t.overlaps, t.zero_window, t.gaps, t.reassembly_cap_drops]
                {
                    w.u64(v);
                }
                w.u8(u8::from(t.midstream)
                    | u8::from(t.fin.c2s) << 1
                    | u8::from(t.fin.s2c) << 2
                    | u8::from(t.rst) << 3);
            }
        }
        let offset = self.log.append(&b);
        let i = r.id as usize;
        if self.at.len() <= i {
            self.at.resize(i + 1, NOWHERE);
        }
        if let Some(slot) = self.at.get_mut(i) {
            *slot = offset;
        }
    }

    /// Whether flow `id` has ended and is stored here.
    pub fn contains(&self, id: FlowId) -> bool {
        self.at.get(id as usize).is_some_and(|&o| o != NOWHERE)
    }

    /// The final record of flow `id`.
    pub fn get(&self, id: FlowId) -> Option<FlowRecord> {
        let offset = *self.at.get(id as usize)?;
        if offset == NOWHERE {
            return None;
        }
        let mut b = [0u8; REC];
        if !self.log.read_into(offset, &mut b) {
            return None;
        }
        let mut r = Reader { buf: &b, at: 0 };
        let id = r.u32()?;
        let transport = match r.u8()? {
            6 => TransportKind::Tcp,
            _ => TransportKind::Udp,
        };
        let client = r.addr()?;
        let server = r.addr()?;
        let c2s = DirStats { packets: r.u64()?, bytes: r.u64()? };
        let s2c = DirStats { packets: r.u64()?, bytes: r.u64()? };
        let first_ts = Timestamp(r.i64()?);
        let last_ts = Timestamp(r.i64()?);
        let protocol = self.names.get(r.u16()? as usize).copied().unwrap_or("unknown");
        let detected_by = self.names.get(r.u16()? as usize).copied();
        let anomalies = r.u64()?;
        let tcp = match r.u8()? {
            0 => None,
            _ => {
                let has_rtt = r.u8()? != 0;
                let rtt = f64::from_bits(r.u64()?);
                let mut t = TcpStats {
                    handshake_rtt_ms: has_rtt.then_some(rtt),
                    retransmissions: r.u64()?,
                    out_of_order: r.u64()?,
                    overlaps: r.u64()?,
                    zero_window: r.u64()?,
                    gaps: r.u64()?,
                    reassembly_cap_drops: r.u64()?,
                    ..TcpStats::default()
                };
                let bits = r.u8()?;
                t.midstream = bits & 1 != 0;
                t.fin = PerDir::new(bits & 2 != 0, bits & 4 != 0);
                t.rst = bits & 8 != 0;
                Some(t)
            }
        };
        Some(FlowRecord {
            id,
            transport,
            client,
            server,
            dirs: PerDir::new(c2s, s2c),
            first_ts,
            last_ts,
            protocol,
            detected_by,
            tcp,
            anomalies,
        })
    }

    /// Bytes of records held in memory, and written to the spill file.
    pub fn footprint(&self) -> (usize, u64) {
        self.log.footprint()
    }
}

struct Writer<'a> {
    buf: &'a mut [u8; REC],
    at: usize,
}

impl Writer<'_> {
    fn bytes(&mut self, b: &[u8]) {
        if let Some(dst) = self.buf.get_mut(self.at..self.at + b.len()) {
            dst.copy_from_slice(b);
        }
        self.at += b.len();
    }
    fn u8(&mut self, v: u8) {
        self.bytes(&[v]);
    }
    fn u16(&mut self, v: u16) {
        self.bytes(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.bytes(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.bytes(&v.to_le_bytes());
    }
    /// Family, 16 address bytes, port, and the IPv6 flow info and scope id.
    fn addr(&mut self, a: SocketAddr) {
        match a {
            SocketAddr::V4(v4) => {
                self.u8(4);
                let mut ip = [0u8; 16];
                if let Some(dst) = ip.get_mut(..4) {
                    dst.copy_from_slice(&v4.ip().octets());
                }
                self.bytes(&ip);
                self.u16(v4.port());
                self.u32(0);
                self.u32(0);
            }
            SocketAddr::V6(v6) => {
                self.u8(6);
                self.bytes(&v6.ip().octets());
                self.u16(v6.port());
                self.u32(v6.flowinfo());
                self.u32(v6.scope_id());
            }
        }
    }
}

struct Reader<'a> {
    buf: &'a [u8; REC],
    at: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let b = self.buf.get(self.at..self.at + N)?;
        self.at += N;
        b.try_into().ok()
    }
    fn u8(&mut self) -> Option<u8> {
        self.take::<1>().map(|[b]| b)
    }
    fn u16(&mut self) -> Option<u16> {
        self.take().map(u16::from_le_bytes)
    }
    fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.take().map(u64::from_le_bytes)
    }
    fn i64(&mut self) -> Option<i64> {
        self.take().map(i64::from_le_bytes)
    }
    fn addr(&mut self) -> Option<SocketAddr> {
        let family = self.u8()?;
        let ip: [u8; 16] = self.take()?;
        let port = self.u16()?;
        let flowinfo = self.u32()?;
        let scope = self.u32()?;
        Some(match family {
            4 => {
                let [a, b, c, d, ..] = ip;
                SocketAddr::new(IpAddr::V4(Ipv4Addr::new(a, b, c, d)), port)
            }
            _ => SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(ip), port, flowinfo, scope)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: FlowId, v6: bool, tcp: bool) -> FlowRecord {
        let (c, s): (SocketAddr, SocketAddr) = if v6 {
            (
                SocketAddr::V6(SocketAddrV6::new("2001:db8::1".parse().unwrap(), 40000, 7, 3)),
                "[2001:db8::2]:443".parse().unwrap(),
            )
        } else {
            ("10.0.0.1:40000".parse().unwrap(), "10.0.0.2:1935".parse().unwrap())
        };
        FlowRecord {
            id,
            transport: if tcp { TransportKind::Tcp } else { TransportKind::Udp },
            client: c,
            server: s,
            dirs: PerDir::new(DirStats { packets: 3, bytes: u64::MAX - 1 }, DirStats { packets: 4, bytes: 5 }),
            first_ts: Timestamp(-5),
            last_ts: Timestamp(1_764_579_600_123_456_789),
            protocol: if tcp { "rtmp" } else { "rtp" },
            detected_by: tcp.then_some("content"),
            tcp: tcp.then(|| TcpStats {
                handshake_rtt_ms: Some(0.123),
                retransmissions: 1,
                out_of_order: 2,
                overlaps: 3,
                zero_window: 4,
                gaps: 5,
                reassembly_cap_drops: 6,
                midstream: true,
                fin: PerDir::new(false, true),
                rst: true,
            }),
            anomalies: 9,
        }
    }

    #[test]
    fn records_come_back_equal_from_memory_and_disk() {
        for budget in [0, 1 << 20] {
            let mut e = EndedFlows::new(budget);
            let all: Vec<FlowRecord> = (0..50).map(|i| rec(i * 3, i % 2 == 0, i % 3 == 0)).collect();
            for r in all.iter().rev() {
                e.push(r);
            }
            for r in &all {
                let back = e.get(r.id).unwrap();
                assert_eq!(format!("{back:?}"), format!("{r:?}"));
            }
            assert!(e.get(1).is_none() && !e.contains(1) && e.contains(3));
            assert!(e.get(10_000).is_none());
        }
    }
}
