//! Runs the analysis on its own thread and feeds the terminal UI: the reader (file or live
//! capture) processes packets under a lock; between redraws the UI takes the lock briefly
//! to build the report and copy the events kept since its last look.

use crate::capture::{self, RawPacket, SourceSummary};
use crate::cli::Args;
use crate::engine::Engine;
use crate::tui::model::Model;
use crate::tui::Feed;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How the reader ended: its summary, or the error that stopped it.
type Outcome = Option<Result<SourceSummary, String>>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The engine being fed by a reader thread.
pub struct EngineFeed {
    engine: Arc<Mutex<Engine>>,
    /// Set by the UI while it waits for the engine, so the reader steps aside (a plain
    /// mutex would let the reader take it back packet after packet).
    ui_waiting: Arc<AtomicBool>,
    outcome: Arc<Mutex<Outcome>>,
    stop: Arc<AtomicBool>,
    reader: Option<JoinHandle<()>>,
    file_size: Option<u64>,
    live: bool,
    last: Option<Instant>,
    final_seen: bool,
    /// Drops of a running live capture.
    counters: Arc<capture::LiveCounters>,
    /// The capture file frames can be read back from: the file read, or the live capture's
    /// `-w` file.
    source_file: Option<String>,
    /// Rows already built from a flow's final record (the flow left the table): not looked
    /// at again.
    final_rows: Vec<bool>,
}

impl EngineFeed {
    /// Starts reading `args`' file or interface into `engine` on a new thread.
    pub fn start(args: &Args, engine: Engine, stop: Arc<AtomicBool>) -> EngineFeed {
        let engine = Arc::new(Mutex::new(engine));
        let outcome: Arc<Mutex<Outcome>> = Arc::new(Mutex::new(None));
        let file_size = args.file.as_ref().and_then(|p| std::fs::metadata(p).ok()).map(|m| m.len());
        let ui_waiting = Arc::new(AtomicBool::new(false));
        let counters: Arc<capture::LiveCounters> = Arc::default();
        let live_counters = counters.clone();
        let reader = {
            let (engine, outcome, stop) = (engine.clone(), outcome.clone(), stop.clone());
            // The UI owns the terminal: nothing may be printed on it.
            let args = Args { quiet: true, ..args.clone() };
            let ui_waiting = ui_waiting.clone();
            std::thread::spawn(move || {
                let limit = args.count;
                let on_packet = |p: &RawPacket<'_>| {
                    let mut e = lock(&engine);
                    e.process(p);
                    let enough = limit.is_some_and(|n| e.capture.packets >= n);
                    if ui_waiting.load(Ordering::Relaxed) {
                        drop(e);
                        while ui_waiting.load(Ordering::Relaxed) && !stop.load(Ordering::Relaxed) {
                            std::thread::yield_now();
                        }
                    }
                    if stop.load(Ordering::Relaxed) || enough {
                        ControlFlow::Break(())
                    } else {
                        ControlFlow::Continue(())
                    }
                };
                let result = match (&args.file, &args.interface) {
                    (Some(path), _) => capture::file::read_path(path, on_packet),
                    (None, Some(iface)) => crate::cli::live(&args, iface, stop.clone(), Some(counters), on_packet),
                    (None, None) => Err(capture::CaptureError::Io("no capture source".into())),
                };
                lock(&engine).finish();
                *lock(&outcome) = Some(result.map_err(|e| e.to_string()));
            })
        };
        EngineFeed {
            engine,
            ui_waiting,
            outcome,
            stop,
            reader: Some(reader),
            file_size,
            live: args.file.is_none(),
            last: None,
            final_seen: false,
            counters: live_counters,
            source_file: args.file.clone().filter(|f| f != "-").or_else(|| args.write.clone()),
            final_rows: Vec::new(),
        }
    }

    /// Stops the reader and waits for it.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}

