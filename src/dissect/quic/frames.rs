//! QUIC frames of a decrypted packet payload (RFC 9000 §19; DATAGRAM from RFC 9221 §4).
//! Reading stops at the first frame that is unknown or cut short: its type and offset are
//! returned so the caller can count it.

use super::initial::varint;

/// Largest value of a variable-length integer (RFC 9000 §16), also the largest stream offset.
pub const MAX_VARINT: u64 = (1 << 62) - 1;

/// One frame; data fields borrow from the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame<'a> {
    /// §19.1: PADDING, run of `n` zero bytes.
    Padding(usize),
    /// §19.2: PING.
    Ping,
    /// §19.3: ACK; `ecn` holds the ECT(0), ECT(1), ECN-CE counts of type 0x03.
    Ack {
        /// Largest Acknowledged.
        largest: u64,
        /// ACK Delay (in units of 2^ack_delay_exponent µs).
        delay: u64,
        /// ACK Range Count (gap/length pairs after the first range).
        ranges: u64,
        /// First ACK Range.
        first_range: u64,
        /// ECN counts (type 0x03 only).
        ecn: Option<[u64; 3]>,
    },
    /// §19.4: RESET_STREAM.
    ResetStream {
        /// Stream ID.
        stream: u64,
        /// Application Protocol Error Code.
        error: u64,
        /// Final Size.
        final_size: u64,
    },
    /// §19.5: STOP_SENDING.
    StopSending {
        /// Stream ID.
        stream: u64,
        /// Application Protocol Error Code.
        error: u64,
    },
    /// §19.6: CRYPTO.
    Crypto {
        /// Offset in the crypto stream of this packet number space.
        offset: u64,
        /// Crypto data.
        data: &'a [u8],
    },
    /// §19.7: NEW_TOKEN.
    NewToken(&'a [u8]),
    /// §19.8: STREAM (types 0x08–0x0f: OFF 0x04, LEN 0x02, FIN 0x01).
    Stream {
        /// Stream ID.
        stream: u64,
        /// Offset of `data` in the stream (0 without the OFF bit).
        offset: u64,
        /// Whether this frame ends the stream.
        fin: bool,
        /// Stream data (to the end of the packet without the LEN bit).
        data: &'a [u8],
    },
    /// §19.9: MAX_DATA.
    MaxData(u64),
    /// §19.10: MAX_STREAM_DATA.
    MaxStreamData {
        /// Stream ID.
        stream: u64,
        /// Maximum Stream Data.
        max: u64,
    },
    /// §19.11: MAX_STREAMS (bidirectional for type 0x12).
    MaxStreams {
        /// Bidirectional (0x12) or unidirectional (0x13).
        bidi: bool,
        /// Maximum Streams.
        max: u64,
    },
    /// §19.12: DATA_BLOCKED.
    DataBlocked(u64),
    /// §19.13: STREAM_DATA_BLOCKED.
    StreamDataBlocked {
        /// Stream ID.
        stream: u64,
        /// Maximum Stream Data.
        limit: u64,
    },
    /// §19.14: STREAMS_BLOCKED (bidirectional for type 0x16).
    StreamsBlocked {
        /// Bidirectional (0x16) or unidirectional (0x17).
        bidi: bool,
        /// Maximum Streams.
        limit: u64,
    },
    /// §19.15: NEW_CONNECTION_ID.
    NewConnectionId {
        /// Sequence Number.
        seq: u64,
        /// Retire Prior To.
        retire_prior_to: u64,
        /// Connection ID (1–20 bytes).
        cid: &'a [u8],
        /// Stateless Reset Token (16 bytes).
        reset_token: &'a [u8],
    },
    /// §19.16: RETIRE_CONNECTION_ID.
    RetireConnectionId(u64),
    /// §19.17: PATH_CHALLENGE (8 bytes of data).
    PathChallenge(&'a [u8]),
    /// §19.18: PATH_RESPONSE (8 bytes of data).
    PathResponse(&'a [u8]),
    /// §19.19: CONNECTION_CLOSE, transport (0x1c, with the frame type that caused it) or
    /// application (0x1d).
    ConnectionClose {
        /// Application (0x1d) or transport (0x1c) close.
        app: bool,
        /// Error Code.
        error: u64,
        /// Frame Type (transport close only).
        frame_type: Option<u64>,
        /// Reason Phrase.
        reason: &'a [u8],
    },
    /// §19.20: HANDSHAKE_DONE.
    HandshakeDone,
    /// RFC 9221 §4: DATAGRAM (0x30 to the end of the packet, 0x31 with a length).
    Datagram(&'a [u8]),
}

impl Frame<'_> {
    /// The frame's name for counting (lower case, as in RFC 9000 §19 with underscores).
    pub fn name(&self) -> &'static str {
        match self {
            Frame::Padding(_) => "padding",
            Frame::Ping => "ping",
            Frame::Ack { ecn: None, .. } => "ack",
            Frame::Ack { ecn: Some(_), .. } => "ack_ecn",
            Frame::ResetStream { .. } => "reset_stream",
            Frame::StopSending { .. } => "stop_sending",
            Frame::Crypto { .. } => "crypto",
            Frame::NewToken(_) => "new_token",
            Frame::Stream { .. } => "stream",
            Frame::MaxData(_) => "max_data",
            Frame::MaxStreamData { .. } => "max_stream_data",
            Frame::MaxStreams { .. } => "max_streams",
            Frame::DataBlocked(_) => "data_blocked",
            Frame::StreamDataBlocked { .. } => "stream_data_blocked",
            Frame::StreamsBlocked { .. } => "streams_blocked",
            Frame::NewConnectionId { .. } => "new_connection_id",
            Frame::RetireConnectionId(_) => "retire_connection_id",
            Frame::PathChallenge(_) => "path_challenge",
            Frame::PathResponse(_) => "path_response",
            Frame::ConnectionClose { app: false, .. } => "connection_close",
            Frame::ConnectionClose { app: true, .. } => "connection_close_app",
            Frame::HandshakeDone => "handshake_done",
            Frame::Datagram(_) => "datagram",
        }
    }

    /// Whether receiving this frame calls for an acknowledgement (RFC 9002 §2).
    pub fn ack_eliciting(&self) -> bool {
        !matches!(self, Frame::Padding(_) | Frame::Ack { .. } | Frame::ConnectionClose { .. })
    }
}

/// Where frame reading stopped before the end of the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameError {
    /// The frame type read (None when even the type was cut).
    pub frame_type: Option<u64>,
    /// Offset of the frame in the payload.
    pub offset: usize,
    /// Whether the type is unknown (else the frame was cut short or invalid).
    pub unknown: bool,
}

