//! `qmgr monitor`: a live table of the queue's groups (the `bitsadmin /monitor` counterpart).

use crate::exit::{CmdResult, Exit};
use crate::queue::QueueTarget;
use crate::show::{background_json, background_text, bytes_text, one_line, summaries, Summary};
use crate::watch::{install_interrupt_handler, interrupted};
use serde_json::json;
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
    let mut out = std::io::stdout().lock();
    let mut refreshes = 0;
    loop {
        let rows = summaries(&queue)?;
        let background = queue.manager.background_status();
        let text = if as_json {
            let groups: Vec<_> = rows.iter().map(Summary::json).collect();
            let line = json!({"time_ms": unix_ms(), "background": background_json(&background), "groups": groups});
            format!("{line}\n")
        } else {
            let header = format!(
                "qmgr monitor: queue {}, {} group{}, every {} ms (Ctrl-C to stop)",
                queue.dir.display(),
                rows.len(),
                if rows.len() == 1 { "" } else { "s" },
                interval.as_millis()
            );
            let table = table(&header, &background_text(&background), &rows);
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

fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// The header, the background status line (at most [`LINE_WIDTH`] characters), the column
/// titles and one line per group, each line ending in `\n`.
fn table(header: &str, background: &str, rows: &[Summary]) -> String {
    let sizes: Vec<String> = rows.iter().map(|r| bytes_text(r.done, r.total)).collect();
    let width = sizes.iter().map(String::len).chain([5]).max().unwrap_or(5);
    let mut t = format!("{header}\n");
    t += &format!("{}\n", cut(&format!("background: {background}"), LINE_WIDTH));
    t += &format!(
        "{:<38}  {:<NAME_WIDTH$}  {:<9}  {:>width$}  {:>4}  PROGRESS\n",
        "GROUP", "NAME", "STATE", "BYTES", "%"
    );
    for (r, size) in rows.iter().zip(&sizes) {
        t += &format!(
            "{}  {:<NAME_WIDTH$}  {:<9}  {size:>width$}  {:>3}%  {}\n",
            r.id,
            cut(&one_line(&r.display_name), NAME_WIDTH),
            r.state.name(),
            r.percent,
            bar(r.percent)
        );
    }
    if rows.is_empty() {
        t += "(no groups)\n";
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

    #[test]
    fn the_background_line_stays_within_80_columns() {
        let long = format!("idle, {}", "x".repeat(100));
        let t = table("header", &long, &[]);
        let line = t.lines().nth(1).unwrap();
        assert!(line.starts_with("background: idle, x") && line.ends_with('…'), "{line}");
        assert_eq!(line.chars().count(), 80);
        let t = table("header", "idle, no background transfer", &[]);
        assert_eq!(t.lines().nth(1), Some("background: idle, no background transfer"));
    }
}
