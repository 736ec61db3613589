//! `qmgr monitor`: a live table of the queue's groups (the `bitsadmin /monitor` counterpart).

use crate::exit::{CmdResult, Exit};
use crate::queue::QueueTarget;
use crate::show::{background_json, background_text, one_line, summaries, Summary};
use crate::watch::{duration_text, install_interrupt_handler, interrupted};
use indicatif::HumanBytes;
use qmgr_rs::model::GroupState;
use qmgr_rs::Guid;
use serde_json::json;
use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Characters of the progress bar between its brackets.
const BAR_WIDTH: usize = 20;
/// Characters of the name column (longer names are cut with `…`).
const NAME_WIDTH: usize = 24;
/// Characters of the background status line at most (longer ones are cut with `…`).
const LINE_WIDTH: usize = 80;

/// `qmgr monitor [--interval MS] [--count N] [--json]`: shows the groups every `interval`
/// until Ctrl-C (or SIGTERM) or `count` refreshes, then exits 0.
///
/// * On a terminal the table is redrawn in place.
/// * Otherwise each refresh prints the table again, followed by an empty line.
/// * Under the header, the queue's background status (`background: idle, …`; DECISIONS D14).
/// * `--json`: one line per refresh, `{"time_ms": …, "background": {…}, "groups": [ …list
///   objects… ]}`.
///
/// The queue stays open meanwhile, so RUNNING groups transfer while no other process serves
/// the queue (DECISIONS D10). A closed standard output (e.g. `| head`) ends it too.
pub fn monitor(target: &QueueTarget, interval: Duration, count: Option<u64>, as_json: bool) -> CmdResult {
    install_interrupt_handler();
    let queue = target.open()?;
    let in_place = !as_json && std::io::stdout().is_terminal();
    let width = table_width(in_place);
    let mut out = std::io::stdout().lock();
    let mut refreshes = 0;
    let mut before: HashMap<Guid, u64> = HashMap::new();
    let mut last = Instant::now();
    loop {
        let rows = summaries(&queue)?;
        let now = Instant::now();
        let moving: Vec<(Summary, Motion)> = rows
            .into_iter()
            .map(|r| {
                let m = Motion::between(before.get(&r.id).copied(), now - last, &r);
                (r, m)
            })
            .collect();
        before = moving.iter().map(|(r, _)| (r.id, r.done)).collect();
        last = now;
        let background = queue.manager.background_status();
        let text = if as_json {
            let groups: Vec<_> = moving.iter().map(|(r, _)| r.json()).collect();
            let line = json!({"time_ms": unix_ms(), "background": background_json(&background), "groups": groups});
            format!("{line}\n")
        } else {
            let header = format!(
                "qmgr monitor: queue {}, {} group{}, every {} ms (Ctrl-C to stop)",
                queue.dir.display(),
                moving.len(),
                if moving.len() == 1 { "" } else { "s" },
                interval.as_millis()
            );
            let table = table(&header, &background_text(&background), &moving, width);
            if in_place {
                // Home, each line cleared to its end, then everything below cleared.
                let first = if refreshes == 0 { "\x1b[2J" } else { "" };
                format!("{first}\x1b[H{}\x1b[J", table.replace('\n', "\x1b[K\n"))
            } else {
                format!("{table}\n")
            }
        };
        if out.write_all(text.as_bytes()).and_then(|()| out.flush()).is_err() {
            break;
        }
        refreshes += 1;
        if count.is_some_and(|c| refreshes >= c) || sleep_unless_interrupted(interval) {
            break;
        }
    }
    Ok(Exit::Success)
}

/// Sleeps `d`, waking early when an interrupt arrives; true when one did.
fn sleep_unless_interrupted(d: Duration) -> bool {
    let until = Instant::now() + d;
    while !interrupted() {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
    true
}

/// Columns of the table: the terminal's width when drawing on one, else `$COLUMNS`, else 80.
fn table_width(terminal: bool) -> usize {
    let from_terminal =
        terminal.then(|| rustix::termios::tcgetwinsize(std::io::stdout()).ok().map(|w| w.ws_col as usize)).flatten();
    from_terminal
        .or_else(|| std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()))
        .filter(|&w| w >= 40)
        .unwrap_or(80)
}

fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// A column of the table: its title, its narrowest and widest width.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Column {
    Group,
    Name,
    State,
    Bytes,
    Percent,
    Rate,
    Eta,
    Progress,
}

/// The columns in the order they are given room when the table is narrower than all of
/// them (the rest are dropped); they are shown in [`Column::SHOWN`] order.
const PRIORITY: [Column; 8] = [
    Column::Group,
    Column::State,
    Column::Percent,
    Column::Rate,
    Column::Eta,
    Column::Name,
    Column::Bytes,
    Column::Progress,
];

