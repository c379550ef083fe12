//! `ryre log top`: live record rates per node and level, as a full-screen terminal view
//! (ratatui) or, with `--plain` or without a terminal, a table printed each second.

use std::collections::{BTreeMap, VecDeque};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{self, Event as TermEvent, KeyCode};
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Color, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Sparkline, Table};
use ryre_log::{Level, LogRecord};

use crate::log::{start_collector, stop_flag, TopArgs};
use crate::{CliError, CliResult};

/// Seconds of history kept for the sparklines.
const HISTORY: usize = 120;

/// Records per second, per node and level, over the last [`HISTORY`] seconds.
#[derive(Default)]
struct Rates {
    /// node name -> per-second counts (newest last), one array per second: index = level.
    nodes: BTreeMap<String, VecDeque<[u64; 6]>>,
    totals: BTreeMap<String, [u64; 6]>,
    newest: VecDeque<String>,
}

impl Rates {
    fn add(&mut self, rec: &LogRecord) {
        let h = self
            .nodes
            .entry(rec.name.clone())
            .or_insert_with(|| VecDeque::from(vec![[0; 6]]));
        if let Some(last) = h.back_mut() {
            last[rec.level as usize] += 1;
        }
        self.totals.entry(rec.name.clone()).or_default()[rec.level as usize] += 1;
        self.newest.push_back(ryre_log::text_line(rec));
        if self.newest.len() > 200 {
            self.newest.pop_front();
        }
    }

    /// Starts a new second.
    fn roll(&mut self) {
        for h in self.nodes.values_mut() {
            h.push_back([0; 6]);
            if h.len() > HISTORY {
                h.pop_front();
            }
        }
    }

    /// The last complete second's counts of `node`.
    fn last_second(h: &VecDeque<[u64; 6]>) -> [u64; 6] {
        h.iter().rev().nth(1).copied().unwrap_or([0; 6])
    }
}

/// Runs `ryre log top`.
pub fn run(a: TopArgs) -> CliResult {
    let stop = stop_flag()?;
    let col = start_collector(&a.filter, None, 0)?;
    let rx = col.listen(1_000_000);
    let deadline = a.for_secs.map(|d| Instant::now() + d);
    let tty = std::io::stdout().is_terminal() && !a.plain;
    let mut rates = Rates::default();
    let mut next_roll = Instant::now() + Duration::from_secs(1);
    let mut terminal = if tty { Some(ratatui::init()) } else { None };
    let result = (|| -> Result<(), CliError> {
        while !stop.load(Ordering::Relaxed) && deadline.is_none_or(|d| Instant::now() < d) {
            while let Ok(rec) = rx.try_recv() {
                rates.add(&rec);
            }
            if Instant::now() >= next_roll {
                next_roll += Duration::from_secs(1);
                rates.roll();
                if terminal.is_none() {
                    print_table(&rates);
                }
            }
            if let Some(t) = terminal.as_mut() {
                t.draw(|f| draw(f, &rates, col.endpoint()))
                    .map_err(CliError::runtime)?;
                if event::poll(Duration::from_millis(100)).map_err(CliError::runtime)? {
                    if let TermEvent::Key(k) = event::read().map_err(CliError::runtime)? {
                        if matches!(k.code, KeyCode::Char('q') | KeyCode::Esc) {
                            break;
                        }
                    }
                }
            } else if let Ok(rec) = rx.recv_timeout(Duration::from_millis(100)) {
                rates.add(&rec);
            }
        }
        Ok(())
    })();
    if terminal.take().is_some() {
        ratatui::restore();
    }
    result?;
    col.stop().map_err(|e| CliError::Runtime(e.to_string()))?;
    Ok(ExitCode::SUCCESS)
}

fn print_table(rates: &Rates) {
    let mut o = std::io::stdout().lock();
    let _ = writeln!(
        o,
        "{:<20} {:>8} {:>8} {:>8} {:>8} {:>8} {:>10}",
        "node", "error/s", "warn/s", "info/s", "debug/s", "trace/s", "total"
    );
    for (name, h) in &rates.nodes {
        let s = Rates::last_second(h);
        let total: u64 = rates.totals.get(name).map_or(0, |t| t.iter().sum());
        let _ = writeln!(
            o,
            "{:<20} {:>8} {:>8} {:>8} {:>8} {:>8} {:>10}",
            name, s[1], s[2], s[3], s[4], s[5], total
        );
    }
    let _ = o.flush();
}

fn level_colour(l: Level) -> Color {
    match l {
        Level::Error => Color::Red,
        Level::Warn => Color::Yellow,
        Level::Info => Color::Green,
        Level::Debug => Color::Blue,
        Level::Trace => Color::DarkGray,
    }
}

fn draw(f: &mut ratatui::Frame<'_>, rates: &Rates, endpoint: &str) {
    let n = rates.nodes.len().max(1) as u16;
    let [head, table, sparks, newest] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(n + 3),
        Constraint::Length(n * 3 + 2),
        Constraint::Min(3),
    ])
    .areas(f.area());
    f.render_widget(
        Paragraph::new(format!(
            "ryre log top: records per second by node and level (collector at {endpoint}; q quits)"
        )),
        head,
    );
    let header = Row::new(
        std::iter::once(Cell::from("node")).chain(
            Level::ALL
                .iter()
                .map(|l| Cell::from(l.as_str()).style(Style::default().fg(level_colour(*l)))),
        ),
    );
    let rows: Vec<Row> = rates
        .nodes
        .iter()
        .map(|(name, h)| {
            let s = Rates::last_second(h);
            Row::new(
                std::iter::once(Cell::from(name.clone()))
                    .chain((1..=5).map(|i| Cell::from(s[i].to_string()))),
            )
        })
        .collect();
    let widths = [Constraint::Length(20); 6];
    f.render_widget(
        Table::new(rows, widths)
            .header(header)
            .block(Block::default().borders(Borders::ALL).title("last second")),
        table,
    );
    let block = Block::default()
        .borders(Borders::ALL)
        .title("records/s, last two minutes");
    let inner = block.inner(sparks);
    f.render_widget(block, sparks);
    let rows = Layout::vertical(vec![Constraint::Length(3); rates.nodes.len().max(1)]).split(inner);
    for ((name, h), area) in rates.nodes.iter().zip(rows.iter()) {
        let data: Vec<u64> = h.iter().map(|s| s.iter().sum()).collect();
        let worst = Level::ALL
            .iter()
            .find(|l| h.iter().any(|s| s[**l as usize] > 0))
            .copied()
            .unwrap_or(Level::Info);
        f.render_widget(
            Sparkline::default()
                .block(Block::default().title(name.clone()))
                .data(&data)
                .style(Style::default().fg(level_colour(worst))),
            *area,
        );
    }
    let lines: Vec<Line> = rates
        .newest
        .iter()
        .rev()
        .take(newest.height as usize)
        .map(|l| Line::from(l.clone()))
        .collect();
    f.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title("newest")),
        newest,
    );
}
