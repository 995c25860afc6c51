//! SDP (RFC 8866) as carried by RTSP, SIP and WebRTC signalling: media descriptions with their
//! payload types, rtpmap clock rates (RFC 8866 §6.6), control URLs (RFC 7826 §22.15),
//! connection addresses and the WebRTC/SRTP attributes streamscope reports.

/// One `m=` section.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Media {
    /// `audio`, `video`, `application`, …
    pub kind: String,
    /// Port of the `m=` line.
    pub port: u16,
    /// Transport protocol (`RTP/AVP`, `UDP/TLS/RTP/SAVPF`, …).
    pub proto: String,
    /// Payload types (formats) listed.
    pub payload_types: Vec<u8>,
    /// `a=rtpmap`: payload type → (encoding, clock rate).
    pub rtpmap: Vec<(u8, String, u32)>,
    /// `a=control`.
    pub control: Option<String>,
    /// `c=` address of the media (or of the session).
    pub connection: Option<String>,
    /// `a=crypto` lines (SDES-SRTP keys: secrets).
    pub crypto: Vec<String>,
    /// `a=fingerprint`.
    pub fingerprint: Option<String>,
    /// `a=ice-ufrag` (a credential).
    pub ice_ufrag: Option<String>,
    /// `a=setup`.
    pub setup: Option<String>,
}

impl Media {
    /// The SDES master keys of the `a=crypto` lines this parser understands (RFC 4568).
    pub fn srtp_keys(&self) -> Vec<super::srtp::MasterKey> {
        self.crypto.iter().filter_map(|c| super::srtp::keys::parse_sdes(c)).collect()
    }

    /// Whether the media is SRTP: a secure RTP profile (`RTP/SAVP`, `RTP/SAVPF`,
    /// `UDP/TLS/RTP/SAVP[F]`) or `a=crypto` lines.
    pub fn is_secure(&self) -> bool {
        self.proto.contains("SAVP") || !self.crypto.is_empty()
    }

    /// Encoding and clock rate of a payload type: from rtpmap, else the static table.
    pub fn codec(&self, pt: u8) -> Option<(String, u32)> {
        self.rtpmap
            .iter()
            .find(|(p, _, _)| *p == pt)
            .map(|(_, e, r)| (e.clone(), *r))
            .or_else(|| super::rtp::stats::static_payload(pt).map(|(e, r)| (e.to_string(), r)))
    }
}

/// A session description.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sdp {
    /// `s=`.
    pub session_name: Option<String>,
    /// Session-level `c=` address.
    pub connection: Option<String>,
    /// Media sections, in order.
    pub media: Vec<Media>,
}

/// Parses an SDP body; unknown lines are skipped, never an error.
pub fn parse(body: &[u8]) -> Sdp {
    let text = String::from_utf8_lossy(body);
    let mut sdp = Sdp::default();
    for line in text.lines() {
        let line = line.trim_end();
        let Some((k, v)) = line.split_once('=') else { continue };
        match k {
            "s" => sdp.session_name = Some(v.to_string()),
            "c" => {
                let addr = v.split_whitespace().nth(2).map(str::to_string);
                match sdp.media.last_mut() {
                    Some(m) => m.connection = addr,
                    None => sdp.connection = addr,
                }
            }
            "m" => {
                let mut it = v.split_whitespace();
                let kind = it.next().unwrap_or("").to_string();
                let port = it.next().and_then(|p| p.split('/').next()).and_then(|p| p.parse().ok()).unwrap_or(0);
                let proto = it.next().unwrap_or("").to_string();
                let payload_types = it.filter_map(|f| f.parse().ok()).collect();
                sdp.media.push(Media {
                    kind,
                    port,
                    proto,
                    payload_types,
                    connection: sdp.connection.clone(),
                    ..Media::default()
                });
            }
            "a" => {
                let Some(m) = sdp.media.last_mut() else { continue };
                let (name, value) = v.split_once(':').unwrap_or((v, ""));
                match name {
                    "rtpmap" => {
                        // a=rtpmap:<pt> <encoding>/<clock rate>[/<channels>]
                        let mut it = value.split_whitespace();
                        let pt = it.next().and_then(|p| p.parse().ok());
                        let mut enc = it.next().unwrap_or("").split('/');
                        let name = enc.next().unwrap_or("").to_string();
                        let rate = enc.next().and_then(|r| r.parse().ok());
                        if let (Some(pt), Some(rate)) = (pt, rate) {
                            m.rtpmap.push((pt, name, rate));
                        }
                    }
                    "control" => m.control = Some(value.to_string()),
                    "crypto" => m.crypto.push(value.to_string()),
                    "fingerprint" => m.fingerprint = Some(value.to_string()),
                    "ice-ufrag" => m.ice_ufrag = Some(value.to_string()),
                    "setup" => m.setup = Some(value.to_string()),
                    _ => {}
                }
            }
            _ => {}
        }
    }
    sdp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtsp_describe_body() {
        let body = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=Session\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n\
m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:stream=0\r\n\
m=audio 0 RTP/AVP 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=control:stream=1\r\n";
        let s = parse(body);
        assert_eq!(s.media.len(), 2);
        assert_eq!(s.media[0].codec(96), Some(("H264".into(), 90000)));
        assert_eq!(s.media[1].codec(8), Some(("PCMA".into(), 8000)));
        assert_eq!(s.media[1].control.as_deref(), Some("stream=1"));
        assert_eq!(s.media[1].connection.as_deref(), Some("0.0.0.0"));
    }
}
