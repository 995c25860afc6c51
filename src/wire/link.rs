//! Link-layer headers: Ethernet II with 802.1Q/802.1ad/QinQ tags, Linux cooked capture v1
//! (SLL) and v2 (SLL2), raw IP, BSD NULL and OpenBSD LOOP.

use super::{DecodeError, Layer};
use crate::capture::LinkType;

/// What follows the link-layer header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    /// An IP packet starts at this offset.
    Ip(usize),
    /// Some other protocol (its EtherType, or 0 when unknown).
    Other(u16),
}

const ETH_IPV4: u16 = 0x0800;
const ETH_IPV6: u16 = 0x86DD;
const ETH_VLAN: u16 = 0x8100;
const ETH_QINQ: u16 = 0x88A8;
const ETH_QINQ_OLD: u16 = 0x9100;
/// Most VLAN tags followed before giving up (a frame of nothing but tags is malformed).
const MAX_TAGS: usize = 8;

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn short(offset: usize, needed: usize, had: usize) -> DecodeError {
    DecodeError::Truncated { layer: Layer::Link, offset, needed, had }
}

/// Finds the network payload of a frame of the given link type.
pub fn strip(link: LinkType, f: &[u8]) -> Result<Payload, DecodeError> {
    match link.0 {
        // IEEE 802.3 Ethernet II: dst(6) src(6) type(2).
        1 => {
            let t = be16(f, 12).ok_or_else(|| short(0, 14, f.len()))?;
            ethertype(f, 14, t)
        }
        // Linux SLL: packet type(2) ARPHRD(2) addr len(2) addr(8) protocol(2).
        113 => {
            let t = be16(f, 14).ok_or_else(|| short(0, 16, f.len()))?;
            ethertype(f, 16, t)
        }
        // Linux SLL2: protocol(2) reserved(2) ifindex(4) ARPHRD(2) pkttype(1) addr len(1) addr(8).
        276 => {
            if f.len() < 20 {
                return Err(short(0, 20, f.len()));
            }
            let t = be16(f, 0).ok_or_else(|| short(0, 20, f.len()))?;
            ethertype(f, 20, t)
        }
        // BSD NULL / OpenBSD LOOP: a 4-byte address family, then IP.
        0 | 108 => {
            if f.len() < 4 {
                return Err(short(0, 4, f.len()));
            }
            by_version(f, 4)
        }
        12 | 14 | 101 => by_version(f, 0),
        228 => Ok(Payload::Ip(0)),
        229 => Ok(Payload::Ip(0)),
        _ => Err(DecodeError::Invalid { layer: Layer::Link, what: "unsupported link type" }),
    }
}

fn by_version(f: &[u8], off: usize) -> Result<Payload, DecodeError> {
    match f.get(off).map(|b| b >> 4) {
        Some(4) | Some(6) => Ok(Payload::Ip(off)),
        Some(_) => Ok(Payload::Other(0)),
        None => Err(short(off, 1, 0)),
    }
}

fn ethertype(f: &[u8], mut off: usize, mut t: u16) -> Result<Payload, DecodeError> {
    for _ in 0..MAX_TAGS {
        match t {
            ETH_IPV4 | ETH_IPV6 => return Ok(Payload::Ip(off)),
            ETH_VLAN | ETH_QINQ | ETH_QINQ_OLD => {
                // 802.1Q tag: TCI(2) then the inner EtherType(2).
                t = be16(f, off + 2).ok_or_else(|| short(off, 4, f.len().saturating_sub(off)))?;
                off += 4;
            }
            other => return Ok(Payload::Other(other)),
        }
    }
    Err(DecodeError::Invalid { layer: Layer::Link, what: "too many VLAN tags" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sll2_and_null() {
        let mut sll2 = vec![0x86, 0xdd];
        sll2.extend_from_slice(&[0u8; 18]);
        sll2.push(0x60);
        assert_eq!(strip(LinkType::LINUX_SLL2, &sll2), Ok(Payload::Ip(20)));
        assert_eq!(strip(LinkType::NULL, &[2, 0, 0, 0, 0x45]), Ok(Payload::Ip(4)));
        assert_eq!(strip(LinkType::LOOP, &[0, 0, 0, 24, 0x60]), Ok(Payload::Ip(4)));
        assert!(strip(LinkType::LINUX_SLL2, &[0x08]).is_err());
    }

    #[test]
    fn arp_is_not_ip() {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x08, 0x06]);
        assert_eq!(strip(LinkType::ETHERNET, &f), Ok(Payload::Other(0x0806)));
    }

    #[test]
    fn endless_vlan_tags_are_rejected() {
        let mut f = vec![0u8; 12];
        for _ in 0..20 {
            f.extend_from_slice(&[0x81, 0x00, 0, 1]);
        }
        assert!(strip(LinkType::ETHERNET, &f).is_err());
    }
}
