//! The terminal UI rendered to ratatui's TestBackend on real samples, driven key by key, and
//! (when tmux is installed) the real binary in a tmux pane.

mod common;

use common::{analyse, root};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use streamscope::tui::model::Model;
use streamscope::tui::state::{Action, State, Tab};
use streamscope::tui::views;
use streamscope::Config;

fn model(sample: &str) -> (Model, serde_json::Value) {
    let path = root().join("samples").join(sample);
    let (engine, summary) = analyse(&path, Config::default());
    let report = streamscope::report::json::build(&engine, &summary);
    (Model::new(sample, &report, engine.app.timeline.events()), report)
}

/// A model with the latency lab attached, as the UI builds it.
fn lab_model(sample: &str) -> (Model, serde_json::Value) {
    let path = root().join("samples").join(sample);
    let (engine, summary) = common::analyse_prepared(&path, Config::default(), streamscope::lab::enable);
    let mut report = streamscope::report::json::build(&engine, &summary);
    streamscope::lab::attach(&engine, &mut report);
    (Model::new(sample, &report, engine.app.timeline.events()), report)
}

fn screen(st: &mut State, w: u16, h: u16) -> String {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| views::draw(f, st, false)).unwrap();
    let buf = term.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            out.push_str(buf[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

fn key(st: &mut State, code: KeyCode) -> Action {
    st.on_key(KeyEvent::new(code, KeyModifiers::NONE))
}

#[test]
fn flows_view_lists_every_flow_of_the_report() {
    let (m, report) = model("rtmp-publish-play.pcapng");
    let mut st = State::new(m);
    let text = screen(&mut st, 140, 30);
    let flows = report["flows"].as_array().unwrap();
    assert!(!flows.is_empty());
    assert!(text.contains(&format!("Flows ({})", flows.len())), "{text}");
    for f in flows {
        let line = text.lines().find(|l| l.contains(f["client"].as_str().unwrap())).unwrap_or_else(|| panic!("{text}"));
        assert!(line.contains(f["protocol"].as_str().unwrap()), "{line}");
        assert!(line.contains(f["server"].as_str().unwrap()), "{line}");
        assert!(line.contains(&format!("{}/{}", f["packets_c2s"], f["packets_s2c"])), "{line}");
    }
    assert!(text.contains(&format!("{} packets", report["capture"]["packets"])), "{text}");
}

#[test]
fn latency_view_shows_each_metric_of_the_report() {
    let (m, report) = model("rtmp-publish-play.pcapng");
    let mut st = State::new(m);
    key(&mut st, KeyCode::Char('3'));
    assert_eq!(st.tab, Tab::Latency);
    let text = screen(&mut st, 120, 40);
    let mut n = 0;
    for (proto, metrics) in report["latency"].as_object().unwrap() {
        for (metric, v) in metrics.as_object().unwrap() {
            let line = text
                .lines()
                .find(|l| l.contains(&format!("{proto:<8} {metric} ")))
                .unwrap_or_else(|| panic!("{proto} {metric}\n{text}"));
            let median = format!("{:.3}", v["median"].as_f64().unwrap());
            assert!(line.contains(&median) && line.contains(&format!(" {} ", v["count"])), "{line}");
            n += 1;
        }
    }
    assert!(n >= 5, "{n} metrics");
}

#[test]
fn enter_on_a_flow_shows_its_timeline_and_the_event_fields() {
    let (m, _) = model("rtmp-publish-play.pcapng");
    let mut st = State::new(m);
    key(&mut st, KeyCode::Char('j'));
    let flow = st.model.flows[st.visible_flows()[1]].id;
    key(&mut st, KeyCode::Enter);
    assert_eq!((st.tab, st.flow_filter), (Tab::Timeline, Some(flow)));
    let visible = st.visible_events();
    assert!(!visible.is_empty());
    assert!(visible.iter().all(|&i| st.model.events[i].flow == Some(flow)));
    assert_eq!(visible.len(), st.model.events.iter().filter(|e| e.flow == Some(flow)).count());
    let text = screen(&mut st, 140, 40);
    assert!(text.contains(&format!("Timeline of flow {flow} ({} events)", visible.len())), "{text}");
    assert!(text.contains("rtmp.handshake.c0c1") && text.contains("C ──▶ S"), "{text}");
    // The connect's _result carries its latency, in the row and in the detail pane.
    let reply = visible
        .iter()
        .position(|&i| st.model.events[i].name == "rtmp.command._result" && st.model.events[i].latency_ms.is_some())
        .unwrap();
    for _ in 0..reply {
        key(&mut st, KeyCode::Down);
    }
    key(&mut st, KeyCode::Enter);
    assert!(st.detail);
    let text = screen(&mut st, 160, 50);
    assert!(text.contains("Event fields") && text.contains("latency_ms: 44.056"), "{text}");
    key(&mut st, KeyCode::Esc);
    key(&mut st, KeyCode::Esc);
    assert_eq!((st.tab, st.flow_filter, st.detail), (Tab::Flows, None, false));
}

#[test]
fn filter_sort_help_and_quit() {
    let (m, _) = model("rtsp-play-udp.pcapng");
    let mut st = State::new(m);
    let all = st.visible_flows().len();
    assert!(all >= 3, "{all}");
    key(&mut st, KeyCode::Char('/'));
    for c in "rtsp".chars() {
        key(&mut st, KeyCode::Char(c));
    }
    key(&mut st, KeyCode::Enter);
    let rtsp = st.visible_flows();
    assert!(!rtsp.is_empty() && rtsp.len() < all);
    assert!(rtsp.iter().all(|&i| st.model.flows[i].protocol == "rtsp"));
    assert!(screen(&mut st, 100, 24).contains("filter: rtsp"));
    key(&mut st, KeyCode::Esc);
    assert_eq!(st.visible_flows().len(), all);
    key(&mut st, KeyCode::Char('s'));
    let by_bytes: Vec<u64> =
        st.visible_flows().iter().map(|&i| st.model.flows[i].bytes.0 + st.model.flows[i].bytes.1).collect();
    assert!(by_bytes.windows(2).all(|w| w[0] >= w[1]), "{by_bytes:?}");
    key(&mut st, KeyCode::Char('?'));
    assert!(screen(&mut st, 100, 24).contains("Keys (any key closes)"));
    assert_eq!(key(&mut st, KeyCode::Char('x')), Action::Continue);
    assert!(!st.help);
    key(&mut st, KeyCode::End);
    assert_eq!(st.cursor(), all - 1);
    assert_eq!(key(&mut st, KeyCode::Char('q')), Action::Quit);
    assert_eq!(st.on_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)), Action::Quit);
}

