//! Scenarios 7 and 8 (issue #17): servers as they are outside loopback — far away (50 ms round
//! trip through the delay proxy of [`crate::delay`]) and capping each connection's rate
//! (nginx `limit_rate`) — where the number of connections a tool opens decides its speed.

use std::process::Command;

use crate::data::{check_dir, DataFile};
use crate::delay::{Config, DelayProxy};
use crate::nginx::CAPPED_RATE;
use crate::overhead::qmgr_get;
use crate::report::{num, target, Row};
use crate::runner::{alternate, cmd, note_cpu_scaled, os, run_command, Contender, Ctx, Plan, Run, RunDir};
use crate::throughput::{
    alternate_files, aria2c, curl_config, curl_o, mb_per_s, size_label, throughput_rows, url_list,
};

/// Scenario 7: the connections per group set for the "16 connections" qmgr row (the option
/// of DECISIONS D16; the default is 6).
const MANY_CONNECTIONS: &str = "16";

/// Scenario 7's rows compared with the "16 connections" qmgr row and with the ≥ 5× target.
const ARIA2C_J16: &str = "aria2c -i LIST -j16";
const CURL_SEQUENTIAL: &str = "curl -K (sequential, one connection)";

/// Scenario 8: connections of the aria2c row (`-x6 -s6`, the peer): as many as the
/// default of `max_connections_per_group` (DECISIONS D16).
const ARIA2C_CONNECTIONS: u64 = 6;

/// The queue option of DECISIONS D16.
const CONNECTIONS_OPTION: &str = "max_connections_per_group";

/// `qmgr --queue Q get -d DIR URL…`.
fn qmgr_get_all(ctx: &Ctx, rd: &RunDir, urls: &[String]) -> Command {
    let mut c = cmd(&ctx.bins.qmgr, [os("--queue"), os(&rd.queue), os("get"), os("-d"), os(&rd.out)]);
    c.args(urls);
    c
}

/// `qmgr --queue Q option max_connections_per_group N`.
fn set_connections(ctx: &Ctx, queue: &std::path::Path, n: &str) -> Command {
    cmd(&ctx.bins.qmgr, [os("--queue"), os(queue), os("option"), os(CONNECTIONS_OPTION), os(n)])
}

/// Whether this qmgr takes `option max_connections_per_group`: set once on a scratch queue.
/// Errors: the message of the refusal, naming the option.
fn connections_option_supported(ctx: &Ctx) -> Result<(), String> {
    let dir = ctx.work.join("option-probe");
    crate::runner::remove_all(&dir)?;
    std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let log = dir.join("probe.log");
    let result = run_command(set_connections(ctx, &dir.join("queue"), MANY_CONNECTIONS), &log, &log);
    crate::runner::remove_all(&dir)?;
    result.map_err(|e| {
        format!(
            "this qmgr refuses the queue option {CONNECTIONS_OPTION} (parallel connections within a job, \
             DECISIONS D16, issue #17 item 2; not in this build?): {e}"
        )
    })
}

/// Scenario 7: many small files in one job from a server 50 ms away (the delay proxy in front
/// of nginx): qmgr with its defaults and with 16 connections per group, aria2c `-j6` and
/// `-j16`, curl `--parallel` (6) and sequential (one connection). Files/s, CPU per 1,000 files.
pub fn far(ctx: &Ctx) -> Result<Vec<Row>, String> {
    let count = ctx.sizes.far_count;
    if ctx.data.small.len() < count {
        return Err("the small files were not generated".into());
    }
    let files = &ctx.data.small[..count];
    let config = Config::default();
    let proxy = DelayProxy::start(ctx.server, config).map_err(|e| format!("cannot start the delay proxy: {e}"))?;
    let base = format!("http://{}/", proxy.addr());
    let rtt_ms = (2 * config.one_way).as_millis();
    let scenario = format!("7. {} × {} over {rtt_ms} ms RTT", count, size_label(files[0].size));
    let urls: Vec<String> = files.iter().map(|f| format!("{base}{}", f.path)).collect();
    let list = url_list(ctx, &base, "far.list", files)?;
    let expected: Vec<&DataFile> = files.iter().collect();
    let check = |rd: &RunDir, hash: bool| check_dir(&rd.out, &expected, hash);
    let many = format!("qmgr get, {CONNECTIONS_OPTION} {MANY_CONNECTIONS}");
    let many_supported = connections_option_supported(ctx);
    if let Err(e) = &many_supported {
        ctx.skip(format!("scenario {scenario}: contender `{many}` not run: {e}"));
    }
    let aria2c_list = |jobs: &str, rd: &RunDir| {
        let mut c = aria2c(&[jobs, "-i"]);
        c.args([os(&list), os("-d"), os(&rd.out)]);
        c
    };
    let mut contenders = vec![Contender::new(
        "qmgr get URL… -d DIR (defaults)",
        |rd| Ok(Plan::timed(vec![qmgr_get_all(ctx, rd, &urls)])),
        check,
    )];
    if many_supported.is_ok() {
        contenders.push(Contender::new(
            many.clone(),
            |rd| {
                Ok(Plan {
                    prepare: vec![set_connections(ctx, &rd.queue, MANY_CONNECTIONS)],
                    timed: vec![qmgr_get_all(ctx, rd, &urls)],
                })
            },
            check,
        ));
    }
    contenders.extend([
        Contender::new("aria2c -i LIST -j6", |rd| Ok(Plan::timed(vec![aria2c_list("-j6", rd)])), check),
        Contender::new(ARIA2C_J16, |rd| Ok(Plan::timed(vec![aria2c_list("-j16", rd)])), check),
        Contender::new(
            "curl --parallel --parallel-max 6 -K",
            |rd| {
                let mut c = curl_config(&base, rd, files)?;
                c.args(["--parallel", "--parallel-max", "6"]);
                Ok(Plan::timed(vec![c]))
            },
            check,
        ),
        Contender::new(CURL_SEQUENTIAL, |rd| Ok(Plan::timed(vec![curl_config(&base, rd, files)?])), check),
    ]);
    let (runs, mut rows) = alternate_files(ctx, &scenario, &contenders, count)?;
    drop(proxy);
    let qmgr = rows[0].median;
    let qmgr_many = rows.iter().find(|r| r.tool == many).map(|r| r.median);
    rows[0].note = "reference (fsync before each commit); ratios are qmgr / peer".into();
    for row in rows.iter_mut().skip(1) {
        if row.tool == many {
            row.note = format!("{} × qmgr defaults", num(row.median / qmgr));
            continue;
        }
        let (reference, name, goal) = match row.tool.as_str() {
            ARIA2C_J16 => (qmgr_many, many.as_str(), 1.0),
            CURL_SEQUENTIAL => (Some(qmgr), "qmgr defaults", 5.0),
            _ => (Some(qmgr), "qmgr defaults", 1.0),
        };
        let what = format!("{name} ≥ {goal:.1}×");
        *row = match reference {
            Some(q) => row.clone().compared(q / row.median, target(&what, q / row.median >= goal)),
            None => row.clone().noted(format!("{what}: no `{many}` row (see the failures)")),
        };
    }
    note_cpu_scaled(&mut rows, &runs, 1000.0 / count as f64, "per 1,000 files");
    Ok(rows)
}

