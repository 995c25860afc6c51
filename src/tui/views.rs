//! Drawing: one function per view plus the tab bar, status bar and help overlay. Reads the
//! [`State`] only.

use super::state::{State, Tab};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Table, TableState, Tabs, Wrap};
use ratatui::Frame;

/// Every key the UI knows, for the help overlay and the README.
pub const KEYS: &[(&str, &str)] = &[
    ("1-5, Tab, Shift-Tab", "switch view (Flows, Timeline, Latency, Streams, Lab)"),
    ("↑ ↓ / j k", "move the selection"),
    ("PgUp PgDn, Home End / g G", "page, first, last"),
    ("Enter", "Flows: the flow's timeline; Timeline: the event's fields; Lab: how each number is computed"),
    ("Esc", "close the detail, leave the flow's timeline, clear the filter"),
    ("/", "filter rows by text (protocol, host, port, event); Enter keeps, Esc clears"),
    ("s", "Flows: cycle the sort (first seen, bytes, packets, duration, protocol)"),
    ("f", "Timeline: follow the newest event as it arrives / pause"),
    ("e, E", "export the view's rows as CSV / JSON (streamscope-VIEW.csv/.json in the current directory)"),
    ("w", "write the selected flow's packets to streamscope-flowN.pcapng (re-read from the file)"),
    ("mouse", "wheel scrolls, click selects a row"),
    ("?", "this help"),
    ("q, Ctrl-C", "quit"),
];

fn highlight(no_color: bool) -> Style {
    if no_color {
        Style::default().add_modifier(Modifier::REVERSED)
    } else {
        Style::default().add_modifier(Modifier::REVERSED | Modifier::BOLD)
    }
}

/// Human byte count (B, KiB, MiB, GiB).
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS.get(u).unwrap_or(&"GiB"))
    }
}

/// The ASCII stand-in for a drawing or text symbol, for terminals whose locale is not UTF-8.
pub fn ascii_symbol(sym: &str) -> &str {
    if sym.is_ascii() {
        return sym;
    }
    match sym {
        "─" | "━" => "-",
        "│" | "┃" | "·" => "|",
        "┌" | "┐" | "└" | "┘" | "├" | "┤" | "┬" | "┴" | "┼" => "+",
        "▶" | "→" | "▾" => ">",
        "◀" | "←" => "<",
        "▏" => "_",
        "▁" => ".",
        "▂" => ",",
        "▃" => "-",
        "▄" => "=",
        "▅" => "+",
        "▆" => "*",
        "▇" => "#",
        "█" => "@",
        "…" => "~",
        _ => "?",
    }
}

/// Draws the whole screen; with `ascii`, every symbol is replaced by its ASCII stand-in.
pub fn draw_ascii(frame: &mut Frame, st: &mut State, no_color: bool) {
    draw(frame, st, no_color);
    let buf = frame.buffer_mut();
    for cell in buf.content.iter_mut() {
        let sym = ascii_symbol(cell.symbol());
        if sym != cell.symbol() {
            let sym = sym.to_string();
            cell.set_symbol(&sym);
        }
    }
}

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, st: &mut State, no_color: bool) {
    let [tabs, body, status] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(3), Constraint::Length(1)]).areas(frame.area());
    let sel = Tab::ALL.iter().position(|t| *t == st.tab).unwrap_or(0);
    frame.render_widget(
        Tabs::new(Tab::ALL.iter().map(|t| t.title())).select(sel).highlight_style(highlight(no_color)),
        tabs,
    );
    // Table header and borders take three rows.
    st.page = usize::from(body.height.saturating_sub(3)).max(1);
    match st.tab {
        Tab::Flows => flows(frame, st, body, no_color),
        Tab::Timeline => timeline(frame, st, body, no_color),
        Tab::Latency => latency(frame, st, body, no_color),
        Tab::Streams => streams(frame, st, body, no_color),
        Tab::Lab => lab(frame, st, body, no_color),
    }
    status_bar(frame, st, status);
    if st.help {
        help(frame, frame.area());
    }
}