#[test]
fn every_view_draws_at_any_size() {
    let (m, _) = model("hls-http-sll2.pcap");
    let mut st = State::new(m);
    for tab in ['1', '2', '3', '4', '5'] {
        key(&mut st, KeyCode::Char(tab));
        key(&mut st, KeyCode::Enter);
        for (w, h) in [(80, 24), (20, 5), (1, 1), (300, 100)] {
            let text = screen(&mut st, w, h);
            assert_eq!(text.lines().count(), usize::from(h));
        }
    }
}

/// The real binary in a tmux pane: open a sample, switch views, drill down, quit, and the
/// shell gets its terminal back.
#[test]
fn binary_in_tmux() {
    use std::process::Command;
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("skipped: tmux is not installed");
        return;
    }
    let bin = env!("CARGO_BIN_EXE_streamscope");
    let sample = root().join("samples/rtmp-publish-play.pcapng");
    let name = format!("streamscope-test-{}", std::process::id());
    let tmux = |args: &[&str]| Command::new("tmux").args(args).output().unwrap();
    let cmd = format!("{bin} {} ; echo EXITED $?; sleep 30", sample.display());
    let out = tmux(&["new-session", "-d", "-s", &name, "-x", "120", "-y", "30", &cmd]);
    assert!(out.status.success(), "{out:?}");
    let pane = |want: &str| {
        for _ in 0..100 {
            let o = tmux(&["capture-pane", "-p", "-t", &name]);
            let s = String::from_utf8_lossy(&o.stdout).to_string();
            if s.contains(want) {
                return s;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let s = String::from_utf8_lossy(&tmux(&["capture-pane", "-p", "-t", &name]).stdout).to_string();
        tmux(&["kill-session", "-t", &name]);
        panic!("{want:?} never appeared:\n{s}");
    };
    pane("Flows (2)");
    // Filter by port: one flow left, the status bar shows the filter; Esc clears it.
    tmux(&["send-keys", "-t", &name, "/"]);
    tmux(&["send-keys", "-t", &name, "-l", "54610"]);
    tmux(&["send-keys", "-t", &name, "Enter"]);
    pane("Flows (1)");
    pane("filter: 54610");
    tmux(&["send-keys", "-t", &name, "Escape"]);
    pane("Flows (2)");
    tmux(&["send-keys", "-t", &name, "Enter"]);
    pane("Timeline of flow 0");
    tmux(&["send-keys", "-t", &name, "3"]);
    pane("connect_ms");
    tmux(&["send-keys", "-t", &name, "5"]);
    pane("Lab: sessions (2)");
    tmux(&["send-keys", "-t", &name, "Enter"]);
    pane("time_to_first_media_ms: first video keyframe");
    tmux(&["send-keys", "-t", &name, "q"]);
    let s = pane("EXITED 0");
    tmux(&["kill-session", "-t", &name]);
    assert!(!s.contains("Latency ─"), "the UI is still on screen:\n{s}");
}

/// Live capture on loopback in the UI: UDP datagrams sent while it runs show up as a flow.
/// Skipped without tmux or without the right to capture.
#[cfg(feature = "live")]
#[test]
fn live_capture_in_tmux_shows_the_flow() {
    use std::process::Command;
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("skipped: tmux is not installed");
        return;
    }
    let sink = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = sink.local_addr().unwrap().port();
    let bin = env!("CARGO_BIN_EXE_streamscope");
    let name = format!("streamscope-live-{}", std::process::id());
    let tmux = |args: &[&str]| Command::new("tmux").args(args).output().unwrap();
    let cmd = format!("{bin} -i lo -f 'udp port {port}' --duration 20; echo EXITED $?; sleep 30");
    assert!(tmux(&["new-session", "-d", "-s", &name, "-x", "120", "-y", "30", &cmd]).status.success());
    let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let want = format!("127.0.0.1:{port}");
    let mut screen = String::new();
    for i in 0..100 {
        sender.send_to(format!("datagram {i}").as_bytes(), ("127.0.0.1", port)).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(100));
        screen = String::from_utf8_lossy(&tmux(&["capture-pane", "-p", "-t", &name]).stdout).to_string();
        if screen.contains(&want) || screen.contains("EXITED") {
            break;
        }
    }
    tmux(&["send-keys", "-t", &name, "q"]);
    std::thread::sleep(std::time::Duration::from_millis(500));
    let after = String::from_utf8_lossy(&tmux(&["capture-pane", "-p", "-t", &name]).stdout).to_string();
    tmux(&["kill-session", "-t", &name]);
    if screen.contains("EXITED") && (screen.contains("permission") || screen.contains("Operation not permitted")) {
        eprintln!("skipped: cannot capture here:\n{screen}");
        return;
    }
    assert!(screen.contains(&want) && screen.contains("(capturing)"), "{screen}");
    assert!(after.contains("EXITED 0"), "{after}");
}

