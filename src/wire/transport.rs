//! TCP (RFC 9293 §3.1) and UDP (RFC 768) headers over the IP payload.

use super::{DecodeError, Layer};

/// TCP flag bits.
pub mod flags {
    /// No more data from sender.
    pub const FIN: u8 = 0x01;
    /// Synchronise sequence numbers.
    pub const SYN: u8 = 0x02;
    /// Reset the connection.
    pub const RST: u8 = 0x04;
    /// Push function.
    pub const PSH: u8 = 0x08;
    /// Acknowledgment field is significant.
    pub const ACK: u8 = 0x10;
}

/// The TCP header fields the flow table needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpHeader {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number.
    pub ack: u32,
    /// Flag bits (see [`flags`]).
    pub flags: u8,
    /// Receive window (unscaled).
    pub window: u16,
}

impl TcpHeader {
    /// Whether all of `bits` are set.
    pub fn has(&self, bits: u8) -> bool {
        self.flags & bits == bits
    }
}

/// A decoded transport layer with its payload.
#[derive(Debug, Clone, Copy)]
pub enum Transport<'a> {
    /// A TCP segment.
    Tcp {
        /// Header fields.
        header: TcpHeader,
        /// Captured payload bytes.
        payload: &'a [u8],
        /// Payload length the headers declare (more than `payload.len()` when cut).
        payload_len: usize,
    },
    /// A UDP datagram.
    Udp {
        /// Source port.
        src_port: u16,
        /// Destination port.
        dst_port: u16,
        /// Captured payload bytes.
        payload: &'a [u8],
        /// Payload length the UDP header declares.
        payload_len: usize,
    },
    /// Another IP protocol (ICMP, SCTP, …), not analysed further.
    Other(u8),
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b.get(at).copied().unwrap_or(0), b.get(at + 1).copied().unwrap_or(0)])
}

fn be32(b: &[u8], at: usize) -> u32 {
    (u32::from(be16(b, at)) << 16) | u32::from(be16(b, at + 2))
}

/// Decodes TCP or UDP from an IP payload. `declared_len` is the IP payload length the IP
/// header gave (the captured `ip_payload` may be shorter).
pub fn decode(proto: u8, ip_payload: &[u8], declared_len: usize) -> Result<Transport<'_>, DecodeError> {
    match proto {
        6 => {
            if ip_payload.len() < 20 {
                return Err(DecodeError::Truncated { layer: Layer::Tcp, offset: 0, needed: 20, had: ip_payload.len() });
            }
            let hlen = usize::from(ip_payload.get(12).copied().unwrap_or(0) >> 4) * 4;
            if hlen < 20 {
                return Err(DecodeError::Invalid { layer: Layer::Tcp, what: "data offset below 5" });
            }
            let payload = ip_payload.get(hlen..).ok_or(DecodeError::Truncated {
                layer: Layer::Tcp,
                offset: 0,
                needed: hlen,
                had: ip_payload.len(),
            })?;
            let header = TcpHeader {
                src_port: be16(ip_payload, 0),
                dst_port: be16(ip_payload, 2),
                seq: be32(ip_payload, 4),
                ack: be32(ip_payload, 8),
                flags: ip_payload.get(13).copied().unwrap_or(0),
                window: be16(ip_payload, 14),
            };
            let payload_len = declared_len.saturating_sub(hlen).max(payload.len());
            Ok(Transport::Tcp { header, payload, payload_len })
        }
        17 => {
            if ip_payload.len() < 8 {
                return Err(DecodeError::Truncated { layer: Layer::Udp, offset: 0, needed: 8, had: ip_payload.len() });
            }
            let ulen = usize::from(be16(ip_payload, 4));
            // RFC 768: length includes the header; 0 is allowed for IPv6 jumbograms only.
            let payload_len = if ulen >= 8 { ulen - 8 } else { declared_len.saturating_sub(8) };
            let avail = ip_payload.get(8..).unwrap_or(&[]);
            let payload = avail.get(..payload_len.min(avail.len())).unwrap_or(avail);
            Ok(Transport::Udp { src_port: be16(ip_payload, 0), dst_port: be16(ip_payload, 2), payload, payload_len })
        }
        other => Ok(Transport::Other(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_header_fields() {
        let mut t = vec![0x9c, 0x40, 0x07, 0x8f, 0, 0, 0, 10, 0, 0, 0, 20, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0];
        t.extend_from_slice(b"abc");
        let Transport::Tcp { header, payload, payload_len } = decode(6, &t, t.len()).unwrap() else { panic!() };
        assert_eq!((header.src_port, header.dst_port, header.seq, header.ack), (40000, 1935, 10, 20));
        assert!(header.has(flags::ACK | flags::PSH));
        assert_eq!((payload, payload_len), (&b"abc"[..], 3));
    }

    #[test]
    fn bad_offsets_do_not_panic() {
        let t = [0u8; 20];
        assert!(decode(6, &t, 20).is_err()); // data offset 0
        let mut t2 = [0u8; 20];
        t2[12] = 0xf0; // 60-byte header in a 20-byte segment
        assert!(decode(6, &t2, 20).is_err());
        assert!(decode(17, &[1, 2, 3], 3).is_err());
        let Transport::Udp { payload, payload_len, .. } = decode(17, &[0, 1, 0, 2, 0, 200, 0, 0, 9], 9).unwrap() else {
            panic!()
        };
        assert_eq!((payload.len(), payload_len), (1, 192));
    }
}
