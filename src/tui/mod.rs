//! The terminal UI (ratatui + crossterm): Flows, Timeline and Latency views. It reads the
//! JSON report and the kept events through a [`Feed`] and knows nothing of packets or
//! parsers; the feed fills the model while a file is read or a live capture runs.

pub mod export;
pub mod model;
pub mod state;
pub mod views;

use crossterm::event::{self, Event as TermEvent, KeyCode, KeyEvent, KeyEventKind, MouseEventKind};
use crossterm::execute;
use crossterm::terminal::{disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;
use state::{Action, State};
use std::io;
use std::time::Duration;

/// True when the user asked for no colour (`NO_COLOR` set and not empty).
pub fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// True when the locale (LC_ALL, else LC_CTYPE, else LANG) does not say UTF-8: the UI then
/// draws in ASCII.
pub fn ascii_locale() -> bool {
    let locale = ["LC_ALL", "LC_CTYPE", "LANG"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .find(|v| !v.is_empty())
        .unwrap_or_default()
        .to_ascii_lowercase();
    !(locale.contains("utf-8") || locale.contains("utf8"))
}

fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(io::stdout(), LeaveAlternateScreen, crossterm::event::DisableMouseCapture);
}

/// Where the UI gets its data while it runs.
pub trait Feed {
    /// Brings `model` up to date (called between redraws, at most a few times a second).
    /// An error (e.g. the file is not a capture) closes the UI and is returned by [`run`].
    fn refresh(&mut self, model: &mut model::Model) -> Result<(), String>;
    /// The bytes of frame `number` (1-based), for the hex pane.
    fn frame(&mut self, _number: u64) -> Result<Vec<u8>, String> {
        Err("no capture file to read frames from".into())
    }
    /// Writes the packets of `flow` to the pcapng file `out`; returns how many.
    fn write_flow(&mut self, _flow: &crate::capture::extract::FlowMatch, _out: &str) -> Result<u64, String> {
        Err("no capture file to read packets from".into())
    }
}

/// Runs the UI until the user quits, refreshing the model from `feed`. The terminal is
/// restored on every way out, including a panic.
pub fn run(model: model::Model, feed: &mut dyn Feed) -> io::Result<()> {
    enable_raw_mode()?;
    if let Err(e) = execute!(io::stdout(), EnterAlternateScreen, crossterm::event::EnableMouseCapture) {
        restore();
        return Err(e);
    }
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        previous(info);
    }));
    let result = event_loop(State::new(model), feed);
    restore();
    let _ = std::panic::take_hook();
    result
}

fn event_loop(mut st: State, feed: &mut dyn Feed) -> io::Result<()> {
    let mut term = Terminal::new(CrosstermBackend::new(io::stdout()))?;
    let no_color = no_color();
    let ascii = ascii_locale();
    loop {
        feed.refresh(&mut st.model).map_err(io::Error::other)?;
        term.draw(|f| if ascii { views::draw_ascii(f, &mut st, no_color) } else { views::draw(f, &mut st, no_color) })?;
        // Redraw at a steady rate even without input (resizes arrive as events too).
        if !event::poll(Duration::from_millis(250))? {
            continue;
        }
        let action = match event::read()? {
            TermEvent::Key(k) if k.kind != KeyEventKind::Release => st.on_key(k),
            TermEvent::Mouse(m) => match m.kind {
                MouseEventKind::ScrollDown => st.on_key(KeyEvent::from(KeyCode::Down)),
                MouseEventKind::ScrollUp => st.on_key(KeyEvent::from(KeyCode::Up)),
                MouseEventKind::Down(crossterm::event::MouseButton::Left) => st.on_click(m.row),
                _ => Action::Continue,
            },
            _ => Action::Continue,
        };
        match action {
            Action::Quit => return Ok(()),
            Action::Export(format) => {
                let (name, text) = match format {
                    state::ExportFormat::Csv => (export::file_name(&st), export::csv(&st)),
                    state::ExportFormat::Json => (export::file_name(&st).replace(".csv", ".json"), export::json(&st)),
                };
                st.message = match std::fs::write(&name, text) {
                    Ok(()) => format!("wrote {name}"),
                    Err(e) => format!("cannot write {name}: {e}"),
                };
            }
            Action::LoadFrame(n) => {
                st.hex = Some((n, feed.frame(n)));
            }
            Action::WriteFlow(id) => {
                let row = st.model.flows.iter().find(|f| f.id == id).cloned();
                st.message = match row.as_ref().and_then(export::flow_match) {
                    None => format!("flow {id}: its endpoints are unknown"),
                    Some(m) => {
                        let name = format!("streamscope-flow{id}.pcapng");
                        match feed.write_flow(&m, &name) {
                            Ok(n) => format!("wrote {n} packets of flow {id} to {name}"),
                            Err(e) => format!("cannot write {name}: {e}"),
                        }
                    }
                };
            }
            Action::Continue => {}
        }
    }
}