/// Scenario 8: one large file from nginx's capped location (each connection at most
/// [`CAPPED_RATE`]): `qmgr get` (defaults) vs aria2c with 6 connections vs `curl -o` (one).
/// MB/s, CPU per GB.
pub fn capped(ctx: &Ctx) -> Result<Vec<Row>, String> {
    let file = ctx.data.capped.as_ref().ok_or("the capped file was not generated")?;
    let cap = format!("{} MB/s", num(CAPPED_RATE as f64 / 1e6));
    let scenario = format!("8. one {} file, each connection capped at {cap}", size_label(file.size));
    let url = ctx.url(&file.path);
    let name = file.leaf();
    let check = |rd: &RunDir, hash: bool| check_dir(&rd.out, &[file], hash);
    // aria2c splits a file only into ranges of at least twice `-k` (default 20 MiB, which
    // would leave the --quick file on one connection); a sixth of the file gives 6 ranges of
    // one request each. Smaller pieces would each be a new request, and nginx's limit_rate is
    // per request with a burst of one second's worth at its start: with -k1M aria2c fetched
    // the 32 MiB file at 26 MB/s through a "2 MB/s" cap.
    let piece = format!("-k{}M", (file.size / ARIA2C_CONNECTIONS / (1 << 20)).max(1));
    let aria2 = format!("aria2c -x{ARIA2C_CONNECTIONS} -s{ARIA2C_CONNECTIONS} {piece}");
    let contenders = vec![
        Contender::new(
            "qmgr get (defaults)",
            |rd| Ok(Plan::timed(vec![qmgr_get(&ctx.bins.qmgr, rd, &url, &rd.out.join(name))])),
            check,
        ),
        Contender::new(
            aria2,
            |rd| {
                let n = ARIA2C_CONNECTIONS.to_string();
                let mut c = aria2c(&[&format!("-x{n}"), &format!("-s{n}"), &piece, "-d"]);
                c.args([os(&rd.out), os("-o"), os(name), os(&url)]);
                Ok(Plan::timed(vec![c]))
            },
            check,
        ),
        Contender::new("curl -o (one connection)", |rd| Ok(Plan::timed(vec![curl_o(&url, &rd.out.join(name))])), check),
    ];
    let show = |r: &Run| {
        format!("{:.2} s, {:.2} MB/s, CPU {:.2} s", r.wall.as_secs_f64(), mb_per_s(file.size, r), r.cpu.as_secs_f64())
    };
    let runs = alternate(ctx, &scenario, &contenders, &show)?;
    let mut rows = throughput_rows(&scenario, &contenders, &runs, file.size);
    let qmgr = rows[0].median;
    rows[0].note = format!(
        "reference; ratios are qmgr get / peer; one connection gets {cap} after a first second's worth at once"
    );
    for (i, row) in rows.iter_mut().enumerate().skip(1) {
        let ratio = qmgr / row.median;
        let note = if i == 1 { target("qmgr get ≥ 1.0×", ratio >= 1.0) } else { String::new() };
        *row = row.clone().compared(ratio, note);
    }
    note_cpu_scaled(&mut rows, &runs, 1e9 / file.size as f64, "per GB");
    Ok(rows)
}
