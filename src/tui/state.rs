//! The UI's state and what each key does to it; no drawing, no terminal, so tests can drive
//! it key by key.

use super::model::{FlowRow, FlowSort, Model};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// The views, in tab order (number keys 1–5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    /// One row per flow.
    Flows,
    /// Events in capture order.
    Timeline,
    /// Latency summaries per protocol and metric.
    Latency,
    /// Media streams with bitrate, loss and jitter over time.
    Streams,
    /// The latency lab: sessions, phases and the ingest → delivery pipeline.
    Lab,
}

impl Tab {
    /// All tabs in order.
    pub const ALL: [Tab; 5] = [Tab::Flows, Tab::Timeline, Tab::Latency, Tab::Streams, Tab::Lab];
    /// Title shown in the tab bar.
    pub fn title(self) -> &'static str {
        match self {
            Tab::Flows => "1 Flows",
            Tab::Timeline => "2 Timeline",
            Tab::Latency => "3 Latency",
            Tab::Streams => "4 Streams",
            Tab::Lab => "5 Lab",
        }
    }
    /// Position in the tab bar.
    pub fn index(self) -> usize {
        Tab::ALL.iter().position(|t| *t == self).unwrap_or(0)
    }
    fn shifted(self, by: usize) -> Tab {
        Tab::ALL.get((self.index() + by) % Tab::ALL.len()).copied().unwrap_or(self)
    }
}

/// Export file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// RFC 4180 CSV.
    Csv,
    /// A JSON array of objects.
    Json,
}

/// What the loop should do after a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Redraw and keep going.
    Continue,
    /// Leave the UI.
    Quit,
    /// Write the current view's rows to a file: CSV (`e`) or JSON (`E`).
    Export(ExportFormat),
    /// Read this frame's bytes for the hex pane.
    LoadFrame(u64),
    /// Write this flow's packets to a pcapng (`w`).
    WriteFlow(u64),
}

/// The UI state.
#[derive(Debug, Clone)]
pub struct State {
    /// The data.
    pub model: Model,
    /// Current view.
    pub tab: Tab,
    /// Selected row per view (index into the visible rows).
    pub selected: [usize; 5],
    /// Flows sort order.
    pub sort: FlowSort,
    /// Text filter (`/`): rows whose text contains it, case-insensitive.
    pub filter: String,
    /// True while the filter is being typed.
    pub editing_filter: bool,
    /// Timeline limited to this flow (Enter on a flow; Esc clears).
    pub flow_filter: Option<u64>,
    /// Detail pane open on the Timeline (Enter on an event).
    pub detail: bool,
    /// Help overlay shown.
    pub help: bool,
    /// Rows per page, set by the last draw.
    pub page: usize,
    /// One-off message for the status bar (e.g. where an export went).
    pub message: String,
    /// Timeline follows the newest event as events arrive (`f`); moving the selection stops it.
    pub follow: bool,
    /// The hex pane's frame: its number and bytes (or why they could not be read).
    pub hex: Option<(u64, Result<Vec<u8>, String>)>,
    /// Screen row of the current table's first data row, set by the last draw.
    pub table_top: u16,
    /// Index of the row drawn first in the current table, set by the last draw.
    pub table_offset: usize,
}

impl State {
    /// A state showing `model`'s Flows view.
    pub fn new(model: Model) -> State {
        State {
            model,
            tab: Tab::Flows,
            selected: [0; 5],
            sort: FlowSort::Id,
            filter: String::new(),
            editing_filter: false,
            flow_filter: None,
            detail: false,
            help: false,
            page: 10,
            message: String::new(),
            follow: false,
            hex: None,
            table_top: 0,
            table_offset: 0,
        }
    }

    /// A mouse click on screen row `y`: selects the table row drawn there.
    pub fn on_click(&mut self, y: u16) -> Action {
        if self.help || y < self.table_top {
            return Action::Continue;
        }
        let idx = self.table_offset + usize::from(y - self.table_top);
        if idx < self.rows() {
            self.move_cursor(idx as isize);
        }
        Action::Continue
    }

