//! Text snapshots (insta) of every view of the terminal UI, rendered to ratatui's TestBackend
//! from real samples at 100×30. A change to what the UI shows fails here until the new
//! snapshot is reviewed (`cargo insta review`, or INSTA_UPDATE=always and read the diff).

mod common;

use common::root;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use streamscope::tui::model::Model;
use streamscope::tui::state::State;
use streamscope::tui::views;
use streamscope::Config;

fn state(sample: &str) -> State {
    let path = root().join("samples").join(sample);
    let (engine, summary) = common::analyse_prepared(&path, Config::default(), streamscope::lab::enable);
    let mut report = streamscope::report::json::build(&engine, &summary);
    streamscope::lab::attach(&engine, &mut report);
    let mut model = Model::new(sample, &report, engine.app.timeline.events());
    model.progress = "done".into();
    State::new(model)
}

fn screen(st: &mut State) -> String {
    let mut term = Terminal::new(TestBackend::new(100, 30)).unwrap();
    term.draw(|f| views::draw(f, st, true)).unwrap();
    let buf = term.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..buf.area.height {
        let line: String = (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn keys(st: &mut State, codes: &[KeyCode]) {
    for &c in codes {
        st.on_key(KeyEvent::new(c, KeyModifiers::NONE));
    }
}

#[test]
fn flows_view() {
    let mut st = state("rtsp-play-udp.pcapng");
    insta::assert_snapshot!(screen(&mut st));
}

#[test]
fn timeline_view_with_event_detail() {
    let mut st = state("rtmp-publish-play.pcapng");
    keys(&mut st, &[KeyCode::Enter, KeyCode::Down, KeyCode::Down, KeyCode::Enter]);
    insta::assert_snapshot!(screen(&mut st));
}

#[test]
fn latency_view() {
    let mut st = state("rtmp-publish-play.pcapng");
    keys(&mut st, &[KeyCode::Char('3')]);
    insta::assert_snapshot!(screen(&mut st));
}

#[test]
fn streams_view() {
    let mut st = state("rtp-loss-jitter.pcap");
    keys(&mut st, &[KeyCode::Char('4'), KeyCode::Down]);
    insta::assert_snapshot!(screen(&mut st));
}

#[test]
fn lab_view_with_explanations() {
    let mut st = state("rtmp-publish-play.pcapng");
    keys(&mut st, &[KeyCode::Char('5'), KeyCode::Down, KeyCode::Enter]);
    insta::assert_snapshot!(screen(&mut st));
}

#[test]
fn help_overlay() {
    let mut st = state("hls-http-sll2.pcap");
    keys(&mut st, &[KeyCode::Char('?')]);
    insta::assert_snapshot!(screen(&mut st));
}