fn table_state(st: &State) -> TableState {
    TableState::default().with_selected(Some(st.cursor()))
}

/// The slice of `total` rows a table of `area` shows: it keeps the selection in view, moving
/// as little as possible from the last draw, so only the rows on screen are ever built (a
/// capture with 500 000 flows draws as fast as one with 50).
fn window(st: &State, total: usize, area: Rect) -> (usize, usize) {
    let fit = usize::from(area.height.saturating_sub(3)).max(1);
    let cur = st.cursor();
    let mut off = st.table_offset.min(total.saturating_sub(1));
    if cur < off {
        off = cur;
    }
    if cur >= off + fit {
        off = cur + 1 - fit;
    }
    (off, (off + fit).min(total))
}

/// Draws a table whose rows are the window starting at `off` (see [`window`]).
fn render_window(frame: &mut Frame, st: &mut State, table: Table, area: Rect, off: usize) {
    let mut ts = TableState::default().with_selected(Some(st.cursor().saturating_sub(off)));
    frame.render_stateful_widget(table, area, &mut ts);
    st.table_offset = off + ts.offset();
    st.table_top = area.y.saturating_add(2);
}

/// Draws the view's main table and remembers where its rows landed (for mouse clicks).
fn render_table(frame: &mut Frame, st: &mut State, table: Table, area: Rect) {
    let mut ts = table_state(st);
    frame.render_stateful_widget(table, area, &mut ts);
    st.table_offset = ts.offset();
    // Border and header rows come first.
    st.table_top = area.y.saturating_add(2);
}

fn flows(frame: &mut Frame, st: &mut State, area: Rect, no_color: bool) {
    let visible = st.visible_flows();
    let count = visible.len();
    let (off, end) = window(st, count, area);
    let rows: Vec<Row> = visible
        .get(off..end)
        .unwrap_or(&[])
        .iter()
        .filter_map(|&i| st.model.flows.get(i))
        .map(|f| {
            Row::new(vec![
                Cell::from(f.id.to_string()),
                Cell::from(f.protocol.clone()),
                Cell::from(f.transport.clone()),
                Cell::from(format!("{} → {}", f.client, f.server)),
                Cell::from(format!("{}/{}", f.packets.0, f.packets.1)),
                Cell::from(format!("{}/{}", bytes(f.bytes.0), bytes(f.bytes.1))),
                Cell::from(format!("{:.3}", f.duration_s)),
                Cell::from(if f.anomalies > 0 { format!("!{}", f.anomalies) } else { String::new() }),
            ])
        })
        .collect();
    let widths = [
        Constraint::Length(7),
        Constraint::Length(9),
        Constraint::Length(4),
        Constraint::Min(24),
        Constraint::Length(11),
        Constraint::Length(19),
        Constraint::Length(8),
        Constraint::Length(3),
    ];
    let header = Row::new(["id", "protocol", "l4", "client → server", "pkts c/s", "bytes c/s", "dur s", "!"])
        .style(Style::default().add_modifier(Modifier::BOLD));
    let title = format!(" Flows ({count}) sorted by {} ", st.sort.label());
    let table = Table::new(rows, widths)
        .header(header)
        .block(Block::default().borders(Borders::ALL).title(title))
        .row_highlight_style(highlight(no_color));
    render_window(frame, st, table, area, off);
}

