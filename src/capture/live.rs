//! Live capture through libpcap (the `pcap` crate). A capture thread reads the interface in
//! non-blocking batches and hands them to the analyser over a bounded channel; what the
//! channel cannot take is counted as dropped, never waited for, so the kernel ring never
//! overflows because analysis is slow.

use super::pcapng_writer::PcapngWriter;
use super::{CaptureError, LinkType, RawPacket, SourceSummary};
use crate::time::Timestamp;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Options of a live capture.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    /// Interface name (`any` for all).
    pub iface: String,
    /// BPF capture filter.
    pub filter: Option<String>,
    /// Save what was captured to this pcapng file.
    pub write: Option<String>,
    /// Stop after this many seconds.
    pub duration: Option<f64>,
    /// Stop after this many packets.
    pub count: Option<u64>,
    /// Bytes captured per packet.
    pub snaplen: i32,
    /// Kernel buffer size in MiB.
    pub buffer_mib: i32,
    /// Say on stderr when the capture is open (not while a terminal UI owns the screen).
    pub announce: bool,
    /// Account to switch to once the device and output file are open, when running as root
    /// (`None`: the user who ran sudo, else `nobody`; `root` keeps root).
    pub user: Option<String>,
    /// Drop counters kept up to date while the capture runs (about once a second), for a UI.
    pub counters: Option<Arc<super::LiveCounters>>,
}

/// Lists capture interfaces: name and description.
pub fn list_interfaces() -> Result<Vec<(String, Option<String>)>, CaptureError> {
    let devs = pcap::Device::list().map_err(|e| CaptureError::Live(format!("cannot list interfaces: {e}")))?;
    Ok(devs.into_iter().map(|d| (d.name, d.desc)).collect())
}

const BATCH_PACKETS: usize = 512;
const BATCH_BYTES: usize = 1 << 20;
const CHANNEL_BATCHES: usize = 256;

/// Packets copied out of libpcap's ring, sent to the analyser together.
#[derive(Default)]
struct Batch {
    data: Vec<u8>,
    pkts: Vec<(Timestamp, usize, usize, u32)>,
}

fn explain(iface: &str, e: &pcap::Error) -> CaptureError {
    let msg = e.to_string();
    let low = msg.to_lowercase();
    if low.contains("permission") || low.contains("not permitted") {
        CaptureError::Live(format!(
            "cannot capture on {iface}: permission denied (run as root, or grant the binary CAP_NET_RAW and CAP_NET_ADMIN with setcap)"
        ))
    } else if low.contains("no such device") || low.contains("doesn't exist") {
        CaptureError::Live(format!("cannot capture on {iface}: no such interface (list them with -D)"))
    } else {
        CaptureError::Live(format!("cannot capture on {iface}: {msg}"))
    }
}

