//! TURN on one client↔server 5-tuple (RFC 8656): the relayed transport address the Allocate
//! obtained, the channels ChannelBind tied to peers, ChannelData framing, and what kind of
//! packet each relayed payload was.

use super::message::{Class, StunMessage};
use crate::dissect::be16;
use crate::flow::{Direction, PerDir};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// Channels remembered per 5-tuple.
const MAX_CHANNELS: usize = 1024;
/// ChannelBind requests waiting for their answer.
const MAX_PENDING_BINDS: usize = 64;

/// TURN methods (RFC 8656 §17).
const ALLOCATE: u16 = 0x003;
const CHANNEL_BIND: u16 = 0x009;

/// Whether a first byte starts a ChannelData message: channel numbers 0x4000–0x7FFF. RFC 5766
/// §11 allowed that whole range; RFC 8656 §12 narrowed it to 0x4000–0x4FFF, but servers
/// (coturn) and clients (turnutils_uclient) still use the rest. RFC 7983 §7 gives TURN
/// channels only 64–79 on a WebRTC 5-tuple, where 80–127 is otherwise unused.
pub fn is_channel_byte(b: u8) -> bool {
    (0x40..=0x7F).contains(&b)
}

/// A ChannelData message (RFC 8656 §12.4: channel number, length, application data) filling
/// `d` up to at most the padding to a multiple of 4 bytes (§12.5: always there over TCP,
/// allowed over UDP): the channel and the data.
pub fn channel_data(d: &[u8]) -> Option<(u16, &[u8])> {
    let channel = be16(d, 0)?;
    if !(0x4000..=0x7FFF).contains(&channel) {
        return None;
    }
    let len = usize::from(be16(d, 2)?);
    let data = d.get(4..4 + len)?;
    ((4 + len).div_ceil(4) * 4 >= d.len()).then_some((channel, data))
}

/// Bytes a ChannelData message with `len` bytes of data takes on a TCP stream (padded to 4).
pub fn channel_data_tcp_len(len: usize) -> usize {
    (4 + len).div_ceil(4) * 4
}

/// How a relayed packet crossed this 5-tuple.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViaKind {
    /// In a ChannelData message.
    ChannelData,
    /// In the DATA attribute of a Send indication (client to server).
    Send,
    /// In the DATA attribute of a Data indication (server to client).
    Data,
}

/// A packet relayed through the TURN server: how, and between which addresses.
#[derive(Debug, Clone, Copy)]
pub struct Via {
    /// ChannelData or indication.
    pub kind: ViaKind,
    /// The channel, for ChannelData.
    pub channel: Option<u16>,
    /// The peer's transport address (the channel's peer, or XOR-PEER-ADDRESS).
    pub peer: Option<SocketAddr>,
    /// The relayed transport address of the allocation.
    pub relayed: Option<SocketAddr>,
}

impl Via {
    /// `channel_data`, `send_indication` or `data_indication`.
    pub fn name(&self) -> &'static str {
        match self.kind {
            ViaKind::ChannelData => "channel_data",
            ViaKind::Send => "send_indication",
            ViaKind::Data => "data_indication",
        }
    }

    /// The relayed packet's sender and receiver: from the client it leaves the server from the
    /// relayed address to the peer; towards the client it came from the peer to that address.
    pub fn endpoints(&self, dir: Direction) -> (Option<SocketAddr>, Option<SocketAddr>) {
        match dir {
            Direction::C2S => (self.relayed, self.peer),
            Direction::S2C => (self.peer, self.relayed),
        }
    }
}

#[derive(Debug, Default, Clone)]
struct Channel {
    peer: Option<SocketAddr>,
    /// A ChannelBind success response was seen for it.
    bound: bool,
    messages: PerDir<u64>,
    bytes: PerDir<u64>,
}

/// The TURN state of one 5-tuple.
#[derive(Debug, Default)]
pub struct Turn {
    /// XOR-RELAYED-ADDRESS of the last successful Allocate.
    pub relayed: Option<SocketAddr>,
    pending_binds: BTreeMap<[u8; 12], (u16, Option<SocketAddr>)>,
    channels: BTreeMap<u16, Channel>,
    channels_over_cap: u64,
    /// What the relayed payloads were: `stun`, `dtls`, `rtp`, `rtcp`, `other`.
    kinds: BTreeMap<&'static str, u64>,
}