/// RFC 4180 records (quoted fields may hold commas, quotes and line breaks).
fn parse_csv(s: &str) -> Vec<Vec<String>> {
    let (mut rows, mut row, mut cell, mut quoted) = (Vec::new(), Vec::new(), String::new(), false);
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        match (quoted, c) {
            (true, '"') if it.peek() == Some(&'"') => {
                it.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut cell)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => cell.push(c),
        }
    }
    rows
}

#[test]
fn export_writes_the_visible_rows_as_csv() {
    use streamscope::tui::export;
    let (m, report) = model("rtmp-publish-play.pcapng");
    let mut st = State::new(m);
    use streamscope::tui::state::ExportFormat;
    assert_eq!(key(&mut st, KeyCode::Char('e')), Action::Export(ExportFormat::Csv));
    assert_eq!(key(&mut st, KeyCode::Char('E')), Action::Export(ExportFormat::Json));
    assert_eq!(export::file_name(&st), "streamscope-flows.csv");
    let rows = parse_csv(&export::csv(&st));
    let flows = report["flows"].as_array().unwrap();
    assert_eq!(rows.len(), flows.len() + 1);
    for (r, f) in rows[1..].iter().zip(flows) {
        assert_eq!(r[3], f["client"].as_str().unwrap());
        assert_eq!(r[5], f["packets_c2s"].to_string());
        assert_eq!(r[8], f["bytes_s2c"].to_string());
    }
    key(&mut st, KeyCode::Enter);
    assert_eq!(export::file_name(&st), "streamscope-timeline-flow0.csv");
    let rows = parse_csv(&export::csv(&st));
    assert_eq!(rows.len(), st.visible_events().len() + 1);
    assert!(rows.iter().all(|r| r.len() == 7), "every record has 7 fields");
    // The fields column is the event's JSON, intact through the quoting.
    for (r, &i) in rows[1..].iter().zip(&st.visible_events()) {
        let v: serde_json::Value = serde_json::from_str(&r[6]).unwrap();
        assert_eq!(v, st.model.events[i].json);
    }
    key(&mut st, KeyCode::Char('3'));
    let rows = parse_csv(&export::csv(&st));
    assert_eq!(rows.len(), st.model.latency.len() + 1);
    // JSON: the same rows as objects keyed by the CSV header, numbers as numbers.
    let v: serde_json::Value = serde_json::from_str(&export::json(&st)).unwrap();
    let objects = v.as_array().unwrap();
    assert_eq!(objects.len(), rows.len() - 1);
    for (o, r) in objects.iter().zip(&rows[1..]) {
        assert_eq!(o["protocol"], r[0].as_str());
        assert_eq!(o["count"].as_u64().unwrap().to_string(), r[2]);
        let want: f64 = r[4].parse().unwrap();
        assert!((o["median"].as_f64().unwrap() - want).abs() < 1e-9);
    }
}

