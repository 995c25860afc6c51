//! Tunnels whose inner packets are analysed as if they were on the wire: GTP-U (3GPP TS 29.281
//! §5.1) on UDP port 2152, carrying user IPv4/IPv6 packets in G-PDU messages.

/// UDP port of GTP-U.
pub const GTP_U_PORT: u16 = 2152;

/// The inner IP packet of a GTP-U G-PDU, if this UDP payload is one.
pub fn gtp_u_inner(payload: &[u8]) -> Option<&[u8]> {
    let flags = *payload.first()?;
    // Version 1, protocol type GTP (not GTP').
    if flags >> 5 != 1 || flags & 0x10 == 0 {
        return None;
    }
    // Message type 255: G-PDU (user data).
    if *payload.get(1)? != 0xFF {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([*payload.get(2)?, *payload.get(3)?]));
    let mut off = 8;
    if flags & 0x07 != 0 {
        // Sequence number (2), N-PDU number (1), next extension header type (1).
        let mut next = *payload.get(11)?;
        off = 12;
        // §5.2: extension headers, each a length in 4-octet units, content, next type.
        let mut guard = 0;
        while next != 0 {
            let units = usize::from(*payload.get(off)?);
            if units == 0 || guard > 16 {
                return None;
            }
            off += units * 4;
            next = *payload.get(off - 1)?;
            guard += 1;
        }
    }
    // The length field counts everything after the mandatory 8 bytes.
    let end = (8 + len).min(payload.len());
    let inner = payload.get(off..end)?;
    match inner.first()? >> 4 {
        4 | 6 => Some(inner),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_extended_headers() {
        let mut p = vec![0x30, 0xFF, 0, 4, 0, 0, 0, 1, 0x45, 0, 0, 0];
        assert_eq!(gtp_u_inner(&p), Some(&[0x45u8, 0, 0, 0][..]));
        p[0] = 0x34; // E flag: 4 more bytes, then one extension header of 4 bytes
        p = vec![0x34, 0xFF, 0, 12, 0, 0, 0, 1, 0, 0, 0, 0x85, 1, 0, 0, 0, 0x60, 0, 0, 0];
        assert_eq!(gtp_u_inner(&p), Some(&[0x60u8, 0, 0, 0][..]));
        assert_eq!(gtp_u_inner(&[0x30, 0x01, 0, 0, 0, 0, 0, 0]), None);
        assert_eq!(gtp_u_inner(&[0x34, 0xFF, 0, 12, 0, 0, 0, 1, 0, 0, 0, 0x85, 0]), None);
    }
}
