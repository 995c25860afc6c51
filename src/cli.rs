//! Command-line interface: argument parsing and the headless run modes.

use crate::app::DecodeAs;
use crate::capture::{self, CaptureError, RawPacket, SourceSummary};
use crate::engine::{Config, Engine};
use crate::timeline::Timeline;
use clap::{Parser, ValueEnum};
use std::io::{IsTerminal, Write};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// One JSON object (see the report contract).
    Json,
    /// A human-readable summary.
    Text,
}

/// Latency lab output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LabFormat {
    /// A table for people.
    Text,
    /// One JSON object (see the report contract).
    Json,
    /// One CSV table: session, phase and pipeline rows.
    Csv,
}

/// streamscope: see what streaming protocols really do on the wire.
#[derive(Debug, Clone, Parser)]
#[command(name = "streamscope", version, about, long_about = None)]
pub struct Args {
    /// A pcap or pcapng file to read (`-` for standard input).
    #[arg(value_name = "FILE", conflicts_with = "interface")]
    pub file: Option<String>,
    /// Capture live on this interface (`any` for all).
    #[arg(short = 'i', long = "interface", value_name = "IFACE")]
    pub interface: Option<String>,
    /// BPF capture filter for live capture.
    #[arg(short = 'f', long = "filter", value_name = "BPF", requires = "interface")]
    pub filter: Option<String>,
    /// Save the live capture to a pcapng file.
    #[arg(short = 'w', long = "write", value_name = "OUT.pcapng", requires = "interface")]
    pub write: Option<String>,
    /// Live capture as root: switch to this user once the interface and -w file are open
    /// (default: the user who ran sudo, else nobody; `root` keeps root), like tcpdump -Z.
    #[arg(short = 'Z', long = "user", value_name = "USER", requires = "interface")]
    pub user: Option<String>,
    /// Stop a live capture after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    pub duration: Option<f64>,
    /// Stop after this many packets.
    #[arg(short = 'c', long, value_name = "N")]
    pub count: Option<u64>,
    /// List capture interfaces and exit.
    #[arg(short = 'D', long = "list-interfaces")]
    pub list_interfaces: bool,
    /// Print a report instead of opening the UI.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub report: Option<ReportFormat>,
    /// Print the event timeline as NDJSON.
    #[arg(long)]
    pub events: bool,
    /// Latency lab: compare the protocol sessions (phases, time to first media, control RTT,
    /// delivery latency, jitter) and follow the media from ingest to delivery.
    #[arg(long, conflicts_with_all = ["report", "events"])]
    pub lab: bool,
    /// Output format of --lab.
    #[arg(long, value_enum, value_name = "FORMAT", requires = "lab", default_value = "text")]
    pub format: LabFormat,
    /// Decode a port as a protocol, e.g. tcp:19350=rtmp (repeatable).
    #[arg(long = "decode-as", value_name = "T:PORT=PROTO")]
    pub decode_as: Vec<DecodeAs>,
    /// TLS key log (SSLKEYLOGFILE format) to decrypt TLS 1.2/1.3 and dissect what it carries.
    #[arg(long, value_name = "FILE")]
    pub keylog: Option<String>,
    /// SRTP master key, repeatable: [SELECTOR:]PROFILE:BASE64. SELECTOR is `any` (the
    /// default) or `ssrc=0xHEX`, `flow=N`, `dir=c2s|s2c` joined by commas; PROFILE is
    /// SRTP_AES128_CM_HMAC_SHA1_80, SRTP_AES128_CM_HMAC_SHA1_32, SRTP_AEAD_AES_128_GCM,
    /// SRTP_AEAD_AES_256_GCM (or the SDES names AES_CM_128_HMAC_SHA1_80, AEAD_AES_128_GCM…,
    /// or OpenSSL's SRTP_AES128_CM_SHA1_80…);
    /// BASE64 is the master key followed by the master salt. Example:
    /// --srtp-key ssrc=0x599b218e:SRTP_AEAD_AES_256_GCM:pN4j…9z
    #[arg(long = "srtp-key", value_name = "SPEC", verbatim_doc_comment)]
    pub srtp_key: Vec<crate::dissect::srtp::KeySpec>,
    /// Show secrets (stream keys, credentials) instead of masking them.
    #[arg(long)]
    pub show_secrets: bool,
    /// UDP flows idle this long (capture time) end (DNS flows: 30 s).
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub udp_timeout: u64,
    /// Most flows open at once (ended flows are kept compactly, without a cap).
    #[arg(long, value_name = "N", default_value_t = 200_000)]
    pub max_flows: usize,
    /// Most events kept in memory.
    #[arg(long, value_name = "N", default_value_t = 200_000)]
    pub max_events: usize,
    /// Bytes captured per packet (live).
    #[arg(long, value_name = "BYTES", default_value_t = 262_144)]
    pub snaplen: i32,
    /// No progress output on stderr.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// At the end of a headless run, one line on stderr: packets, bytes, wall and CPU
    /// seconds, throughput and peak resident memory (the process's own, `VmHWM`).
    #[arg(long)]
    pub stats: bool,
}