    /// The flow the current view points at: the selected flow, the Timeline's flow or the
    /// selected event's flow, the selected stream's or lab session's flow.
    pub fn current_flow(&self) -> Option<u64> {
        let c = self.cursor();
        match self.tab {
            Tab::Flows => self.visible_flows().get(c).and_then(|&i| self.model.flows.get(i)).map(|f| f.id),
            Tab::Timeline => self
                .flow_filter
                .or_else(|| self.visible_events().get(c).and_then(|&i| self.model.events.get(i)).and_then(|e| e.flow)),
            Tab::Streams => self.visible_streams().get(c).and_then(|&i| self.model.streams.get(i)).map(|x| x.flow),
            Tab::Lab => self.visible_lab().get(c).and_then(|&i| self.model.lab.get(i)).map(|x| x.flow),
            Tab::Latency => None,
        }
    }

    /// The frame number of the selected Timeline event.
    pub fn selected_frame(&self) -> Option<u64> {
        self.visible_events()
            .get(self.cursor())
            .and_then(|&i| self.model.events.get(i))
            .and_then(|e| e.json.get("frame"))
            .and_then(serde_json::Value::as_u64)
    }

    /// Whether a row passes the filter; the row's text is only built when there is one.
    fn matches(&self, text: impl FnOnce() -> String) -> bool {
        self.filter.is_empty() || text().to_lowercase().contains(&self.filter.to_lowercase())
    }

    /// Indices into `model.flows` of the visible flows, in display order.
    pub fn visible_flows(&self) -> Vec<usize> {
        let mut v: Vec<(usize, &FlowRow)> = self
            .model
            .flows
            .iter()
            .enumerate()
            .filter(|(_, f)| {
                self.matches(|| format!("{} {} {} {} {}", f.id, f.protocol, f.transport, f.client, f.server))
            })
            .collect();
        match self.sort {
            FlowSort::Id => {}
            FlowSort::Bytes => v.sort_by_key(|(_, f)| std::cmp::Reverse(f.bytes.0 + f.bytes.1)),
            FlowSort::Packets => v.sort_by_key(|(_, f)| std::cmp::Reverse(f.packets.0 + f.packets.1)),
            FlowSort::Duration => v.sort_by(|(_, a), (_, b)| b.duration_s.total_cmp(&a.duration_s)),
            FlowSort::Protocol => v.sort_by(|(_, a), (_, b)| a.protocol.cmp(&b.protocol)),
        }
        v.into_iter().map(|(i, _)| i).collect()
    }

    /// Indices into `model.events` of the visible events.
    pub fn visible_events(&self) -> Vec<usize> {
        self.model
            .events
            .iter()
            .enumerate()
            .filter(|(_, e)| {
                self.flow_filter.is_none_or(|f| e.flow == Some(f))
                    && self.matches(|| format!("{} {} {}", e.protocol, e.name, e.json))
            })
            .map(|(i, _)| i)
            .collect()
    }

    /// Indices into `model.latency` of the visible rows.
    pub fn visible_latency(&self) -> Vec<usize> {
        self.model
            .latency
            .iter()
            .enumerate()
            .filter(|(_, l)| self.matches(|| format!("{} {}", l.protocol, l.metric)))
            .map(|(i, _)| i)
            .collect()
    }

    /// Indices into `model.streams` of the visible rows.
    pub fn visible_streams(&self) -> Vec<usize> {
        self.model
            .streams
            .iter()
            .enumerate()
            .filter(|(_, x)| self.matches(|| format!("{} {} {} {}", x.kind, x.flow, x.id, x.codec)))
            .map(|(i, _)| i)
            .collect()
    }

    /// Indices into `model.lab` of the visible sessions.
    pub fn visible_lab(&self) -> Vec<usize> {
        self.model
            .lab
            .iter()
            .enumerate()
            .filter(|(_, x)| self.matches(|| format!("{} {} {}", x.protocol, x.flow, x.label)))
            .map(|(i, _)| i)
            .collect()
    }

    fn rows(&self) -> usize {
        match self.tab {
            Tab::Flows => self.visible_flows().len(),
            Tab::Timeline => self.visible_events().len(),
            Tab::Latency => self.visible_latency().len(),
            Tab::Streams => self.visible_streams().len(),
            Tab::Lab => self.visible_lab().len(),
        }
    }

    /// The selected row of the current view, kept within the visible rows.
    pub fn cursor(&self) -> usize {
        if self.follow && self.tab == Tab::Timeline {
            return self.rows().saturating_sub(1);
        }
        self.selected.get(self.tab.index()).copied().unwrap_or(0).min(self.rows().saturating_sub(1))
    }

