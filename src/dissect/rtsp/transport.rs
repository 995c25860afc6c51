//! The RTSP Transport header (RFC 2326 §12.39, RFC 7826 §18.54): which UDP ports or
//! interleaved channels will carry RTP and RTCP.

/// One transport specification.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transport {
    /// `RTP/AVP`, `RTP/AVP/TCP`, …
    pub protocol: String,
    /// `client_port=a-b`.
    pub client_port: Option<(u16, u16)>,
    /// `server_port=a-b`.
    pub server_port: Option<(u16, u16)>,
    /// `interleaved=a-b`.
    pub interleaved: Option<(u8, u8)>,
    /// `ssrc=`.
    pub ssrc: Option<u32>,
    /// `mode=` (PLAY, RECORD).
    pub mode: Option<String>,
}

fn range<T: std::str::FromStr + Copy + std::ops::Add<Output = T> + From<u8>>(v: &str) -> Option<(T, T)> {
    let mut it = v.split('-');
    let a: T = it.next()?.trim().parse().ok()?;
    let b: T = match it.next() {
        Some(b) => b.trim().parse().ok()?,
        None => a + T::from(1),
    };
    Some((a, b))
}

/// Parses the first transport specification of the header.
pub fn parse(v: &str) -> Transport {
    let first = v.split(',').next().unwrap_or("");
    let mut parts = first.split(';');
    let mut t = Transport { protocol: parts.next().unwrap_or("").trim().to_string(), ..Transport::default() };
    for p in parts {
        let (k, val) = p.split_once('=').unwrap_or((p, ""));
        match k.trim().to_ascii_lowercase().as_str() {
            "client_port" => t.client_port = range::<u16>(val),
            "server_port" => t.server_port = range::<u16>(val),
            "interleaved" => t.interleaved = range::<u8>(val),
            "ssrc" => t.ssrc = u32::from_str_radix(val.trim(), 16).ok(),
            "mode" => t.mode = Some(val.trim_matches('"').to_string()),
            _ => {}
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_and_interleaved() {
        let t = parse("RTP/AVP;unicast;client_port=5000-5001;server_port=6970-6971;ssrc=1A2B3C4D");
        assert_eq!(t.client_port, Some((5000, 5001)));
        assert_eq!(t.server_port, Some((6970, 6971)));
        assert_eq!(t.ssrc, Some(0x1A2B3C4D));
        let t = parse("RTP/AVP/TCP;unicast;interleaved=2-3");
        assert_eq!(t.interleaved, Some((2, 3)));
        assert_eq!(parse("garbage").client_port, None);
    }
}
