//! The packet protection state of one direction of a QUIC connection: a key per packet number
//! space (RFC 9001 §4.1.4: Initial, Handshake, 1-RTT), the largest packet number of each space
//! (for packet number recovery), and the 1-RTT key phase with its key updates (§6).

use super::crypto::{decode_packet_number, PacketKeys};

/// A packet number space (RFC 9000 §12.3). 0-RTT shares the application space's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Space {
    /// Initial packets.
    Initial,
    /// Handshake packets.
    Handshake,
    /// 0-RTT and 1-RTT packets.
    App,
}

impl Space {
    /// Lower-case name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Space::Initial => "initial",
            Space::Handshake => "handshake",
            Space::App => "1rtt",
        }
    }

    fn index(self) -> usize {
        match self {
            Space::Initial => 0,
            Space::Handshake => 1,
            Space::App => 2,
        }
    }
}

/// 1-RTT keys with key phases (RFC 9001 §6).
pub struct AppKeys {
    /// The current key phase bit.
    phase: bool,
    cur: PacketKeys,
    next: Option<PacketKeys>,
    prev: Option<PacketKeys>,
    /// Key updates seen.
    pub updates: u64,
}

impl AppKeys {
    /// Keys from the first application traffic secret (key phase 0).
    pub fn new(first: PacketKeys) -> Self {
        let next = first.next_generation();
        AppKeys { phase: false, cur: first, next, prev: None, updates: 0 }
    }
}

/// Result of opening one packet.
pub enum Opened {
    /// Authenticated and decrypted.
    Plain {
        /// The full packet number.
        pn: u64,
        /// The decrypted payload (frames).
        frames: Vec<u8>,
        /// The unprotected first byte.
        first: u8,
        /// This packet started a new key phase (1-RTT only).
        key_update: bool,
    },
    /// The keys were there but authentication failed (or the header could not be read).
    Failed,
    /// No keys for this space (no key log entry, or keys not derived yet).
    NoKeys,
}

/// The keys and packet numbers of one direction.
#[derive(Default)]
pub struct DirKeys {
    /// Initial keys.
    pub initial: Option<PacketKeys>,
    /// Handshake keys.
    pub handshake: Option<PacketKeys>,
    /// 1-RTT keys.
    pub app: Option<AppKeys>,
    /// 0-RTT keys: candidates (the suite is not known before the ServerHello) until one
    /// authenticates a packet, then that one.
    pub early: Vec<PacketKeys>,
    largest: [Option<u64>; 3],
}

impl DirKeys {
    /// The largest packet number authenticated in a space.
    pub fn largest(&self, space: Space) -> Option<u64> {
        self.largest.get(space.index()).copied().flatten()
    }

    fn note(&mut self, space: Space, pn: u64) {
        if let Some(l) = self.largest.get_mut(space.index()) {
            *l = Some(l.map_or(pn, |old| old.max(pn)));
        }
    }

    /// Opens a 0-RTT packet (RFC 9001 §5.6) with the early keys, trying each candidate
    /// suite until one authenticates.
    pub fn open_early(&mut self, packet: &[u8], pn_offset: usize) -> Opened {
        if self.early.is_empty() {
            return Opened::NoKeys;
        }
        let largest = self.largest(Space::App);
        for (i, keys) in self.early.iter().enumerate() {
            let Some(u) = keys.unprotect(packet, pn_offset, true) else { continue };
            let pn = decode_packet_number(largest, u.truncated_pn, u.pn_len);
            let Some(body) = packet.get(pn_offset + u.pn_len..) else { continue };
            if let Some(frames) = keys.open(pn, &u.header, body) {
                if self.early.len() > 1 {
                    let found = self.early.swap_remove(i);
                    self.early = vec![found];
                }
                self.note(Space::App, pn);
                return Opened::Plain { pn, frames, first: u.first, key_update: false };
            }
        }
        Opened::Failed
    }

    /// Opens a long-header packet (Initial or Handshake): `packet` is the packet through the
    /// end of its Length, `pn_offset` where its packet number starts.
    pub fn open_long(&mut self, space: Space, packet: &[u8], pn_offset: usize) -> Opened {
        let keys = match space {
            Space::Initial => self.initial.as_ref(),
            Space::Handshake => self.handshake.as_ref(),
            Space::App => return self.open_early(packet, pn_offset),
        };
        let Some(keys) = keys else { return Opened::NoKeys };
        let Some(u) = keys.unprotect(packet, pn_offset, true) else { return Opened::Failed };
        let pn = decode_packet_number(self.largest(space), u.truncated_pn, u.pn_len);
        let Some(body) = packet.get(pn_offset + u.pn_len..) else { return Opened::Failed };
        match keys.open(pn, &u.header, body) {
            Some(frames) => {
                self.note(space, pn);
                Opened::Plain { pn, frames, first: u.first, key_update: false }
            }
            None => Opened::Failed,
        }
    }

    /// Opens a short-header (1-RTT) packet, following key updates (RFC 9001 §6.3: a flipped
    /// key phase bit means the next keys, or the previous ones for a late packet).
    pub fn open_short(&mut self, packet: &[u8], pn_offset: usize) -> Opened {
        let largest = self.largest(Space::App);
        let Some(app) = self.app.as_mut() else { return Opened::NoKeys };
        let Some(u) = app.cur.unprotect(packet, pn_offset, false) else { return Opened::Failed };
        let pn = decode_packet_number(largest, u.truncated_pn, u.pn_len);
        let Some(body) = packet.get(pn_offset + u.pn_len..) else { return Opened::Failed };
        let phase = u.first & 0x04 != 0;
        let mut key_update = false;
        let frames = if phase == app.phase {
            app.cur.open(pn, &u.header, body)
        } else if let Some(f) = app.next.as_ref().and_then(|k| k.open(pn, &u.header, body)) {
            // A new key phase: rotate the generations.
            if let Some(next) = app.next.take() {
                let following = next.next_generation();
                app.prev = Some(std::mem::replace(&mut app.cur, next));
                app.next = following;
                app.phase = phase;
                app.updates += 1;
                key_update = true;
            }
            Some(f)
        } else {
            app.prev.as_ref().and_then(|k| k.open(pn, &u.header, body))
        };
        match frames {
            Some(frames) => {
                self.note(Space::App, pn);
                Opened::Plain { pn, frames, first: u.first, key_update }
            }
            None => Opened::Failed,
        }
    }

    /// Key updates seen in this direction.
    pub fn key_updates(&self) -> u64 {
        self.app.as_ref().map_or(0, |a| a.updates)
    }
}
