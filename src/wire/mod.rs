//! Packet decoding: link layer → IP → TCP/UDP, as borrowed views over the captured bytes.
//! Nothing here allocates on the hot path; only IP fragment reassembly ([`defrag`]) copies.

pub mod defrag;
pub mod link;
pub mod transport;
pub mod tunnel;

use crate::capture::LinkType;
use etherparse::LaxIpSlice;
use std::net::IpAddr;

pub use transport::{TcpHeader, Transport};

/// The protocol layer at which decoding stopped, for error reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    /// Link-layer header (Ethernet, SLL, SLL2, NULL…).
    Link,
    /// IPv4 or IPv6 header and extension headers.
    Ip,
    /// TCP header.
    Tcp,
    /// UDP header.
    Udp,
}

/// Why a frame could not be decoded down to the transport layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer bytes than the layer needs (snaplen cut or malformed length).
    Truncated {
        /// Layer being decoded.
        layer: Layer,
        /// Byte offset of the layer in the frame.
        offset: usize,
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        had: usize,
    },
    /// A header field holds an impossible value.
    Invalid {
        /// Layer being decoded.
        layer: Layer,
        /// What is wrong.
        what: &'static str,
    },
}

/// Where an IP fragment sits in its datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment {
    /// IPv4 identification or IPv6 fragment identification.
    pub id: u32,
    /// Offset of this fragment's payload in the datagram, in bytes.
    pub offset: u32,
    /// More fragments follow.
    pub more: bool,
}

/// A decoded IP packet, borrowing the frame.
#[derive(Debug, Clone)]
pub struct IpPacket<'a> {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// IP protocol number of the payload (after IPv6 extension headers).
    pub proto: u8,
    /// The payload bytes that were captured.
    pub payload: &'a [u8],
    /// Payload length the IP header declares (larger than `payload.len()` when cut).
    pub declared_len: usize,
    /// Set when this packet is one fragment of a larger datagram.
    pub fragment: Option<Fragment>,
}

/// The outcome of decoding one frame's link and network layers.
#[derive(Debug)]
pub enum Network<'a> {
    /// An IPv4 or IPv6 packet.
    Ip(IpPacket<'a>),
    /// A frame that is not IP (ARP, LLDP…): counted, not an error.
    NotIp(u16),
}

/// Decodes the link layer and IP header of a frame.
pub fn decode_network(link: LinkType, frame: &[u8]) -> Result<Network<'_>, DecodeError> {
    match link::strip(link, frame)? {
        link::Payload::Ip(off) => decode_ip(frame, off),
        link::Payload::Other(ethertype) => Ok(Network::NotIp(ethertype)),
    }
}

/// Decodes an IP packet at `off` in `frame` (also used for tunnelled packets).
pub fn decode_ip(frame: &[u8], off: usize) -> Result<Network<'_>, DecodeError> {
    let bytes = frame.get(off..).unwrap_or(&[]);
    let (ip, _stop) = LaxIpSlice::from_slice(bytes).map_err(|e| ip_error(off, bytes.len(), &e))?;
    let net = match ip {
        LaxIpSlice::Ipv4(v4) => {
            let h = v4.header();
            let p = v4.payload();
            let hdr_len = usize::from(h.ihl()) * 4 + v4.extensions().auth.map_or(0, |a| a.slice().len());
            let declared = usize::from(h.total_len()).saturating_sub(hdr_len).max(p.payload.len());
            let fragment = h.is_fragmenting_payload().then(|| Fragment {
                id: u32::from(h.identification()),
                offset: u32::from(h.fragments_offset().value()) * 8,
                more: h.more_fragments(),
            });
            IpPacket {
                src: IpAddr::from(h.source()),
                dst: IpAddr::from(h.destination()),
                proto: p.ip_number.0,
                payload: p.payload,
                declared_len: declared,
                fragment,
            }
        }
        LaxIpSlice::Ipv6(v6) => {
            let h = v6.header();
            let p = v6.payload();
            let exts = v6.extensions().slice();
            let ext_len = exts.len();
            let declared = usize::from(h.payload_length()).saturating_sub(ext_len).max(p.payload.len());
            let fragment = ipv6_fragment(h.next_header().0, exts);
            IpPacket {
                src: IpAddr::from(h.source()),
                dst: IpAddr::from(h.destination()),
                proto: p.ip_number.0,
                payload: p.payload,
                declared_len: declared,
                fragment,
            }
        }
    };
    Ok(Network::Ip(net))
}