/// Characters of a GUID shortened to fit (`1a2b3c4d…`), when its 38 do not.
const SHORT_GUID: usize = 9;

impl Column {
    const SHOWN: [Column; 8] = [
        Column::Group,
        Column::Name,
        Column::State,
        Column::Bytes,
        Column::Percent,
        Column::Rate,
        Column::Eta,
        Column::Progress,
    ];

    fn title(self) -> &'static str {
        match self {
            Column::Group => "GROUP",
            Column::Name => "NAME",
            Column::State => "STATE",
            Column::Bytes => "BYTES",
            Column::Percent => "%",
            Column::Rate => "RATE",
            Column::Eta => "ETA",
            Column::Progress => "PROGRESS",
        }
    }

    /// Narrowest and widest width; `bytes` is the widest BYTES cell.
    fn widths(self, bytes: usize) -> (usize, usize) {
        match self {
            Column::Group => (SHORT_GUID, 38),
            Column::Name => (8, NAME_WIDTH),
            Column::State => (9, 9),
            Column::Bytes => (bytes, bytes),
            Column::Percent => (4, 4),
            Column::Rate => (11, 11),
            Column::Eta => (7, 7),
            Column::Progress => (BAR_WIDTH + 2, BAR_WIDTH + 2),
        }
    }
}

/// The width of each shown column for a table `width` characters wide: columns are taken in
/// [`PRIORITY`] order at their narrowest while they fit (two spaces between columns), then
/// the room left widens the GROUP (to its whole GUID) and then the NAME.
fn layout(width: usize, bytes: usize) -> Vec<(Column, usize)> {
    let mut chosen: Vec<(Column, usize)> = Vec::new();
    let mut used = 0;
    for c in PRIORITY {
        let (min, _) = c.widths(bytes);
        let need = min + if chosen.is_empty() { 0 } else { 2 };
        if used + need <= width {
            chosen.push((c, min));
            used += need;
        }
    }
    for grow in [Column::Group, Column::Name] {
        if let Some(entry) = chosen.iter_mut().find(|(c, _)| *c == grow) {
            let (min, max) = grow.widths(bytes);
            let extra = (max - min).min(width - used);
            entry.1 += extra;
            used += extra;
        }
    }
    Column::SHOWN.iter().filter_map(|s| chosen.iter().find(|(c, _)| c == s).copied()).collect()
}

/// What the table shows of a group besides its summary: bytes per second over the last
/// refresh and the time left at that rate (`None` when unknown).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Motion {
    /// Bytes per second.
    pub rate: Option<f64>,
    /// Time left at that rate.
    pub eta: Option<Duration>,
}

impl Motion {
    /// From the bytes done at the last refresh (`before`, `elapsed` ago) and now.
    fn between(before: Option<u64>, elapsed: Duration, now: &Summary) -> Motion {
        let Some(before) = before.filter(|_| now.state == GroupState::Running && !elapsed.is_zero()) else {
            return Motion::default();
        };
        let rate = now.done.saturating_sub(before) as f64 / elapsed.as_secs_f64();
        let eta = now
            .total
            .filter(|_| rate > 0.0)
            .and_then(|t| Duration::try_from_secs_f64(t.saturating_sub(now.done) as f64 / rate).ok());
        Motion { rate: Some(rate), eta }
    }
}

/// The header, the background status line, the column titles and one line per group, each
/// line ending in `\n`, every line at most `width` characters (columns are dropped or
/// narrowed to fit; see [`layout`]). Under the table a note says when GUIDs were shortened.
fn table(header: &str, background: &str, rows: &[(Summary, Motion)], width: usize) -> String {
    let sizes: Vec<String> = rows
        .iter()
        .map(|(r, _)| format!("{}/{}", HumanBytes(r.done), r.total.map_or("?".into(), |t| HumanBytes(t).to_string())))
        .collect();
    let cols = layout(width, sizes.iter().map(|s| s.chars().count()).chain([5]).max().unwrap_or(5));
    let line = |cells: Vec<String>| -> String {
        let text: Vec<String> = cols
            .iter()
            .zip(cells)
            .map(|(&(c, w), cell)| match c {
                Column::Bytes | Column::Percent | Column::Rate | Column::Eta => format!("{cell:>w$}"),
                _ => format!("{:<w$}", cut(&cell, w)),
            })
            .collect();
        format!("{}\n", text.join("  ").trim_end())
    };
    let mut t = format!("{}\n", cut(header, width));
    t += &format!("{}\n", cut(&format!("background: {background}"), width.min(LINE_WIDTH)));
    t += &line(cols.iter().map(|(c, _)| c.title().to_string()).collect());
    let mut shortened = false;
    for ((r, m), size) in rows.iter().zip(&sizes) {
        let cells = cols
            .iter()
            .map(|&(c, w)| match c {
                Column::Group => {
                    let id = r.id.to_string();
                    if w < id.len() {
                        shortened = true;
                        format!("{}…", &id[1..SHORT_GUID])
                    } else {
                        id
                    }
                }
                Column::Name => one_line(&r.display_name),
                Column::State => r.state.name().to_string(),
                Column::Bytes => size.clone(),
                Column::Percent => format!("{}%", r.percent),
                Column::Rate => m.rate.map_or("-".into(), |b| format!("{}/s", HumanBytes(b as u64))),
                Column::Eta => m.eta.map_or("-".into(), duration_text),
                Column::Progress => bar(r.percent),
            })
            .collect();
        t += &line(cells);
    }
    if rows.is_empty() {
        t += "(no groups)\n";
    }
    if shortened {
        t += &format!("{}\n", cut("(GUIDs shortened to fit: `qmgr list` shows them whole)", width));
    }
    t
}

