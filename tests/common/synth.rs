//! Small synthetic captures written by hand (classic pcap, Ethernet, µs): a UDP datagram or
//! a TCP segment per call, time advancing 100 µs per frame (or as the caller sets it).

use std::io::Write;
use std::path::Path;

/// A classic pcap writer; the second field is the next frame's time in µs.
pub struct Pcap(pub std::io::BufWriter<std::fs::File>, pub i64);

impl Pcap {
    /// A new capture file.
    pub fn create(path: &Path) -> Pcap {
        let mut w = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
        w.write_all(&0xa1b2c3d4u32.to_le_bytes()).unwrap();
        w.write_all(&[2, 0, 4, 0]).unwrap();
        w.write_all(&[0; 8]).unwrap();
        w.write_all(&65535u32.to_le_bytes()).unwrap();
        w.write_all(&1u32.to_le_bytes()).unwrap();
        Pcap(w, 1_700_000_000_000_000)
    }

    /// One Ethernet frame carrying `ip`.
    pub fn frame(&mut self, ip: &[u8]) {
        self.1 += 100;
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x08, 0x00]);
        f.extend_from_slice(ip);
        let ts = self.1;
        let w = &mut self.0;
        w.write_all(&((ts / 1_000_000) as u32).to_le_bytes()).unwrap();
        w.write_all(&((ts % 1_000_000) as u32).to_le_bytes()).unwrap();
        w.write_all(&(f.len() as u32).to_le_bytes()).unwrap();
        w.write_all(&(f.len() as u32).to_le_bytes()).unwrap();
        w.write_all(&f).unwrap();
    }

    /// One IPv4 packet.
    pub fn ipv4(&mut self, src: [u8; 4], dst: [u8; 4], proto: u8, l4: &[u8]) {
        let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, proto, 0, 0];
        let len = (20 + l4.len()) as u16;
        ip[2..4].copy_from_slice(&len.to_be_bytes());
        ip.extend_from_slice(&src);
        ip.extend_from_slice(&dst);
        ip.extend_from_slice(l4);
        self.frame(&ip);
    }

    /// One UDP datagram.
    pub fn udp(&mut self, src: ([u8; 4], u16), dst: ([u8; 4], u16), payload: &[u8]) {
        let mut u = Vec::with_capacity(8 + payload.len());
        u.extend_from_slice(&src.1.to_be_bytes());
        u.extend_from_slice(&dst.1.to_be_bytes());
        u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        u.extend_from_slice(&[0, 0]);
        u.extend_from_slice(payload);
        self.ipv4(src.0, dst.0, 17, &u);
    }

    #[allow(clippy::too_many_arguments)]
    /// One TCP segment.
    pub fn tcp(&mut self, src: ([u8; 4], u16), dst: ([u8; 4], u16), seq: u32, ack: u32, flags: u8, payload: &[u8]) {
        let mut t = Vec::with_capacity(20 + payload.len());
        t.extend_from_slice(&src.1.to_be_bytes());
        t.extend_from_slice(&dst.1.to_be_bytes());
        t.extend_from_slice(&seq.to_be_bytes());
        t.extend_from_slice(&ack.to_be_bytes());
        t.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
        t.extend_from_slice(payload);
        self.ipv4(src.0, dst.0, 6, &t);
    }
}

pub const SYN: u8 = 0x02;
pub const ACK: u8 = 0x10;
pub const PSH_ACK: u8 = 0x18;
pub const C: [u8; 4] = [10, 0, 0, 1];
pub const S: [u8; 4] = [10, 0, 0, 2];

/// A TCP connection: handshake done, then `send` writes client data in order, `reply` server data.
pub struct Conn {
    pub c: ([u8; 4], u16),
    pub s: ([u8; 4], u16),
    pub cseq: u32,
    pub sseq: u32,
}

impl Conn {
    /// Writes the handshake.
    pub fn open(p: &mut Pcap, cport: u16, sport: u16) -> Conn {
        let (c, s) = ((C, cport), (S, sport));
        p.tcp(c, s, 1000, 0, SYN, &[]);
        p.tcp(s, c, 5000, 1001, SYN | ACK, &[]);
        p.tcp(c, s, 1001, 5001, ACK, &[]);
        Conn { c, s, cseq: 1001, sseq: 5001 }
    }
    /// Client data, in order.
    pub fn send(&mut self, p: &mut Pcap, data: &[u8]) {
        for chunk in data.chunks(1400) {
            p.tcp(self.c, self.s, self.cseq, self.sseq, PSH_ACK, chunk);
            self.cseq = self.cseq.wrapping_add(chunk.len() as u32);
        }
    }
    /// Server data, in order.
    pub fn reply(&mut self, p: &mut Pcap, data: &[u8]) {
        for chunk in data.chunks(1400) {
            p.tcp(self.s, self.c, self.sseq, self.cseq, PSH_ACK, chunk);
            self.sseq = self.sseq.wrapping_add(chunk.len() as u32);
        }
    }
}
