//! WebRTC data channels over SCTP: the payload protocol identifiers of RFC 8831 §8 and the Data
//! Channel Establishment Protocol of RFC 8832 (DATA_CHANNEL_OPEN, DATA_CHANNEL_ACK).

use crate::dissect::{be16, be32};

/// PPID of DCEP messages (RFC 8832 §8.1).
pub const PPID_DCEP: u32 = 50;

/// What a data channel message's PPID says it is (RFC 8831 §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// 50: a DCEP message.
    Dcep,
    /// 51: UTF-8 text.
    String,
    /// 52: part of a UTF-8 text (deprecated).
    StringPartial,
    /// 53: binary.
    Binary,
    /// 54: part of a binary message (deprecated).
    BinaryPartial,
    /// 56: an empty text message (one 0x00 byte on the wire).
    StringEmpty,
    /// 57: an empty binary message (one 0x00 byte on the wire).
    BinaryEmpty,
    /// Any other PPID.
    Other(u32),
}

impl Kind {
    /// The kind a PPID stands for.
    pub fn from_ppid(ppid: u32) -> Kind {
        match ppid {
            50 => Kind::Dcep,
            51 => Kind::String,
            52 => Kind::StringPartial,
            53 => Kind::Binary,
            54 => Kind::BinaryPartial,
            56 => Kind::StringEmpty,
            57 => Kind::BinaryEmpty,
            other => Kind::Other(other),
        }
    }

    /// Its name in reports and events.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Dcep => "dcep",
            Kind::String => "string",
            Kind::StringPartial => "string_partial",
            Kind::Binary => "binary",
            Kind::BinaryPartial => "binary_partial",
            Kind::StringEmpty => "string_empty",
            Kind::BinaryEmpty => "binary_empty",
            Kind::Other(_) => "other",
        }
    }

    /// The message's length for the application: the empty kinds carry one byte that is not
    /// part of the message (RFC 8831 §6.6).
    pub fn user_len(self, wire: usize) -> usize {
        match self {
            Kind::StringEmpty | Kind::BinaryEmpty => 0,
            _ => wire,
        }
    }
}

/// A DCEP message (RFC 8832 §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// DATA_CHANNEL_OPEN (0x03).
    Open(Open),
    /// DATA_CHANNEL_ACK (0x02).
    Ack,
    /// Another message type.
    Unknown(u8),
}

/// DATA_CHANNEL_OPEN (RFC 8832 §5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Open {
    /// Channel type.
    pub channel_type: u8,
    /// Priority.
    pub priority: u16,
    /// Reliability parameter (retransmissions or lifetime in ms, by channel type).
    pub reliability: u32,
    /// Label (UTF-8, lossy).
    pub label: String,
    /// Protocol (UTF-8, lossy).
    pub protocol: String,
}

/// Reads a DCEP message; `None` when empty or an OPEN is shorter than its lengths say.
pub fn parse(p: &[u8]) -> Option<Message> {
    match *p.first()? {
        0x03 => {
            let (label_len, proto_len) = (usize::from(be16(p, 8)?), usize::from(be16(p, 10)?));
            let label = p.get(12..12 + label_len)?;
            let protocol = p.get(12 + label_len..12 + label_len + proto_len)?;
            Some(Message::Open(Open {
                channel_type: *p.get(1)?,
                priority: be16(p, 2)?,
                reliability: be32(p, 4)?,
                label: String::from_utf8_lossy(label).into_owned(),
                protocol: String::from_utf8_lossy(protocol).into_owned(),
            }))
        }
        0x02 => Some(Message::Ack),
        other => Some(Message::Unknown(other)),
    }
}

/// Channel type names (RFC 8832 §5.1).
pub fn channel_type_name(t: u8) -> &'static str {
    match t {
        0x00 => "reliable",
        0x80 => "reliable_unordered",
        0x01 => "partial_reliable_rexmit",
        0x81 => "partial_reliable_rexmit_unordered",
        0x02 => "partial_reliable_timed",
        0x82 => "partial_reliable_timed_unordered",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_and_ack() {
        // aiortc's DATA_CHANNEL_OPEN for "chat" (webrtc-aiortc.pcap frame 24).
        let open = [3, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, b'c', b'h', b'a', b't'];
        let Some(Message::Open(o)) = parse(&open) else { panic!() };
        assert_eq!(
            (o.channel_type, o.priority, o.reliability, o.label.as_str(), o.protocol.as_str()),
            (0, 0, 0, "chat", "")
        );
        assert_eq!(channel_type_name(o.channel_type), "reliable");
        assert_eq!(parse(&[2]), Some(Message::Ack));
        assert_eq!(parse(&[9, 1]), Some(Message::Unknown(9)));
        assert_eq!(parse(&[]), None);
        for cut in 0..open.len() {
            assert!(!matches!(parse(&open[..cut]), Some(Message::Open(_))));
        }
        assert_eq!(Kind::from_ppid(56).user_len(1), 0);
        assert_eq!(Kind::from_ppid(51).name(), "string");
        assert_eq!(Kind::from_ppid(99), Kind::Other(99));
    }
}