/// `s` cut to `n` characters, the last one `…` when cut.
fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n - 1).chain(['…']).collect()
    }
}

/// `[=========>          ]` for `percent` (0-100).
fn bar(percent: u32) -> String {
    let filled = (percent.min(100) as usize * BAR_WIDTH) / 100;
    let head = if filled < BAR_WIDTH && filled > 0 { ">" } else { "" };
    let body = "=".repeat(filled.saturating_sub(head.len()));
    format!("[{body}{head}{}]", " ".repeat(BAR_WIDTH - body.len() - head.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_and_cuts() {
        assert_eq!(bar(0), format!("[{}]", " ".repeat(20)));
        assert_eq!(bar(50), format!("[{}>{}]", "=".repeat(9), " ".repeat(10)));
        assert_eq!(bar(100), format!("[{}]", "=".repeat(20)));
        assert_eq!(bar(250), bar(100));
        assert_eq!(cut("short", 24), "short");
        assert_eq!(cut("abcdef", 4), "abc…");
    }

    fn row(done: u64, total: Option<u64>) -> Summary {
        Summary::for_test(Guid::generate(), GroupState::Running, done, total, "a rather long display name")
    }

    #[test]
    fn rows_fit_the_width_dropping_and_narrowing_columns() {
        let rows = vec![
            (row(1 << 20, Some(4 << 20)), Motion { rate: Some(1048576.0), eta: Some(Duration::from_secs(3)) }),
            (row(5, None), Motion::default()),
        ];
        for width in [40, 60, 80, 100, 120, 160] {
            let t = table("qmgr monitor: queue /somewhere/rather/long/to/be/cut/at/forty", "idle", &rows, width);
            for line in t.lines() {
                assert!(line.chars().count() <= width, "{width}: {line:?}");
            }
            let titles = t.lines().nth(2).unwrap();
            assert!(titles.starts_with("GROUP") && titles.contains("STATE") && titles.contains('%'), "{titles}");
        }
        let t = table("h", "idle", &rows, 80);
        let titles = t.lines().nth(2).unwrap();
        assert!(titles.contains("RATE") && titles.contains("ETA"), "80 columns keep rate and ETA: {titles}");
        let first = t.lines().nth(3).unwrap();
        assert!(first.contains("1.00 MiB/s") && first.contains("3s") && first.contains("25%"), "{first}");
        assert!(t.contains("GUIDs shortened"), "{t}");
        let t = table("h", "idle", &rows, 160);
        assert!(t.lines().nth(3).unwrap().starts_with(&rows[0].0.id.to_string()), "{t}");
        assert!(t.contains("PROGRESS") && t.contains("a rather long display") && !t.contains("shortened"), "{t}");
    }

    #[test]
    fn rate_and_eta_come_from_the_last_refresh() {
        let now = row(3 << 20, Some(5 << 20));
        let m = Motion::between(Some(1 << 20), Duration::from_secs(2), &now);
        assert_eq!(m.rate, Some(1048576.0));
        assert_eq!(m.eta, Some(Duration::from_secs(2)));
        assert_eq!(Motion::between(None, Duration::from_secs(2), &now), Motion::default());
    }

    #[test]
    fn the_background_line_stays_within_80_columns() {
        let long = format!("idle, {}", "x".repeat(100));
        let t = table("header", &long, &[], 120);
        let line = t.lines().nth(1).unwrap();
        assert!(line.starts_with("background: idle, x") && line.ends_with('…'), "{line}");
        assert_eq!(line.chars().count(), 80);
        let t = table("header", "idle, no background transfer", &[], 80);
        assert_eq!(t.lines().nth(1), Some("background: idle, no background transfer"));
    }
}