#[test]
fn follow_keeps_the_newest_event_selected_as_events_arrive() {
    let path = root().join("samples/rtmp-publish-play.pcapng");
    let (engine, summary) = analyse(&path, Config::default());
    let report = streamscope::report::json::build(&engine, &summary);
    let all = engine.app.timeline.events();
    assert!(all.len() > 20);
    let mut st = State::new(Model::new("x", &report, &all[..10]));
    key(&mut st, KeyCode::Char('2'));
    key(&mut st, KeyCode::Char('f'));
    assert!(st.follow && st.cursor() == 9);
    st.model.update(&report, &all[10..20]);
    assert_eq!(st.cursor(), 19);
    assert!(screen(&mut st, 100, 24).contains("following"));
    key(&mut st, KeyCode::Char('f'));
    st.model.update(&report, &all[20..]);
    assert_eq!((st.follow, st.cursor()), (false, 19), "paused where it was");
    key(&mut st, KeyCode::Char('f'));
    key(&mut st, KeyCode::Up);
    assert_eq!((st.follow, st.cursor()), (false, all.len() - 2), "moving stops following");
}

#[test]
fn non_utf8_locales_get_ascii_only() {
    let (m, _) = model("rtmp-publish-play.pcapng");
    let mut st = State::new(m);
    for keys in
        [&[KeyCode::Char('1')][..], &[KeyCode::Enter, KeyCode::Enter], &[KeyCode::Char('3'), KeyCode::Char('?')]]
    {
        for &k in keys {
            key(&mut st, k);
        }
        let mut term = Terminal::new(TestBackend::new(100, 24)).unwrap();
        term.draw(|f| views::draw_ascii(f, &mut st, true)).unwrap();
        let buf = term.backend().buffer().clone();
        let text: String = buf.content.iter().map(|c| c.symbol()).collect();
        assert!(text.is_ascii(), "{text}");
        assert!(text.contains("client > server") || text.contains("C --> S") || text.contains("Keys"), "{text}");
    }
    assert_eq!(views::ascii_symbol("◀"), "<");
    assert_eq!(views::ascii_symbol("é"), "?");
}