    fn move_cursor(&mut self, to: isize) {
        self.follow = false;
        let last = self.rows().saturating_sub(1) as isize;
        if let Some(sel) = self.selected.get_mut(self.tab.index()) {
            *sel = to.clamp(0, last.max(0)) as usize;
        }
    }

    /// Applies one key.
    pub fn on_key(&mut self, key: KeyEvent) -> Action {
        self.message.clear();
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            return Action::Quit;
        }
        if self.editing_filter {
            match key.code {
                KeyCode::Enter => self.editing_filter = false,
                KeyCode::Esc => {
                    self.editing_filter = false;
                    self.filter.clear();
                }
                KeyCode::Backspace => {
                    self.filter.pop();
                }
                KeyCode::Char(c) => self.filter.push(c),
                _ => {}
            }
            self.selected = [0; 5];
            return Action::Continue;
        }
        if self.help {
            self.help = false;
            return if key.code == KeyCode::Char('q') { Action::Quit } else { Action::Continue };
        }
        let cur = self.cursor() as isize;
        let page = self.page.max(1) as isize;
        match key.code {
            KeyCode::Char('q') => return Action::Quit,
            KeyCode::Char('e') => return Action::Export(ExportFormat::Csv),
            KeyCode::Char('E') => return Action::Export(ExportFormat::Json),
            KeyCode::Char('w') => {
                return match self.current_flow() {
                    Some(f) => Action::WriteFlow(f),
                    None => {
                        self.message = "w: select a flow first".into();
                        Action::Continue
                    }
                }
            }
            KeyCode::Char('f') => {
                self.follow = !self.follow;
                if !self.follow {
                    // Pause where the view was.
                    self.move_cursor(cur);
                }
            }
            KeyCode::Char('?') => self.help = true,
            KeyCode::Char('1') => self.tab = Tab::Flows,
            KeyCode::Char('2') => self.tab = Tab::Timeline,
            KeyCode::Char('3') => self.tab = Tab::Latency,
            KeyCode::Char('4') => self.tab = Tab::Streams,
            KeyCode::Char('5') => self.tab = Tab::Lab,
            KeyCode::Tab => self.tab = self.tab.shifted(1),
            KeyCode::BackTab => self.tab = self.tab.shifted(Tab::ALL.len() - 1),
            KeyCode::Down | KeyCode::Char('j') => self.move_cursor(cur + 1),
            KeyCode::Up | KeyCode::Char('k') => self.move_cursor(cur - 1),
            KeyCode::PageDown => self.move_cursor(cur + page),
            KeyCode::PageUp => self.move_cursor(cur - page),
            KeyCode::Home | KeyCode::Char('g') => self.move_cursor(0),
            KeyCode::End | KeyCode::Char('G') => self.move_cursor(isize::MAX),
            KeyCode::Char('s') if self.tab == Tab::Flows => self.sort = self.sort.next(),
            KeyCode::Char('/') => {
                self.editing_filter = true;
                self.filter.clear();
            }
            KeyCode::Enter => match self.tab {
                Tab::Flows => {
                    let id =
                        self.visible_flows().get(self.cursor()).and_then(|&i| self.model.flows.get(i)).map(|f| f.id);
                    if let Some(id) = id {
                        self.flow_filter = Some(id);
                        self.filter.clear();
                        self.tab = Tab::Timeline;
                        self.move_cursor(0);
                    }
                }
                Tab::Timeline => {
                    self.detail = !self.visible_events().is_empty();
                    if let Some(n) = self.selected_frame().filter(|_| self.detail) {
                        if self.hex.as_ref().map(|(h, _)| *h) != Some(n) {
                            return Action::LoadFrame(n);
                        }
                    }
                }
                Tab::Lab => self.detail = !self.visible_lab().is_empty(),
                Tab::Latency | Tab::Streams => {}
            },
            KeyCode::Esc => {
                if self.detail {
                    self.detail = false;
                } else if self.flow_filter.is_some() {
                    self.flow_filter = None;
                    self.tab = Tab::Flows;
                } else {
                    self.filter.clear();
                }
            }
            _ => {}
        }
        if self.tab == Tab::Timeline && self.detail {
            // The hex pane follows the selection.
            if let Some(n) = self.selected_frame() {
                if self.hex.as_ref().map(|(h, _)| *h) != Some(n) {
                    return Action::LoadFrame(n);
                }
            }
        }
        Action::Continue
    }
}
