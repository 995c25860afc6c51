//! The terminal UI (ratatui + crossterm): Flows, Timeline and Latency views over a finished
//! analysis. It reads the JSON report and the kept events ([`model::Model`]) and knows
//! nothing of packets or parsers.

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

fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(io::stdout(), LeaveAlternateScreen, crossterm::event::DisableMouseCapture);
}

/// Runs the UI on `model` until the user quits. The terminal is restored on every way out,
/// including a panic.
pub fn run(model: model::Model) -> io::Result<()> {
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
    let result = event_loop(State::new(model));
    restore();
    let _ = std::panic::take_hook();
    result
}

fn event_loop(mut st: State) -> io::Result<()> {
    let mut term = Terminal::new(CrosstermBackend::new(io::stdout()))?;
    let no_color = no_color();
    loop {
        term.draw(|f| views::draw(f, &mut st, no_color))?;
        // Redraw at a steady rate even without input (resizes arrive as events too).
        if !event::poll(Duration::from_millis(250))? {
            continue;
        }
        let action = match event::read()? {
            TermEvent::Key(k) if k.kind != KeyEventKind::Release => st.on_key(k),
            TermEvent::Mouse(m) => match m.kind {
                MouseEventKind::ScrollDown => st.on_key(KeyEvent::from(KeyCode::Down)),
                MouseEventKind::ScrollUp => st.on_key(KeyEvent::from(KeyCode::Up)),
                _ => Action::Continue,
            },
            _ => Action::Continue,
        };
        if action == Action::Quit {
            return Ok(());
        }
    }
}