impl Feed for EngineFeed {
    fn refresh(&mut self, model: &mut Model) -> Result<(), String> {
        if self.final_seen || self.last.is_some_and(|t| t.elapsed() < Duration::from_millis(500)) {
            return Ok(());
        }
        self.last = Some(Instant::now());
        let outcome = lock(&self.outcome).clone();
        let summary = match outcome {
            Some(Err(e)) => return Err(e),
            Some(Ok(s)) => {
                self.final_seen = true;
                s
            }
            None if self.live => {
                // Still capturing: the drops so far.
                let c = &self.counters;
                SourceSummary {
                    format: "live".into(),
                    kernel_dropped: Some(c.kernel_dropped.load(Ordering::Relaxed)),
                    if_dropped: Some(c.if_dropped.load(Ordering::Relaxed)),
                    channel_dropped: c.channel_dropped.load(Ordering::Relaxed),
                    ..Default::default()
                }
            }
            None => SourceSummary { format: "reading".into(), ..Default::default() },
        };
        self.ui_waiting.store(true, Ordering::Relaxed);
        let engine = lock(&self.engine);
        self.ui_waiting.store(false, Ordering::Relaxed);
        // Everything but the flow list goes through the report; the flow rows come straight
        // from the flow table (no JSON for 500,000 flows several times a second).
        let mut report = serde_json::Value::Object(crate::report::json::base(&engine, &summary));
        crate::lab::attach(&engine, &mut report);
        let kept = engine.app.timeline.events();
        model.update(&report, kept.get(model.events.len()..).unwrap_or(&[]));
        let n = engine.flows.len();
        model.flows.truncate(n);
        self.final_rows.resize(n, false);
        for (id, done) in (0..n as u32).zip(self.final_rows.iter_mut()) {
            if *done {
                continue;
            }
            let Some(r) = engine.flows.record(id) else { continue };
            *done = engine.flows.is_retired(id);
            let anomalies = crate::report::json::anomalies(&engine, &r);
            match model.flows.get_mut(id as usize) {
                // Unchanged since the last look: no strings formatted again.
                Some(old)
                    if old.id == u64::from(r.id)
                        && old.packets == (r.dirs.c2s.packets, r.dirs.s2c.packets)
                        && old.anomalies == anomalies
                        && old.protocol == r.protocol => {}
                Some(old) => *old = crate::tui::model::FlowRow::from_record(&r, anomalies),
                None => model.flows.push(crate::tui::model::FlowRow::from_record(&r, anomalies)),
            }
        }
        model.progress = match (self.final_seen, self.live, self.file_size) {
            (true, _, _) => "done".into(),
            (false, true, _) => "capturing".into(),
            (false, false, Some(size)) if size > 0 => {
                // Record headers are not counted in captured bytes: the figure is a lower bound.
                let read = engine.capture.captured_bytes + 16 * engine.capture.packets;
                format!("reading ~{}%", (read.saturating_mul(100) / size).min(99))
            }
            (false, false, _) => "reading".into(),
        };
        Ok(())
    }

    fn frame(&mut self, number: u64) -> Result<Vec<u8>, String> {
        let path = self.file()?.to_string();
        match capture::extract::frame(&path, number) {
            Ok(Some(f)) => Ok(f.data),
            Ok(None) => Err(format!("frame {number} is not in {path} (yet)")),
            Err(e) => Err(e.to_string()),
        }
    }

    fn write_flow(&mut self, flow: &capture::extract::FlowMatch, out: &str) -> Result<u64, String> {
        let path = self.file()?.to_string();
        capture::extract::write_flow(&path, flow, out).map_err(|e| e.to_string())
    }
}

impl EngineFeed {
    fn file(&self) -> Result<&str, String> {
        self.source_file.as_deref().ok_or_else(|| "live capture without -w: no file to read packets back from".into())
    }
}

impl Drop for EngineFeed {
    fn drop(&mut self) {
        self.stop();
    }
}