/// The frames of a payload, and where reading stopped if not at its end.
pub fn parse(payload: &[u8]) -> (Vec<Frame<'_>>, Option<FrameError>) {
    let mut out = Vec::new();
    let mut p = 0usize;
    while p < payload.len() {
        let start = p;
        let Some(ty) = varint(payload, &mut p) else {
            return (out, Some(FrameError { frame_type: None, offset: start, unknown: false }));
        };
        match frame(payload, &mut p, ty) {
            Ok(f) => out.push(f),
            Err(unknown) => return (out, Some(FrameError { frame_type: Some(ty), offset: start, unknown })),
        }
    }
    (out, None)
}

/// `n` bytes at `*p`.
fn bytes<'a>(b: &'a [u8], p: &mut usize, n: u64) -> Option<&'a [u8]> {
    let n = usize::try_from(n).ok()?;
    let s = b.get(*p..p.checked_add(n)?)?;
    *p += n;
    Some(s)
}

/// One frame body after its type. `Err(true)`: unknown type; `Err(false)`: cut short.
fn frame<'a>(b: &'a [u8], p: &mut usize, ty: u64) -> Result<Frame<'a>, bool> {
    let v = |p: &mut usize| varint(b, p).ok_or(false);
    Ok(match ty {
        0x00 => {
            let mut n = 1;
            while b.get(*p) == Some(&0) {
                *p += 1;
                n += 1;
            }
            Frame::Padding(n)
        }
        0x01 => Frame::Ping,
        0x02 | 0x03 => {
            let (largest, delay, ranges, first_range) = (v(p)?, v(p)?, v(p)?, v(p)?);
            // Each range is at least two bytes: a count beyond the payload is malformed.
            if ranges > (b.len() as u64) {
                return Err(false);
            }
            for _ in 0..ranges {
                v(p)?;
                v(p)?;
            }
            let ecn = if ty == 0x03 { Some([v(p)?, v(p)?, v(p)?]) } else { None };
            Frame::Ack { largest, delay, ranges, first_range, ecn }
        }
        0x04 => Frame::ResetStream { stream: v(p)?, error: v(p)?, final_size: v(p)? },
        0x05 => Frame::StopSending { stream: v(p)?, error: v(p)? },
        0x06 => {
            let offset = v(p)?;
            let len = v(p)?;
            let data = bytes(b, p, len).ok_or(false)?;
            if offset.saturating_add(len) > MAX_VARINT {
                return Err(false);
            }
            Frame::Crypto { offset, data }
        }
        0x07 => {
            let len = v(p)?;
            Frame::NewToken(bytes(b, p, len).ok_or(false)?)
        }
        0x08..=0x0f => {
            let stream = v(p)?;
            let offset = if ty & 0x04 != 0 { v(p)? } else { 0 };
            let data = if ty & 0x02 != 0 {
                let len = v(p)?;
                bytes(b, p, len).ok_or(false)?
            } else {
                let rest = b.get(*p..).unwrap_or(&[]);
                *p = b.len();
                rest
            };
            if offset.saturating_add(data.len() as u64) > MAX_VARINT {
                return Err(false);
            }
            Frame::Stream { stream, offset, fin: ty & 0x01 != 0, data }
        }
        0x10 => Frame::MaxData(v(p)?),
        0x11 => Frame::MaxStreamData { stream: v(p)?, max: v(p)? },
        0x12 | 0x13 => Frame::MaxStreams { bidi: ty == 0x12, max: v(p)? },
        0x14 => Frame::DataBlocked(v(p)?),
        0x15 => Frame::StreamDataBlocked { stream: v(p)?, limit: v(p)? },
        0x16 | 0x17 => Frame::StreamsBlocked { bidi: ty == 0x16, limit: v(p)? },
        0x18 => {
            let seq = v(p)?;
            let retire_prior_to = v(p)?;
            let len = *b.get(*p).ok_or(false)?;
            *p += 1;
            if !(1..=20).contains(&len) {
                return Err(false);
            }
            let cid = bytes(b, p, u64::from(len)).ok_or(false)?;
            let reset_token = bytes(b, p, 16).ok_or(false)?;
            Frame::NewConnectionId { seq, retire_prior_to, cid, reset_token }
        }
        0x19 => Frame::RetireConnectionId(v(p)?),
        0x1a => Frame::PathChallenge(bytes(b, p, 8).ok_or(false)?),
        0x1b => Frame::PathResponse(bytes(b, p, 8).ok_or(false)?),
        0x1c | 0x1d => {
            let error = v(p)?;
            let frame_type = if ty == 0x1c { Some(v(p)?) } else { None };
            let len = v(p)?;
            let reason = bytes(b, p, len).ok_or(false)?;
            Frame::ConnectionClose { app: ty == 0x1d, error, frame_type, reason }
        }
        0x1e => Frame::HandshakeDone,
        0x30 => {
            let rest = b.get(*p..).unwrap_or(&[]);
            *p = b.len();
            Frame::Datagram(rest)
        }
        0x31 => {
            let len = v(p)?;
            Frame::Datagram(bytes(b, p, len).ok_or(false)?)
        }
        _ => return Err(true),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind() {
        let mut b = vec![0x00, 0x00, 0x01];
        b.extend([0x03, 0x05, 0x01, 0x01, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04]); // ACK+ECN, 1 range
        b.extend([0x06, 0x00, 0x02, b'h', b'i']); // CRYPTO
        b.extend([0x0f, 0x04, 0x40, 0x10, 0x01, b'x']); // STREAM id 4 off 16 len 1 fin
        b.extend([0x18, 0x01, 0x00, 0x02, 0xaa, 0xbb]);
        b.extend([0x11; 16]); // NEW_CONNECTION_ID
        b.extend([0x1d, 0x00, 0x02, b'o', b'k', 0x1e]); // CONNECTION_CLOSE app, HANDSHAKE_DONE
        b.extend([0x0a, 0x02, 0x00]); // STREAM id 2, LEN 0
        b.extend([0x08, 0x06, b'r', b'e', b's', b't']); // STREAM to the end
        let (f, err) = parse(&b);
        assert_eq!(err, None);
        let names: Vec<_> = f.iter().map(Frame::name).collect();
        assert_eq!(
            names,
            [
                "padding",
                "ping",
                "ack_ecn",
                "crypto",
                "stream",
                "new_connection_id",
                "connection_close_app",
                "handshake_done",
                "stream",
                "stream"
            ]
        );
        assert_eq!(f[0], Frame::Padding(2));
        assert_eq!(f[4], Frame::Stream { stream: 4, offset: 16, fin: true, data: b"x" });
        assert_eq!(f[9], Frame::Stream { stream: 6, offset: 0, fin: false, data: b"rest" });
    }

    #[test]
    fn unknown_and_cut_frames_stop() {
        let (f, err) = parse(&[0x01, 0x21, 0x01]);
        assert_eq!(f, vec![Frame::Ping]);
        assert_eq!(err, Some(FrameError { frame_type: Some(0x21), offset: 1, unknown: true }));
        let (f, err) = parse(&[0x06, 0x00, 0x05, 1, 2]);
        assert!(f.is_empty());
        assert_eq!(err, Some(FrameError { frame_type: Some(6), offset: 0, unknown: false }));
        // An ACK range count far beyond the payload.
        let (_, err) = parse(&[0x02, 0x00, 0x00, 0xbf, 0xff, 0xff, 0xff, 0x00]);
        assert!(err.is_some());
    }
}