/// Exit status for usage and input errors.
pub const EXIT_INPUT: i32 = 2;

fn config(args: &Args) -> Config {
    let mut cfg = Config::default();
    cfg.flows.udp_timeout_secs = args.udp_timeout;
    cfg.flows.max_flows = args.max_flows.max(1);
    // A headless report needs no event kept in memory: events are only for the UI and
    // `--events` (which streams them).
    cfg.max_events =
        if args.report.is_some() || args.lab || !std::io::stdout().is_terminal() { 0 } else { args.max_events };
    cfg.decode_as = args.decode_as.clone();
    cfg.show_secrets = args.show_secrets;
    cfg.srtp_keys = args.srtp_key.clone();
    cfg
}

/// Runs the program; returns the exit status.
pub fn run(args: Args) -> i32 {
    let started = std::time::Instant::now();
    if args.list_interfaces {
        return list_interfaces();
    }
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        let first = std::sync::Mutex::new(None::<std::time::Instant>);
        // A second Ctrl-C quits at once, without the report. One sent twice within half a
        // second is one request delivered twice (`timeout` signals the command and then its
        // process group): it still ends the capture cleanly, with the report.
        let _ = ctrlc::set_handler(move || {
            let mut at = first.lock().unwrap_or_else(|p| p.into_inner());
            match *at {
                Some(t) if t.elapsed() >= std::time::Duration::from_millis(500) => std::process::exit(130),
                Some(_) => {}
                None => *at = Some(std::time::Instant::now()),
            }
            stop.store(true, Ordering::SeqCst);
        });
    }
    let mut cfg = config(&args);
    if let Some(path) = &args.keylog {
        match crate::dissect::tls::keylog::KeyLog::load(path) {
            Ok(k) => cfg.keylog = Some(std::sync::Arc::new(k)),
            Err(e) => {
                eprintln!("streamscope: cannot read the key log {path}: {e}");
                return EXIT_INPUT;
            }
        }
    }
    let mut engine = if args.events {
        let out: Box<dyn Write + Send> = Box::new(std::io::BufWriter::with_capacity(1 << 16, std::io::stdout()));
        Engine::with_timeline(cfg, Timeline::streaming(out))
    } else {
        Engine::new(cfg)
    };
    let ui = args.report.is_none()
        && !args.lab
        && !args.events
        && args.file.as_deref() != Some("-")
        && (args.file.is_some() || args.interface.is_some())
        && std::io::stdout().is_terminal()
        && std::io::stdin().is_terminal();
    if args.lab || ui {
        // The lab's collector sees every event, kept or not (bounded; cheap next to dissection).
        crate::lab::enable(&mut engine);
    }
    if ui {
        return run_ui(&args, engine, stop);
    }
    let limit = args.count;
    let progress = !args.quiet && std::io::stderr().is_terminal();
    let mut reporter = Progress::new(progress, args.file.as_deref());
    let on_packet = |p: &RawPacket<'_>| {
        engine.process(p);
        reporter.tick(engine.capture.packets);
        if stop.load(Ordering::Relaxed) || limit.is_some_and(|n| engine.capture.packets >= n) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    };
    let result = match (&args.file, &args.interface) {
        (Some(path), _) => capture::file::read_path(path, on_packet),
        (None, Some(iface)) => live(&args, iface, stop.clone(), None, on_packet),
        (None, None) => {
            eprintln!("streamscope: give a capture file (or - for stdin), or -i IFACE to capture live; see --help");
            return EXIT_INPUT;
        }
    };
    reporter.done();
    let source = match result {
        Ok(s) => s,
        Err(e) => {
            eprintln!("streamscope: {e}");
            return EXIT_INPUT;
        }
    };
    engine.finish();
    if let Some(w) = &source.warning {
        eprintln!("streamscope: warning: {w}");
    }
    if args.events {
        if let Some(e) = &engine.app.timeline.stream_error {
            if !e.contains("Broken pipe") {
                eprintln!("streamscope: writing events failed: {e}");
            }
        }
        print_stats(&args, &engine, started);
        return 0;
    }
    if args.lab {
        let report = crate::report::json::build(&engine, &source);
        let lab = crate::lab::analyse(&engine, &report);
        let out = match args.format {
            LabFormat::Text => crate::lab::output::text(&lab),
            LabFormat::Csv => crate::lab::output::csv(&lab),
            LabFormat::Json => format!("{}\n", lab.to_json()),
        };
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(out.as_bytes());
        let _ = stdout.flush();
        print_stats(&args, &engine, started);
        return 0;
    }
    let format = args.report.unwrap_or(ReportFormat::Text);
    let mut stdout = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let _ = match format {
        ReportFormat::Json => crate::report::json::write(&engine, &source, &mut stdout),
        ReportFormat::Text => stdout.write_all(crate::report::text::render(&engine, &source).as_bytes()),
    };
    let _ = stdout.flush();
    print_stats(&args, &engine, started);
    0
}