impl Turn {
    /// A request: a ChannelBind's channel and peer wait for the answer.
    pub fn request(&mut self, m: &StunMessage<'_>) {
        if m.method != CHANNEL_BIND {
            return;
        }
        if let Some(ch) = m.channel {
            if self.pending_binds.len() < MAX_PENDING_BINDS {
                self.pending_binds.insert(m.transaction_id, (ch, m.peer));
            }
        }
    }

    /// A response: an Allocate success gives the relayed address, a ChannelBind success binds
    /// the channel to its peer (RFC 8656 §11.2).
    pub fn response(&mut self, m: &StunMessage<'_>, class: Class) {
        match (m.method, class) {
            (ALLOCATE, Class::Success) => self.relayed = m.relayed.or(self.relayed),
            (CHANNEL_BIND, _) => {
                let Some((ch, peer)) = self.pending_binds.remove(&m.transaction_id) else { return };
                if class == Class::Success {
                    if let Some(c) = self.channel_mut(ch) {
                        c.peer = peer.or(c.peer);
                        c.bound = true;
                    }
                }
            }
            _ => {}
        }
    }

    fn channel_mut(&mut self, ch: u16) -> Option<&mut Channel> {
        if !self.channels.contains_key(&ch) && self.channels.len() >= MAX_CHANNELS {
            self.channels_over_cap += 1;
            return None;
        }
        Some(self.channels.entry(ch).or_default())
    }

    /// A ChannelData message of `len` data bytes on `channel`: how its data was relayed.
    pub fn via_channel(&mut self, channel: u16, dir: Direction, len: usize) -> Via {
        let relayed = self.relayed;
        let peer = self.channel_mut(channel).and_then(|c| {
            c.messages[dir] += 1;
            c.bytes[dir] += len as u64;
            c.peer
        });
        Via { kind: ViaKind::ChannelData, channel: Some(channel), peer, relayed }
    }

    /// A Send or Data indication with XOR-PEER-ADDRESS `peer`.
    pub fn via_indication(&self, dir: Direction, peer: Option<SocketAddr>) -> Via {
        let kind = if dir == Direction::C2S { ViaKind::Send } else { ViaKind::Data };
        Via { kind, channel: None, peer, relayed: self.relayed }
    }

    /// Counts what a relayed payload turned out to be.
    pub fn count(&mut self, kind: &'static str) {
        *self.kinds.entry(kind).or_insert(0) += 1;
    }

    /// Fields for the flow's `webrtc_flows` entry: relayed address, channels, payload kinds.
    pub fn report(&self) -> Vec<(&'static str, Value)> {
        let channels: serde_json::Map<String, Value> = self
            .channels
            .iter()
            .map(|(ch, c)| {
                (
                    format!("0x{ch:04x}"),
                    json!({
                        "peer": c.peer.map(|a| a.to_string()), "bound": c.bound,
                        // RFC 8656 §12: 0x5000–0x7FFF are reserved (RFC 5766 allowed them).
                        "rfc8656_range": *ch <= 0x4FFF,
                        "messages_c2s": c.messages.c2s, "messages_s2c": c.messages.s2c,
                        "bytes_c2s": c.bytes.c2s, "bytes_s2c": c.bytes.s2c,
                    }),
                )
            })
            .collect();
        let mut out = vec![
            ("relayed_address", json!(self.relayed.map(|a| a.to_string()))),
            ("channels", Value::Object(channels)),
            ("relayed_kinds", json!(self.kinds)),
        ];
        if self.channels_over_cap > 0 {
            out.push(("channels_over_cap", json!(self.channels_over_cap)));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_numbers_up_to_0x7fff() {
        let mut d = vec![0x60, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5, 0, 0, 0];
        assert_eq!(channel_data(&d), Some((0x6001, &[1u8, 2, 3, 4, 5][..])));
        assert_eq!(channel_data_tcp_len(5), 12);
        d[0] = 0x7F;
        assert_eq!(channel_data(&d).map(|c| c.0), Some(0x7F01));
        d[0] = 0x3F;
        assert_eq!(channel_data(&d), None, "below 0x4000");
        d[0] = 0x80;
        assert_eq!(channel_data(&d), None, "RTP/RTCP");
        d[0] = 0x40;
        d.push(0);
        assert_eq!(channel_data(&d), None, "more than the padding after the data");
        assert_eq!(channel_data(&d[..8]), None, "data cut");
        assert!(is_channel_byte(0x7F) && is_channel_byte(0x40) && !is_channel_byte(0x80) && !is_channel_byte(0x3F));
    }
}