/// Finds the Fragment header (RFC 8200 §4.5) among the IPv6 extension headers, walking them
/// by hand with checked reads (etherparse 0.21's iterator reads past a cut header).
fn ipv6_fragment(mut next: u8, exts: &[u8]) -> Option<Fragment> {
    let mut off = 0usize;
    for _ in 0..16 {
        let len = match next {
            // Fragment: fixed 8 bytes.
            44 => {
                let b = exts.get(off..off + 8)?;
                let field = u16::from_be_bytes([*b.get(2)?, *b.get(3)?]);
                let id = u32::from_be_bytes([*b.get(4)?, *b.get(5)?, *b.get(6)?, *b.get(7)?]);
                let offset = u32::from(field >> 3) * 8;
                let more = field & 1 == 1;
                return (offset != 0 || more).then_some(Fragment { id, offset, more });
            }
            // Authentication header: (length + 2) × 4 bytes (RFC 4302 §2.2).
            51 => (usize::from(*exts.get(off + 1)?) + 2) * 4,
            // Hop-by-hop, routing, destination options: (length + 1) × 8 bytes.
            0 | 43 | 60 | 135 | 139 | 140 => (usize::from(*exts.get(off + 1)?) + 1) * 8,
            _ => return None,
        };
        next = *exts.get(off)?;
        off += len;
    }
    None
}

fn ip_error(offset: usize, had: usize, e: &etherparse::err::ip::LaxHeaderSliceError) -> DecodeError {
    use etherparse::err::ip::LaxHeaderSliceError as E;
    match e {
        E::Len(l) => DecodeError::Truncated { layer: Layer::Ip, offset, needed: l.required_len, had },
        E::Content(_) => DecodeError::Invalid { layer: Layer::Ip, what: "bad IP header" },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipv4_udp(payload: &[u8]) -> Vec<u8> {
        let total = 20 + 8 + payload.len();
        let mut p =
            vec![0x45, 0, (total >> 8) as u8, total as u8, 0, 1, 0, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 2];
        let ul = 8 + payload.len();
        p.extend_from_slice(&[0x30, 0x39, 0x9c, 0x40, (ul >> 8) as u8, ul as u8, 0, 0]);
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn ethernet_qinq_ipv4_udp() {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x88, 0xa8, 0, 200, 0x81, 0x00, 1, 44, 0x08, 0x00]);
        f.extend_from_slice(&ipv4_udp(b"hello"));
        let Network::Ip(ip) = decode_network(LinkType::ETHERNET, &f).unwrap() else { panic!() };
        assert_eq!(ip.proto, 17);
        assert_eq!(ip.src.to_string(), "127.0.0.1");
        let t = transport::decode(ip.proto, ip.payload, ip.declared_len).unwrap();
        assert!(matches!(t, Transport::Udp { src_port: 12345, dst_port: 40000, .. }));
    }

    #[test]
    fn truncated_ip_is_an_error_not_a_panic() {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x08, 0x00, 0x45, 0x00]);
        assert!(decode_network(LinkType::ETHERNET, &f).is_err());
        assert!(decode_network(LinkType::ETHERNET, &[]).is_err());
    }

    #[test]
    fn snaplen_cut_keeps_declared_length() {
        let full = ipv4_udp(&[7u8; 100]);
        let cut = &full[..40];
        let Network::Ip(ip) = decode_network(LinkType::RAW, cut).unwrap() else { panic!() };
        assert_eq!(ip.declared_len, 108);
        assert_eq!(ip.payload.len(), 20);
    }
}