#[test]
fn a_cut_file_shows_its_warning() {
    let data = std::fs::read(root().join("samples/rtmp-publish-play.pcapng")).unwrap();
    let cut = std::env::temp_dir().join(format!("streamscope-tui-cut-{}.pcapng", std::process::id()));
    std::fs::write(&cut, &data[..data.len() - 100]).unwrap();
    let (engine, summary) = analyse(&cut, Config::default());
    let _ = std::fs::remove_file(&cut);
    let report = streamscope::report::json::build(&engine, &summary);
    let warning = report["capture"]["warning"].as_str().expect("a cut file has a warning").to_string();
    let mut st = State::new(Model::new("cut", &report, &[]));
    let text = screen(&mut st, 300, 10);
    assert!(text.contains(&format!("warning: {warning}")), "{text}");
}

#[test]
fn lab_view_shows_each_session_and_explains_its_numbers() {
    let (m, report) = lab_model("rtmp-publish-play.pcapng");
    let lab = &report["lab"];
    let sessions = lab["protocols"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    let mut st = State::new(m);
    key(&mut st, KeyCode::Char('5'));
    assert_eq!(st.tab, Tab::Lab);
    let text = screen(&mut st, 140, 40);
    assert!(text.contains("Lab: sessions (2)"), "{text}");
    for s in sessions {
        let label = s["label"].as_str().unwrap();
        let line = text.lines().find(|l| l.contains(label)).unwrap_or_else(|| panic!("{label}\n{text}"));
        let ttfm = s["time_to_first_media_ms"].as_f64().unwrap();
        assert!(line.contains(&format!("{ttfm:.3}")), "{line}");
    }
    // The phases of the selected session, as bars with their durations.
    let first = &sessions[0];
    for p in first["phases"].as_array().unwrap() {
        let name = p["name"].as_str().unwrap();
        let line =
            text.lines().find(|l| l.contains(name) && l.contains('█')).unwrap_or_else(|| panic!("{name}\n{text}"));
        assert!(line.contains(&format!("{:.3}", p["duration_ms"].as_f64().unwrap())), "{line}");
    }
    // The pipeline: the play connection's keyframes matched to the publish.
    let rows = lab["pipeline"].as_array().unwrap();
    assert!(text.contains(&format!("Pipeline: ingest → delivery ({})", rows.len())), "{text}");
    key(&mut st, KeyCode::Enter);
    let text = screen(&mut st, 160, 40);
    let formula = first["explain"]["time_to_first_media_ms"]["formula"].as_str().unwrap();
    assert!(text.replace('\n', " ").contains(&formula[..30]), "{text}");
    let frames: Vec<String> = first["explain"]["time_to_first_media_ms"]["frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.to_string())
        .collect();
    assert!(text.contains(&format!("frames {}", frames.join(", "))), "{text}");
}

#[test]
fn streams_view_lists_every_rtp_stream_with_its_bitrate_and_loss() {
    let (m, report) = model("rtp-loss-jitter.pcap");
    let mut st = State::new(m);
    key(&mut st, KeyCode::Char('4'));
    let text = screen(&mut st, 140, 30);
    let streams = report["rtp"].as_array().unwrap();
    assert!(text.contains(&format!("Streams ({})", streams.len())), "{text}");
    for s in streams {
        let id = format!("{} {}", s["ssrc"].as_str().unwrap(), s["dir"].as_str().unwrap());
        let want = (format!("rtp   {:<5}", s["flow"]), format!("{:.3}", s["bitrate_kbps"].as_f64().unwrap()));
        let line = text
            .lines()
            .find(|l| l.contains(&id) && l.contains(&want.0) && l.contains(&want.1))
            .unwrap_or_else(|| panic!("{id} {want:?}\n{text}"));
        assert!(line.contains(&format!(" {} ", s["lost"])), "{line}");
    }
    // The selected stream's charts: bitrate, loss and jitter over time.
    assert!(text.contains("lost per point"), "{text}");
    assert!(text.contains("jitter ms"), "{text}");
}

#[test]
fn a_click_selects_the_row_under_the_mouse() {
    let (m, _) = model("rtsp-play-udp.pcapng");
    let mut st = State::new(m);
    screen(&mut st, 120, 30);
    assert_eq!(st.cursor(), 0);
    st.on_click(st.table_top + 2);
    assert_eq!(st.cursor(), 2);
    // Above the table: nothing happens.
    st.on_click(0);
    assert_eq!(st.cursor(), 2);
    // Below the last row: nothing either.
    st.on_click(st.table_top + 25);
    assert_eq!(st.cursor(), 2);
}

fn tshark(args: &[&str]) -> Option<String> {
    let o = std::process::Command::new("tshark").args(args).output().ok()?;
    o.status.success().then(|| String::from_utf8_lossy(&o.stdout).to_string())
}

#[test]
fn the_hex_pane_shows_the_selected_events_frame() {
    let sample = "rtsp-play-udp.pcapng";
    let path = root().join("samples").join(sample);
    let (m, _) = model(sample);
    let mut st = State::new(m);
    key(&mut st, KeyCode::Char('2'));
    for _ in 0..3 {
        key(&mut st, KeyCode::Down);
    }
    let n = st.selected_frame().expect("events carry their frame number");
    assert_eq!(key(&mut st, KeyCode::Enter), Action::LoadFrame(n));
    let f = streamscope::capture::extract::frame(path.to_str().unwrap(), n).unwrap().unwrap();
    if let Some(out) = tshark(&[
        "-r",
        path.to_str().unwrap(),
        "-Y",
        &format!("frame.number=={n}"),
        "-T",
        "fields",
        "-e",
        "frame.cap_len",
        "-e",
        "frame.time_epoch",
    ]) {
        let mut it = out.trim().split('\t');
        assert_eq!(it.next().unwrap().parse::<usize>().unwrap(), f.data.len());
        assert_eq!(common::tshark_micros(it.next().unwrap()), f.ts.micros());
    }
    let first = format!("0000  {}", f.data[..8].iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" "));
    st.hex = Some((n, Ok(f.data.clone())));
    // Moving on asks for the next event's frame; coming back finds it loaded.
    let text = screen(&mut st, 160, 40);
    assert!(text.contains(&format!("Frame {n}: {} bytes", f.data.len())), "{text}");
    assert!(text.contains(&first), "{text}");
}

#[test]
fn w_writes_the_selected_flows_packets_to_a_pcapng() {
    let sample = "rtsp-play-udp.pcapng";
    let path = root().join("samples").join(sample);
    let (m, report) = model(sample);
    let mut st = State::new(m);
    key(&mut st, KeyCode::Down);
    let id = st.current_flow().unwrap();
    assert_eq!(key(&mut st, KeyCode::Char('w')), Action::WriteFlow(id));
    let row = st.model.flows.iter().find(|f| f.id == id).unwrap();
    let fm = streamscope::tui::export::flow_match(row).unwrap();
    let out = std::env::temp_dir().join(format!("streamscope-w-{}.pcapng", std::process::id()));
    let written =
        streamscope::capture::extract::write_flow(path.to_str().unwrap(), &fm, out.to_str().unwrap()).unwrap();
    let flow = report["flows"].as_array().unwrap().iter().find(|f| f["id"] == id).unwrap();
    assert_eq!(written, flow["packets_c2s"].as_u64().unwrap() + flow["packets_s2c"].as_u64().unwrap());
    // Read back: the file holds that flow only, every packet of it.
    let back = common::report(&out);
    let flows = back["flows"].as_array().unwrap();
    assert_eq!(flows.len(), 1);
    assert_eq!(
        (flows[0]["client"].clone(), flows[0]["server"].clone()),
        (flow["client"].clone(), flow["server"].clone())
    );
    assert_eq!(back["capture"]["packets"].as_u64().unwrap(), written);
    if let Some(n) = tshark(&["-r", out.to_str().unwrap(), "-T", "fields", "-e", "frame.number"]) {
        assert_eq!(n.lines().count() as u64, written);
    }
    let _ = std::fs::remove_file(out);
}

#[test]
fn half_a_million_flows_scroll_and_only_the_window_is_drawn() {
    let row = |id: u64| streamscope::tui::model::FlowRow {
        id,
        protocol: "udp".into(),
        transport: "udp".into(),
        client: format!("10.0.{}.{}:{}", id / 65536 % 256, id / 256 % 256, 1024 + id % 60000),
        server: "10.1.0.1:5004".into(),
        packets: (1, 0),
        bytes: (100, 0),
        duration_s: 0.0,
        anomalies: 0,
        span_us: (0, 0),
    };
    let model = Model { flows: (0..500_000).map(row).collect(), ..Model::default() };
    let mut st = State::new(model);
    let text = screen(&mut st, 120, 30);
    assert!(text.contains("Flows (500000)") && text.contains("│0 "), "{text}");
    key(&mut st, KeyCode::End);
    let text = screen(&mut st, 120, 30);
    assert!(text.contains("499999"), "{text}");
    assert_eq!(st.cursor(), 499_999);
    for _ in 0..3 {
        key(&mut st, KeyCode::PageUp);
    }
    let text = screen(&mut st, 120, 30);
    let want = 499_999 - 3 * st.page;
    assert_eq!(st.cursor(), want);
    assert!(text.contains(&format!("│{want} ")), "{text}");
    key(&mut st, KeyCode::Home);
    let text = screen(&mut st, 120, 30);
    assert!(text.contains("│0 ") && !text.contains("499999"), "{text}");
}

/// The UI builds flow rows straight from the flow table while reading; they must be the rows
/// the JSON report gives.
#[test]
fn flow_rows_from_the_table_equal_the_reports() {
    for sample in ["rtmp-publish-play.pcapng", "rtsp-play-udp.pcapng", "hls-http-sll2.pcap"] {
        let path = root().join("samples").join(sample);
        let (engine, summary) = analyse(&path, Config::default());
        let report = streamscope::report::json::build(&engine, &summary);
        let from_json = Model::new(sample, &report, &[]).flows;
        let direct: Vec<_> = engine
            .flows
            .iter()
            .map(|r| {
                streamscope::tui::model::FlowRow::from_record(&r, streamscope::report::json::anomalies(&engine, &r))
            })
            .collect();
        assert_eq!(from_json.len(), direct.len());
        for (a, b) in from_json.iter().zip(&direct) {
            assert_eq!(
                (a.id, &a.protocol, &a.client, &a.server, a.packets, a.bytes, a.anomalies, a.span_us),
                (b.id, &b.protocol, &b.client, &b.server, b.packets, b.bytes, b.anomalies, b.span_us),
                "{sample}"
            );
            assert!((a.duration_s - b.duration_s).abs() < 2e-6, "{sample}");
        }
    }
}
