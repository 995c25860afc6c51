//! Capture sources: files (pcap, pcapng) and live interfaces. This is one of the two edges of
//! the pipeline that does I/O; everything after it is driven by capture time.

pub mod extract;
pub mod file;
#[cfg(feature = "live")]
pub mod live;
pub mod pcapng_writer;
#[cfg(all(feature = "live", unix))]
pub mod privs;
pub mod read_ahead;

use crate::time::Timestamp;

/// A link-layer header type (LINKTYPE_* value from the pcap/pcapng header or IDB).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct LinkType(pub u32);

impl LinkType {
    /// BSD loopback, 4-byte address family in host byte order.
    pub const NULL: LinkType = LinkType(0);
    /// Ethernet II (with optional 802.1Q / 802.1ad tags).
    pub const ETHERNET: LinkType = LinkType(1);
    /// Raw IP (OpenBSD's DLT value 12).
    pub const RAW_12: LinkType = LinkType(12);
    /// Raw IP (LINKTYPE_RAW).
    pub const RAW: LinkType = LinkType(101);
    /// OpenBSD loopback, 4-byte address family in network byte order.
    pub const LOOP: LinkType = LinkType(108);
    /// Linux cooked capture v1 (SLL).
    pub const LINUX_SLL: LinkType = LinkType(113);
    /// Raw IPv4.
    pub const IPV4: LinkType = LinkType(228);
    /// Raw IPv6.
    pub const IPV6: LinkType = LinkType(229);
    /// Linux cooked capture v2 (SLL2), what `-i any` writes.
    pub const LINUX_SLL2: LinkType = LinkType(276);

    /// Whether the decoder understands this link type.
    pub fn is_supported(self) -> bool {
        matches!(self.0, 0 | 1 | 12 | 14 | 101 | 108 | 113 | 228 | 229 | 276)
    }

    /// A short human name, as shown in reports.
    pub fn name(self) -> String {
        match self.0 {
            0 => "null".into(),
            1 => "ethernet".into(),
            12 | 14 | 101 => "raw".into(),
            108 => "loop".into(),
            113 => "linux_sll".into(),
            228 => "ipv4".into(),
            229 => "ipv6".into(),
            276 => "linux_sll2".into(),
            n => format!("linktype_{n}"),
        }
    }
}

/// One captured frame as read from a source. `data` borrows the reader's buffer.
#[derive(Debug, Clone, Copy)]
pub struct RawPacket<'a> {
    /// Capture time.
    pub ts: Timestamp,
    /// Link-layer type of the interface that captured it.
    pub link: LinkType,
    /// Captured bytes (may be shorter than `orig_len` when the snaplen cut it).
    pub data: &'a [u8],
    /// Length of the packet on the wire.
    pub orig_len: u32,
    /// Interface index within the capture (0 for pcap and live).
    pub interface: u32,
}

/// Errors a capture source reports. Each carries a one-line explanation for the user.
#[derive(Debug)]
pub enum CaptureError {
    /// The file could not be opened or read.
    Io(String),
    /// The input is not a pcap or pcapng capture.
    NotACapture(String),
    /// The capture holds only link types streamscope cannot decode.
    UnsupportedLinkType(String),
    /// Live capture problems (permissions, unknown interface, bad filter).
    Live(String),
}

impl std::fmt::Display for CaptureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CaptureError::Io(m)
            | CaptureError::NotACapture(m)
            | CaptureError::UnsupportedLinkType(m)
            | CaptureError::Live(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for CaptureError {}

/// What a source says about the reading once it ends.
#[derive(Debug, Default, Clone)]
pub struct SourceSummary {
    /// Capture format: `pcap`, `pcap-ns`, `pcapng` or `live`.
    pub format: String,
    /// Link types seen (in order of first appearance).
    pub link_types: Vec<LinkType>,
    /// Frames whose link type the decoder does not support.
    pub unsupported_link_frames: u64,
    /// Set when the input ended in the middle of a block/record, or a block was corrupt.
    pub warning: Option<String>,
    /// Bytes of input consumed.
    pub bytes_read: u64,
    /// Packets the kernel dropped (live only).
    pub kernel_dropped: Option<u64>,
    /// Packets the interface dropped (live only).
    pub if_dropped: Option<u64>,
    /// Packets dropped between the capture thread and the analyser (live only).
    pub channel_dropped: u64,
    /// Who a live capture ran as once the device was open (`user uid=N gid=N`), when it
    /// dropped root.
    pub running_as: Option<String>,
}

/// Drops so far in a running capture.
#[derive(Debug, Default)]
pub struct LiveCounters {
    /// Packets the kernel dropped (libpcap's `ps_drop`).
    pub kernel_dropped: std::sync::atomic::AtomicU64,
    /// Packets the interface dropped (`ps_ifdrop`).
    pub if_dropped: std::sync::atomic::AtomicU64,
    /// Packets the analyser's channel could not take.
    pub channel_dropped: std::sync::atomic::AtomicU64,
}
