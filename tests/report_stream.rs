//! `--report json` is written flow by flow (a million flows must not need their JSON in memory
//! at once); the bytes must be exactly those of the report built in memory, on every sample.

mod common;

use common::{analyse, root};
use streamscope::Config;

#[test]
fn streamed_report_equals_the_built_one_on_every_sample() {
    let mut n = 0;
    for entry in std::fs::read_dir(root().join("samples")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !(name.ends_with(".pcap") || name.ends_with(".pcapng")) {
            continue;
        }
        let (engine, summary) = analyse(&path, Config::default());
        let built = format!("{}\n", streamscope::report::json::build(&engine, &summary));
        let mut streamed = Vec::new();
        streamscope::report::json::write(&engine, &summary, &mut streamed).unwrap();
        assert_eq!(String::from_utf8(streamed).unwrap(), built, "{name}");
        n += 1;
    }
    assert!(n >= 18, "only {n} samples");
}