/// Captures until the duration or count is reached or `stop` is set, calling `on_packet`
/// for each packet in the analyser's thread (the caller's).
pub fn capture(
    opts: &LiveOptions,
    stop: Arc<AtomicBool>,
    mut on_packet: impl FnMut(&RawPacket<'_>) -> ControlFlow<()>,
) -> Result<SourceSummary, CaptureError> {
    let mut cap = pcap::Capture::from_device(opts.iface.as_str())
        .map_err(|e| explain(&opts.iface, &e))?
        .promisc(true)
        .snaplen(opts.snaplen)
        .buffer_size(opts.buffer_mib.saturating_mul(1 << 20))
        .timeout(50)
        .open()
        .map_err(|e| explain(&opts.iface, &e))?
        // Blocking reads can wait forever when no packet comes (libpcap polls with no
        // timeout on some kernels): read without blocking and nap briefly when idle.
        .setnonblock()
        .map_err(|e| explain(&opts.iface, &e))?;
    if let Some(f) = &opts.filter {
        cap.filter(f, true).map_err(|e| CaptureError::Live(format!("bad capture filter {f:?}: {e}")))?;
    }
    let link = LinkType(cap.get_datalink().0 as u32);
    // Like tcpdump's "listening on": scripts wait for this line before making traffic.
    if opts.announce {
        eprintln!("streamscope: capturing on {} (link {})", opts.iface, link.name());
    }
    let mut writer = match &opts.write {
        Some(path) => {
            let file =
                std::fs::File::create(path).map_err(|e| CaptureError::Io(format!("cannot write {path}: {e}")))?;
            Some(
                PcapngWriter::new(std::io::BufWriter::new(file), opts.snaplen as u32)
                    .map_err(|e| CaptureError::Io(format!("cannot write {path}: {e}")))?,
            )
        }
        None => None,
    };
    // Everything that needs root is open: give it up before the first packet is parsed.
    #[cfg(unix)]
    let running_as =
        super::privs::drop_root(opts.user.as_deref())?.map(|d| format!("{} uid={} gid={}", d.user, d.uid, d.gid));
    #[cfg(not(unix))]
    let running_as: Option<String> = None;
    if let (true, Some(who)) = (opts.announce, &running_as) {
        eprintln!("streamscope: dropped root, running as {who}");
    }
    let (tx, rx): (SyncSender<Batch>, Receiver<Batch>) = sync_channel(CHANNEL_BATCHES);
    let (recycle_tx, recycle_rx) = sync_channel::<Batch>(CHANNEL_BATCHES + 2);
    let counters = opts.counters.clone().unwrap_or_default();
    let live_counters = counters.clone();
    let channel_dropped = Arc::new(AtomicU64::new(0));
    let dropped = channel_dropped.clone();
    let thread_stop = stop.clone();
    let duration = opts.duration.map(Duration::from_secs_f64);
    let count = opts.count;
    let handle = std::thread::spawn(move || -> Result<(Option<pcap::Stat>, Option<String>), String> {
        let start = Instant::now();
        let mut seen: u64 = 0;
        let mut batch = Batch::default();
        let mut last_send = Instant::now();
        let mut last_stats = Instant::now();
        let mut write_err = None;
        let send = |b: &mut Batch| {
            let full = std::mem::take(b);
            let n = full.pkts.len() as u64;
            match tx.try_send(full) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    dropped.fetch_add(n, Ordering::Relaxed);
                }
                Err(TrySendError::Disconnected(_)) => {}
            }
            if let Ok(mut reused) = recycle_rx.try_recv() {
                reused.data.clear();
                reused.pkts.clear();
                *b = reused;
            }
        };
        loop {
            if thread_stop.load(Ordering::Relaxed)
                || duration.is_some_and(|d| start.elapsed() >= d)
                || count.is_some_and(|c| seen >= c)
            {
                break;
            }
            match cap.next_packet() {
                Ok(p) => {
                    seen += 1;
                    let ts = Timestamp::from_secs_nanos(
                        p.header.ts.tv_sec,
                        (p.header.ts.tv_usec as u32).saturating_mul(1000),
                    );
                    if let Some(w) = writer.as_mut() {
                        if let Err(e) = w.write_packet(link, ts, p.data, p.header.len) {
                            write_err.get_or_insert(e.to_string());
                        }
                    }
                    let at = batch.data.len();
                    batch.data.extend_from_slice(p.data);
                    batch.pkts.push((ts, at, p.data.len(), p.header.len));
                    if batch.pkts.len() >= BATCH_PACKETS || batch.data.len() >= BATCH_BYTES {
                        send(&mut batch);
                        last_send = Instant::now();
                    }
                }
                Err(pcap::Error::TimeoutExpired) => std::thread::sleep(Duration::from_millis(2)),
                Err(e) => return Err(format!("capture failed: {e}")),
            }
            if !batch.pkts.is_empty() && last_send.elapsed() >= Duration::from_millis(50) {
                send(&mut batch);
                last_send = Instant::now();
            }
            if last_stats.elapsed() >= Duration::from_secs(1) {
                last_stats = Instant::now();
                if let Ok(st) = cap.stats() {
                    live_counters.kernel_dropped.store(u64::from(st.dropped), Ordering::Relaxed);
                    live_counters.if_dropped.store(u64::from(st.if_dropped), Ordering::Relaxed);
                }
                live_counters.channel_dropped.store(dropped.load(Ordering::Relaxed), Ordering::Relaxed);
            }
        }
        if !batch.pkts.is_empty() {
            send(&mut batch);
        }
        if let Some(w) = writer.as_mut() {
            if let Err(e) = w.flush() {
                write_err.get_or_insert(e.to_string());
            }
        }
        Ok((cap.stats().ok(), write_err))
    });
    let mut stopped_by_analyser = false;
    loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(batch) => {
                for &(ts, at, len, orig) in &batch.pkts {
                    let data = batch.data.get(at..at + len).unwrap_or(&[]);
                    let pkt = RawPacket { ts, link, data, orig_len: orig, interface: 0 };
                    if on_packet(&pkt).is_break() {
                        stop.store(true, Ordering::Relaxed);
                        stopped_by_analyser = true;
                    }
                }
                let _ = recycle_tx.try_send(batch);
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
        if stopped_by_analyser {
            // Drain nothing more: the analyser asked to stop.
            match rx.try_recv() {
                Err(TryRecvError::Disconnected) => break,
                _ => continue,
            }
        }
    }
    let (stats, write_err) = match handle.join() {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => return Err(CaptureError::Live(e)),
        Err(_) => return Err(CaptureError::Live("the capture thread died".into())),
    };
    Ok(SourceSummary {
        format: "live".into(),
        link_types: vec![link],
        unsupported_link_frames: 0,
        warning: write_err.map(|e| format!("writing the capture file failed: {e}")),
        bytes_read: 0,
        kernel_dropped: stats.map(|s| u64::from(s.dropped)),
        if_dropped: stats.map(|s| u64::from(s.if_dropped)),
        channel_dropped: channel_dropped.load(Ordering::Relaxed),
        running_as,
    })
}
