//! Replays every saved fuzz input in `tests/fuzz-regressions/` through the code path of the
//! fuzz target its file name starts with (`<target>-<short name>.bin`): the target bodies in
//! `fuzz/src/lib.rs` are included here as a module, so the replay is exactly what the fuzzer
//! ran, invariants included. Each input must run without a panic.
//!
//! Inputs that still crash can be listed in [`OPEN`]: the test skips them (a crash inside a
//! dependency may abort the process and cannot be caught); take a name off the list once its
//! bug is fixed.

#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)] // with_ctx serves the fuzz binaries only
mod harness;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

/// Saved inputs whose bug is not fixed yet.
const OPEN: &[&str] = &[];

const TARGETS: &[&str] = &[
    "packet_decode",
    "reassembly",
    "reassembly_split",
    "probes",
    "pipeline",
    "rtmp_chunks",
    "srtp",
    "sctp",
    "http_streaming",
];

fn inputs() -> Vec<(String, PathBuf)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("fuzz-regressions");
    let mut v: Vec<(String, PathBuf)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), p))
        .collect();
    v.sort();
    v
}

/// The fuzz target a file belongs to: the part of its name before the first `-`.
fn target_of(name: &str) -> &str {
    name.split_once('-').map_or(name, |(t, _)| t)
}

fn replay(name: &str, path: &PathBuf) -> Result<(), String> {
    let target = target_of(name);
    if !TARGETS.contains(&target) {
        return Err(format!("{name}: no fuzz target named {target:?}"));
    }
    let data = std::fs::read(path).map_err(|e| format!("{name}: {e}"))?;
    match catch_unwind(AssertUnwindSafe(|| harness::run(target, &data))) {
        Ok(true) => Ok(()),
        Ok(false) => Err(format!("{name}: target {target} unknown to the harness")),
        Err(_) => Err(format!("{name}: panicked in target {target} (see the message above)")),
    }
}

#[test]
fn replay_fuzz_regressions() {
    let all = inputs();
    assert!(all.len() >= 5, "expected the saved inputs in tests/fuzz-regressions/");
    for target in TARGETS {
        assert!(all.iter().any(|(n, _)| target_of(n) == *target), "no saved input for target {target}");
    }
    for open in OPEN {
        assert!(all.iter().any(|(n, _)| n == open), "{open} is listed as open but missing");
    }
    let failures: Vec<String> =
        all.iter().filter(|(n, _)| !OPEN.contains(&n.as_str())).filter_map(|(n, p)| replay(n, p).err()).collect();
    assert!(failures.is_empty(), "fuzz regressions failing:\n{}", failures.join("\n"));
}