/// `--stats`: what the run cost, on one line of stderr.
fn print_stats(args: &Args, engine: &Engine, started: std::time::Instant) {
    if !args.stats {
        return;
    }
    let secs = started.elapsed().as_secs_f64();
    // VmHWM is the peak of this process's own memory since it started (getrusage's
    // ru_maxrss may include the parent's, for a child started by vfork).
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    };
    // SAFETY: getrusage fills the struct it is given.
    let cpu = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut u);
        let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
        t(u.ru_utime) + t(u.ru_stime)
    };
    let c = &engine.capture;
    eprintln!(
        "streamscope stats: packets={} bytes={} seconds={secs:.3} cpu_seconds={cpu:.3} mb_per_s={:.1} peak_rss_kib={}",
        c.packets,
        c.captured_bytes,
        c.captured_bytes as f64 / 1e6 / secs.max(1e-9),
        kib("VmHWM:").map_or_else(|| "unknown".to_string(), |k| k.to_string())
    );
}

/// Opens the terminal UI while the engine reads the source on another thread.
fn run_ui(args: &Args, engine: Engine, stop: Arc<AtomicBool>) -> i32 {
    let name = args.file.clone().or_else(|| args.interface.clone()).unwrap_or_default();
    let mut feed = crate::engine_feed::EngineFeed::start(args, engine, stop);
    let model = crate::tui::model::Model { source: name, ..Default::default() };
    let result = crate::tui::run(model, &mut feed);
    feed.stop();
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("streamscope: {e}");
            EXIT_INPUT
        }
    }
}

#[cfg(feature = "live")]
pub(crate) fn live(
    args: &Args,
    iface: &str,
    stop: Arc<AtomicBool>,
    counters: Option<Arc<capture::LiveCounters>>,
    on_packet: impl FnMut(&RawPacket<'_>) -> ControlFlow<()>,
) -> Result<SourceSummary, CaptureError> {
    let opts = capture::live::LiveOptions {
        iface: iface.to_string(),
        filter: args.filter.clone(),
        write: args.write.clone(),
        duration: args.duration,
        count: args.count,
        snaplen: args.snaplen,
        buffer_mib: 32,
        announce: !args.quiet,
        user: args.user.clone(),
        counters,
    };
    capture::live::capture(&opts, stop, on_packet)
}

#[cfg(not(feature = "live"))]
pub(crate) fn live(
    _args: &Args,
    _iface: &str,
    _stop: Arc<AtomicBool>,
    _counters: Option<Arc<capture::LiveCounters>>,
    _on_packet: impl FnMut(&RawPacket<'_>) -> ControlFlow<()>,
) -> Result<SourceSummary, CaptureError> {
    Err(CaptureError::Live("this build has no live capture (built without the `live` feature)".into()))
}

#[cfg(feature = "live")]
fn list_interfaces() -> i32 {
    match capture::live::list_interfaces() {
        Ok(list) => {
            for (i, (name, desc)) in list.iter().enumerate() {
                match desc {
                    Some(d) => println!("{}. {name} ({d})", i + 1),
                    None => println!("{}. {name}", i + 1),
                }
            }
            0
        }
        Err(e) => {
            eprintln!("streamscope: {e}");
            EXIT_INPUT
        }
    }
}

#[cfg(not(feature = "live"))]
fn list_interfaces() -> i32 {
    eprintln!("streamscope: this build has no live capture (built without the `live` feature)");
    EXIT_INPUT
}

/// Progress on stderr for large inputs, when stderr is a terminal.
struct Progress {
    enabled: bool,
    total: Option<u64>,
    started: std::time::Instant,
    last: std::time::Instant,
    shown: bool,
}

impl Progress {
    fn new(enabled: bool, path: Option<&str>) -> Self {
        let total = path.filter(|p| *p != "-").and_then(|p| std::fs::metadata(p).ok()).map(|m| m.len());
        let now = std::time::Instant::now();
        Progress { enabled, total, started: now, last: now, shown: false }
    }

    fn tick(&mut self, packets: u64) {
        if !self.enabled || !packets.is_multiple_of(65_536) {
            return;
        }
        let now = std::time::Instant::now();
        if now.duration_since(self.last).as_millis() < 250 || now.duration_since(self.started).as_millis() < 500 {
            return;
        }
        self.last = now;
        self.shown = true;
        let total = self.total.map_or(String::new(), |t| format!(" of {:.1} MB", t as f64 / 1e6));
        eprint!(
            "\rstreamscope: {packets} packets read{total}, {:.1} s   ",
            now.duration_since(self.started).as_secs_f64()
        );
    }

    fn done(&mut self) {
        if self.shown {
            eprintln!();
        }
    }
}