fn timeline(frame: &mut Frame, st: &mut State, area: Rect, no_color: bool) {
    let visible = st.visible_events();
    let (list_area, detail_area) = if st.detail {
        let [a, b] = Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(area);
        (a, Some(b))
    } else {
        (area, None)
    };
    let (off, end) = window(st, visible.len(), list_area);
    let rows: Vec<Row> = visible
        .get(off..end)
        .unwrap_or(&[])
        .iter()
        .filter_map(|&i| st.model.events.get(i))
        .map(|e| {
            // Sequence view: the arrow points from the side that sent.
            let arrow = match e.dir {
                "c2s" => "C ──▶ S",
                "s2c" => "C ◀── S",
                _ => "",
            };
            Row::new(vec![
                Cell::from(format!("{:.6}", e.rel_s)),
                Cell::from(e.flow.map(|f| f.to_string()).unwrap_or_default()),
                Cell::from(e.protocol.clone()),
                Cell::from(arrow),
                Cell::from(e.name.clone()),
                Cell::from(e.latency_ms.map(|l| format!("{l:.3} ms")).unwrap_or_default()),
            ])
        })
        .collect();
    let widths = [
        Constraint::Length(12),
        Constraint::Length(5),
        Constraint::Length(7),
        Constraint::Length(7),
        Constraint::Min(16),
        Constraint::Length(12),
    ];
    let header = Row::new(["time s", "flow", "proto", "C  S", "event", "latency"])
        .style(Style::default().add_modifier(Modifier::BOLD));
    let scope = st.flow_filter.map(|f| format!(" of flow {f}")).unwrap_or_default();
    let mut title = format!(" Timeline{scope} ({} events) ", visible.len());
    if st.model.events_dropped > 0 {
        let top: Vec<String> = st.model.dropped_by_name.iter().take(3).map(|(n, c)| format!("{n} {c}")).collect();
        let more = if st.model.dropped_by_name.len() > 3 { ", …" } else { "" };
        title.push_str(&format!("· {} not kept (--max-events): {}{more} ", st.model.events_dropped, top.join(", ")));
    }
    let table = Table::new(rows, widths)
        .header(header)
        .block(Block::default().borders(Borders::ALL).title(title))
        .row_highlight_style(highlight(no_color));
    render_window(frame, st, table, list_area, off);
    let selected = visible.get(st.cursor()).and_then(|&i| st.model.events.get(i));
    if let (Some(area), Some(e)) = (detail_area, selected) {
        let [fields_area, hex_area] = Layout::horizontal([Constraint::Min(30), Constraint::Length(79)]).areas(area);
        let p = Paragraph::new(tree(&e.json))
            .wrap(Wrap { trim: false })
            .block(Block::default().borders(Borders::ALL).title(" Event fields (Esc closes) "));
        frame.render_widget(p, fields_area);
        let frame_no = e.json.get("frame").and_then(serde_json::Value::as_u64);
        let (title, lines) = match (&st.hex, frame_no) {
            (Some((n, Ok(bytes))), Some(f)) if *n == f => (
                format!(" Frame {n}: {} bytes ", bytes.len()),
                crate::capture::extract::hex_dump(bytes).into_iter().map(Line::from).collect(),
            ),
            (Some((n, Err(why))), Some(f)) if *n == f => (format!(" Frame {n} "), vec![Line::from(why.clone())]),
            (_, Some(f)) => (format!(" Frame {f} "), vec![Line::from("reading…")]),
            (_, None) => (" Bytes ".to_string(), vec![Line::from("this event has no frame")]),
        };
        frame.render_widget(Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(title)), hex_area);
    }
}

fn latency(frame: &mut Frame, st: &mut State, area: Rect, no_color: bool) {
    let rows: Vec<Row> = st
        .visible_latency()
        .into_iter()
        .filter_map(|i| st.model.latency.get(i))
        .map(|l| {
            Row::new(vec![
                Cell::from(l.protocol.clone()),
                Cell::from(l.metric.clone()),
                Cell::from(l.count.to_string()),
                Cell::from(format!("{:.3}", l.min)),
                Cell::from(format!("{:.3}", l.median)),
                Cell::from(format!("{:.3}", l.p95)),
                Cell::from(format!("{:.3}", l.max)),
                Cell::from(spread(l.min, l.median, l.p95, l.max)),
            ])
        })
        .collect();
    let widths = [
        Constraint::Length(8),
        Constraint::Min(22),
        Constraint::Length(6),
        Constraint::Length(10),
        Constraint::Length(10),
        Constraint::Length(10),
        Constraint::Length(10),
        Constraint::Length(12),
    ];
    let header = Row::new(["protocol", "metric", "n", "min ms", "median", "p95", "max", "min…max"])
        .style(Style::default().add_modifier(Modifier::BOLD));
    let table = Table::new(rows, widths)
        .header(header)
        .block(Block::default().borders(Borders::ALL).title(" Latency "))
        .row_highlight_style(highlight(no_color));
    render_table(frame, st, table, area);
}

