//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod synth;

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use streamscope::capture::{file, SourceSummary};
use streamscope::{Config, Engine};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The shared public captures, when present beside the checkout.
pub fn shared_captures() -> Option<PathBuf> {
    let p = root().join("..").join("shared").join("captures");
    p.is_dir().then_some(p)
}

/// Runs the whole pipeline over a capture file.
pub fn analyse(path: &Path, cfg: Config) -> (Engine, SourceSummary) {
    analyse_prepared(path, cfg, |_| {})
}

/// [`analyse`] with `prepare` applied to the engine before the first packet (e.g. the lab's
/// collector).
pub fn analyse_prepared(path: &Path, cfg: Config, prepare: impl FnOnce(&mut Engine)) -> (Engine, SourceSummary) {
    let mut engine = Engine::new(cfg);
    prepare(&mut engine);
    let summary = file::read_path(path.to_str().unwrap(), |p| {
        engine.process(p);
        ControlFlow::Continue(())
    })
    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    engine.finish();
    (engine, summary)
}

/// The JSON report of a capture.
pub fn report(path: &Path) -> serde_json::Value {
    let (engine, summary) = analyse(path, Config::default());
    streamscope::report::json::build(&engine, &summary)
}

/// tshark's `frame.time_epoch` string ("1700000000.123456789") truncated to microseconds.
pub fn tshark_micros(s: &str) -> i64 {
    let (secs, frac) = s.split_once('.').unwrap_or((s, "0"));
    let mut frac = frac.to_string();
    frac.truncate(6);
    while frac.len() < 6 {
        frac.push('0');
    }
    secs.parse::<i64>().unwrap() * 1_000_000 + frac.parse::<i64>().unwrap()
}

/// Our report's timestamp (a JSON number with six decimals) in microseconds.
pub fn report_micros(v: &serde_json::Value) -> i64 {
    tshark_micros(&v.to_string())
}

/// The `peak_rss_kib` of a `--stats` line in a run's stderr.
pub fn peak_rss_kib(stderr: &[u8]) -> i64 {
    let text = String::from_utf8_lossy(stderr);
    text.lines()
        .filter(|l| l.starts_with("streamscope stats:"))
        .flat_map(|l| l.split_whitespace())
        .find_map(|w| w.strip_prefix("peak_rss_kib="))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no peak_rss_kib in: {text}"))
}