/// An event's fields as an indented tree (objects and lists open under their key), like
/// Wireshark's packet details.
pub fn tree(v: &serde_json::Value) -> Vec<Line<'static>> {
    fn walk(key: &str, v: &serde_json::Value, depth: usize, out: &mut Vec<Line<'static>>) {
        let pad = "  ".repeat(depth);
        match v {
            serde_json::Value::Object(m) => {
                if !key.is_empty() {
                    out.push(Line::from(format!("{pad}▾ {key}")));
                }
                for (k, x) in m {
                    walk(k, x, depth + usize::from(!key.is_empty()), out);
                }
            }
            serde_json::Value::Array(a) if a.iter().any(|x| x.is_object() || x.is_array()) => {
                out.push(Line::from(format!("{pad}▾ {key} [{}]", a.len())));
                for (i, x) in a.iter().enumerate() {
                    walk(&i.to_string(), x, depth + 1, out);
                }
            }
            other => out.push(Line::from(format!("{pad}{key}: {other}"))),
        }
    }
    let mut out = Vec::new();
    walk("", v, 0, &mut out);
    out
}

/// A one-line chart of `values` scaled to their maximum, at most `width` cells (the last ones).
pub fn sparkline(values: &[f64], width: usize) -> String {
    const LEVELS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let tail = values.get(values.len().saturating_sub(width)..).unwrap_or(values);
    let max = tail.iter().copied().fold(0.0f64, f64::max);
    tail.iter()
        .map(|v| {
            if max <= 0.0 || *v <= 0.0 {
                ' '
            } else {
                let i = ((v / max) * (LEVELS.len() - 1) as f64).round() as usize;
                LEVELS.get(i.min(LEVELS.len() - 1)).copied().unwrap_or('█')
            }
        })
        .collect()
}

fn opt_ms(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_string(), |x| format!("{x:.3}"))
}

fn streams(frame: &mut Frame, st: &mut State, area: Rect, no_color: bool) {
    let visible = st.visible_streams();
    let [top, bottom] = Layout::vertical([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(area);
    let rows: Vec<Row> = visible
        .iter()
        .filter_map(|&i| st.model.streams.get(i))
        .map(|x| {
            Row::new(vec![
                Cell::from(x.kind.clone()),
                Cell::from(x.flow.to_string()),
                Cell::from(x.id.clone()),
                Cell::from(x.codec.clone()),
                Cell::from(opt_ms(x.kbps)),
                Cell::from(x.lost.map(|l| l.to_string()).unwrap_or_default()),
                Cell::from(opt_ms(x.jitter_ms)),
                Cell::from(sparkline(&x.series, 16)),
            ])
        })
        .collect();
    let widths = [
        Constraint::Length(5),
        Constraint::Length(5),
        Constraint::Min(18),
        Constraint::Length(8),
        Constraint::Length(9),
        Constraint::Length(6),
        Constraint::Length(9),
        Constraint::Length(16),
    ];
    let header = Row::new(["kind", "flow", "stream", "codec", "kbps", "lost", "jitter", "bitrate"])
        .style(Style::default().add_modifier(Modifier::BOLD));
    let table = Table::new(rows, widths)
        .header(header)
        .block(Block::default().borders(Borders::ALL).title(format!(" Streams ({}) ", visible.len())))
        .row_highlight_style(highlight(no_color));
    render_table(frame, st, table, top);
    let Some(x) = visible.get(st.cursor()).and_then(|&i| st.model.streams.get(i)) else { return };
    let w = usize::from(bottom.width.saturating_sub(16)).max(1);
    let max = |v: &[f64]| v.iter().copied().fold(0.0f64, f64::max);
    let mut lines = Vec::new();
    let unit = if x.kind == "hls" {
        "download % of segment duration, per segment".to_string()
    } else {
        format!("kbit/s, {} s per point", x.width_s)
    };
    lines.push(Line::from(format!("{} {} — {unit}", x.kind, x.id)));
    lines.push(Line::from(format!("{:>12}  {}", format!("≤{:.0}", max(&x.series)), sparkline(&x.series, w))));
    if !x.loss_series.is_empty() {
        lines.push(Line::from(format!("lost per point (max {:.0})", max(&x.loss_series))));
        lines.push(Line::from(format!("{:>12}  {}", "", sparkline(&x.loss_series, w))));
    }
    if !x.jitter_series.is_empty() {
        lines.push(Line::from(format!("jitter ms (max {:.3})", max(&x.jitter_series))));
        lines.push(Line::from(format!("{:>12}  {}", "", sparkline(&x.jitter_series, w))));
    }
    frame.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(" Over time (latest at the right) ")),
        bottom,
    );
}

/// A bar for a phase starting at `start` lasting `dur` on an axis of `total` ms over `width`
/// cells: spaces before, `█` during (at least one cell).
pub fn phase_bar(start: f64, dur: f64, total: f64, width: usize) -> String {
    if width == 0 {
        return String::new();
    }
    let scale = if total > 0.0 { width as f64 / total } else { 0.0 };
    let a = ((start * scale).floor() as usize).min(width - 1);
    let len = ((dur * scale).round() as usize).clamp(1, width - a);
    format!("{}{}", " ".repeat(a), "█".repeat(len))
}

fn lab(frame: &mut Frame, st: &mut State, area: Rect, no_color: bool) {
    let visible = st.visible_lab();
    let [top, bottom] = Layout::vertical([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(area);
    let rows: Vec<Row> = visible
        .iter()
        .filter_map(|&i| st.model.lab.get(i))
        .map(|x| {
            let mut cells =
                vec![Cell::from(x.protocol.clone()), Cell::from(x.flow.to_string()), Cell::from(x.label.clone())];
            cells.extend(x.metrics.iter().map(|m| Cell::from(opt_ms(*m))));
            Row::new(cells)
        })
        .collect();
    let widths = [
        Constraint::Length(6),
        Constraint::Length(5),
        Constraint::Min(16),
        Constraint::Length(11),
        Constraint::Length(10),
        Constraint::Length(10),
        Constraint::Length(9),
    ];
    let header = Row::new(["proto", "flow", "session", "1st media", "control", "delivery", "jitter"])
        .style(Style::default().add_modifier(Modifier::BOLD));
    let table = Table::new(rows, widths)
        .header(header)
        .block(Block::default().borders(Borders::ALL).title(format!(" Lab: sessions ({}), ms ", visible.len())))
        .row_highlight_style(highlight(no_color));
    render_table(frame, st, table, top);
    let selected = visible.get(st.cursor()).and_then(|&i| st.model.lab.get(i));
    let [left, right] = Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(bottom);
    if let Some(x) = selected {
        let total = x.phases.iter().map(|(_, a, d)| a + d).fold(0.0f64, f64::max);
        let bar_w = usize::from(left.width.saturating_sub(30)).max(4);
        let mut lines: Vec<Line> = x
            .phases
            .iter()
            .map(|(n, a, d)| Line::from(format!("{n:<18.18} {} {d:.3}", phase_bar(*a, *d, total, bar_w))))
            .collect();
        if lines.is_empty() {
            lines.push(Line::from("no phases"));
        }
        let title = format!(" Phases of {} flow {} over {total:.3} ms ", x.protocol, x.flow);
        frame.render_widget(Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(title)), left);
        if st.detail {
            let lines: Vec<Line> = x
                .explain
                .iter()
                .map(|(k, f, fr)| {
                    let frames: Vec<String> = fr.iter().map(u64::to_string).collect();
                    let refs =
                        if frames.is_empty() { String::new() } else { format!(" [frames {}]", frames.join(", ")) };
                    Line::from(format!("{k}: {f}{refs}"))
                })
                .collect();
            frame.render_widget(
                Paragraph::new(lines)
                    .wrap(Wrap { trim: false })
                    .block(Block::default().borders(Borders::ALL).title(" How (Esc closes) ")),
                right,
            );
            return;
        }
    }
    let rows: Vec<Row> = st
        .model
        .pipeline
        .iter()
        .map(|r| {
            Row::new(vec![
                Cell::from(r.delivery.clone()),
                Cell::from(r.unit.rsplit('/').next().unwrap_or("").to_string()),
                Cell::from(format!("{:.3}", r.media_s)),
                Cell::from(format!("{:.3}", r.latency_ms)),
                Cell::from(r.hold_ms.map_or_else(String::new, |h| format!("{h:.3}"))),
            ])
        })
        .collect();
    let widths = [
        Constraint::Length(5),
        Constraint::Min(8),
        Constraint::Length(8),
        Constraint::Length(9),
        Constraint::Length(8),
    ];
    let header =
        Row::new(["via", "unit", "media s", "latency", "hold"]).style(Style::default().add_modifier(Modifier::BOLD));
    let title = format!(" Pipeline: ingest → delivery ({}), ms ", st.model.pipeline.len());
    frame.render_widget(
        Table::new(rows, widths).header(header).block(Block::default().borders(Borders::ALL).title(title)),
        right,
    );
}

/// A 10-cell bar from min to max with the median (`|`) and p95 (`^`) marked.
pub fn spread(min: f64, median: f64, p95: f64, max: f64) -> String {
    const W: usize = 10;
    let mut cells = vec!['─'; W];
    let span = max - min;
    let at = |v: f64| if span > 0.0 { (((v - min) / span) * (W - 1) as f64).round() as usize } else { 0 };
    for (v, mark) in [(p95, '^'), (median, '|')] {
        if let Some(c) = cells.get_mut(at(v).min(W - 1)) {
            *c = mark;
        }
    }
    cells.into_iter().collect()
}

fn status_bar(frame: &mut Frame, st: &State, area: Rect) {
    let m = &st.model;
    let mut spans = vec![Span::raw(format!(
        " {}{} · {} packets · {} flows · {} malformed",
        m.source,
        if m.progress.is_empty() { String::new() } else { format!(" ({})", m.progress) },
        m.packets,
        m.flows.len(),
        m.malformed
    ))];
    if let Some(d) = m.drops {
        spans.push(Span::raw(format!(" · {d} dropped")));
    }
    if st.editing_filter {
        spans.push(Span::raw(format!(" · filter: {}▏", st.filter)));
    } else if !st.filter.is_empty() {
        spans.push(Span::raw(format!(" · filter: {}", st.filter)));
    }
    if let Some(w) = &m.warning {
        spans.push(Span::raw(format!(" · warning: {w}")));
    }
    if st.follow {
        spans.push(Span::raw(" · following"));
    }
    if !st.message.is_empty() {
        spans.push(Span::raw(format!(" · {}", st.message)));
    }
    spans.push(Span::raw(" · ? help, q quit"));
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn help(frame: &mut Frame, area: Rect) {
    let w = area.width.min(78);
    let h = (KEYS.len() as u16 + 2).min(area.height);
    let r = Rect { x: area.x + (area.width - w) / 2, y: area.y + (area.height - h) / 2, width: w, height: h };
    let lines: Vec<Line> = KEYS.iter().map(|(k, what)| Line::from(format!("{k:<26} {what}"))).collect();
    frame.render_widget(Clear, r);
    frame.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(" Keys (any key closes) ")),
        r,
    );
}
