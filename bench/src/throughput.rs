//! Scenarios 1–3: one large file, many small files in one job, many groups — qmgr (the
//! `qmgr` command and the C API) side by side with curl, wget and aria2 on the same nginx.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use crate::data::{check_dir, check_named, DataFile};
use crate::overhead::normal_background;
use crate::report::{num, target, Row};
use crate::runner::{alternate, cmd, note_cpu, note_cpu_scaled, os, stdout_value, Contender, Ctx, Plan, Run, RunDir};

/// `1 GiB`, `128 MiB`, `64 KiB`.
pub fn size_label(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 && b % (1 << 30) == 0 => format!("{} GiB", b >> 30),
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

/// `curl -q -sS -f -o FILE URL`.
pub fn curl_o(url: &str, file: &Path) -> Command {
    cmd("curl", [os("-q"), os("-sS"), os("-f"), os("-o"), os(file), os(url)])
}

/// aria2c without configuration, progress output or preallocation, overwriting.
pub fn aria2c(extra: &[&str]) -> Command {
    let mut c = cmd(
        "aria2c",
        [
            os("--no-conf"),
            os("-q"),
            os("--file-allocation=none"),
            os("--allow-overwrite=true"),
            os("--auto-file-renaming=false"),
        ],
    );
    c.args(extra);
    c
}

/// `sync FILE…` (coreutils: fsync of each file).
fn sync_files<'f>(files: impl IntoIterator<Item = &'f Path>) -> Command {
    let mut c = Command::new("sync");
    c.args(files);
    c
}

/// A curl configuration (`-K`) downloading `files` from `base` (a URL ending in `/`, e.g.
/// [`Ctx::base_url`]) into `out`, one process, one connection kept alive.
pub fn curl_config(base: &str, rd: &RunDir, files: &[DataFile]) -> Result<Command, String> {
    let mut text = String::new();
    for f in files {
        let _ = writeln!(text, "url = \"{base}{}\"\noutput = \"{}\"", f.path, rd.out.join(f.leaf()).display());
    }
    let path = rd.dir.join("curl.cfg");
    std::fs::write(&path, text).map_err(|e| format!("write {}: {e}", path.display()))?;
    Ok(cmd("curl", [os("-q"), os("-sS"), os("-f"), os("-K"), os(&path)]))
}

/// A list of the URLs of `files` below `base` (a URL ending in `/`), one a line (wget `-i`,
/// aria2c `-i`), in the work directory.
pub fn url_list(ctx: &Ctx, base: &str, name: &str, files: &[DataFile]) -> Result<std::path::PathBuf, String> {
    let text: String = files.iter().map(|f| format!("{base}{}\n", f.path)).collect();
    let path = ctx.work.join(name);
    std::fs::write(&path, text).map_err(|e| format!("write {}: {e}", path.display()))?;
    Ok(path)
}

/// Throughput of a run that moved `bytes`, in MB/s (10^6 bytes).
pub fn mb_per_s(bytes: u64, run: &Run) -> f64 {
    bytes as f64 / 1e6 / run.wall.as_secs_f64()
}

/// One "throughput" row (MB/s) per contender, from its runs that each moved `bytes`.
pub fn throughput_rows(scenario: &str, contenders: &[Contender<'_>], runs: &[Vec<Run>], bytes: u64) -> Vec<Row> {
    contenders
        .iter()
        .zip(runs)
        .map(|(c, rs)| {
            Row::new(scenario, &c.tool, "throughput", "MB/s", rs.iter().map(|r| mb_per_s(bytes, r)).collect())
        })
        .collect()
}

/// Runs the contenders alternately ([`alternate`]), each run downloading `count` files, and
/// returns the runs and one "files/s" row per contender (files / wall time of each run).
pub fn alternate_files(
    ctx: &Ctx,
    scenario: &str,
    contenders: &[Contender<'_>],
    count: usize,
) -> Result<(Vec<Vec<Run>>, Vec<Row>), String> {
    let n = count as f64;
    let show = |r: &Run| {
        format!(
            "{:.2} s, {:.0} files/s, CPU {:.2} s",
            r.wall.as_secs_f64(),
            n / r.wall.as_secs_f64(),
            r.cpu.as_secs_f64()
        )
    };
    let runs = alternate(ctx, scenario, contenders, &show)?;
    let rows = contenders
        .iter()
        .zip(&runs)
        .map(|(c, rs)| {
            let s = rs.iter().map(|r| n / r.wall.as_secs_f64()).collect();
            Row::new(scenario, &c.tool, "files/s", "files/s", s)
        })
        .collect();
    Ok((runs, rows))
}

/// Scenario 1: one large file to disk.
pub fn large(ctx: &Ctx) -> Result<Vec<Row>, String> {
    let file = ctx.data.big.as_ref().ok_or("the large file was not generated")?;
    let scenario = format!("1. one {} file", size_label(file.size));
    let url = ctx.url(&file.path);
    let name = file.leaf();
    let q = &ctx.bins.qmgr;
    let check = |rd: &RunDir, hash: bool| check_dir(&rd.out, &[file], hash);
    let contenders = vec![
        Contender::new(
            "qmgr get",
            |rd| {
                let out = rd.out.join(name);
                Ok(Plan::timed(vec![cmd(
                    q,
                    [os("--queue"), os(&rd.queue), os("get"), os(&url), os("--output"), os(&out)],
                )]))
            },
            check,
        ),
        Contender::new(
            "qmgr C API (examples-c/download.c)",
            |rd| Ok(Plan::timed(vec![cmd(&ctx.bins.download, [os("--queue"), os(&rd.queue), os(&rd.out), os(&url)])])),
            check,
        ),
        Contender::new("curl -o", |rd| Ok(Plan::timed(vec![curl_o(&url, &rd.out.join(name))])), check),
        Contender::new(
            "curl -o, then sync FILE",
            |rd| {
                let out = rd.out.join(name);
                Ok(Plan::timed(vec![curl_o(&url, &out), sync_files([out.as_path()])]))
            },
            check,
        ),
        Contender::new(
            "wget -O",
            |rd| {
                Ok(Plan::timed(vec![cmd(
                    "wget",
                    [os("-q"), os("--no-config"), os("-O"), os(&rd.out.join(name)), os(&url)],
                )]))
            },
            check,
        ),
        Contender::new(
            "aria2c -x1",
            |rd| {
                let mut c = aria2c(&["-x1", "-d"]);
                c.args([os(&rd.out), os("-o"), os(name), os(&url)]);
                Ok(Plan::timed(vec![c]))
            },
            check,
        ),
        Contender::new(
            "aria2c -x4 -s4",
            |rd| {
                let mut c = aria2c(&["-x4", "-s4", "-d"]);
                c.args([os(&rd.out), os("-o"), os(name), os(&url)]);
                Ok(Plan::timed(vec![c]))
            },
            check,
        ),
    ];
    let show = |r: &Run| {
        format!("{:.2} s, {:.0} MB/s, CPU {:.2} s", r.wall.as_secs_f64(), mb_per_s(file.size, r), r.cpu.as_secs_f64())
    };
    let runs = alternate(ctx, &scenario, &contenders, &show)?;
    let mut rows = throughput_rows(&scenario, &contenders, &runs, file.size);
    let qmgr = rows[0].median;
    let curl = rows[2].median;
    rows[1] = rows[1].clone().noted(format!("C API / curl -o = {:.2}×", rows[1].median / curl));
    for (i, row) in rows.iter_mut().enumerate().skip(2) {
        let ratio = qmgr / row.median;
        let note = match i {
            2 => target("qmgr get ≥ 1.2× curl", ratio >= 1.2),
            3 => format!("same durability as qmgr (fsync); {}", target("qmgr get ≥ 1.0×", ratio >= 1.0)),
            _ => target("qmgr get ≥ 1.0×", ratio >= 1.0),
        };
        *row = row.clone().compared(ratio, note);
    }
    rows[0].note = "reference; ratios are qmgr get / peer".into();
    note_cpu(&mut rows, &runs);
    Ok(rows)
}

/// Scenario 2's `qmgr get` of all the files into one job, and its `curl -K` peer.
const QMGR_GET_DIR: &str = "qmgr get URL… -d DIR";
const CURL_K: &str = "curl -K (one process, keep-alive)";

/// Scenario 2: many small files in one job; then `qmgr get` and `curl -K` again back to back
/// (no `sync(2)` between runs); then the start-up of a one-file download ([`startup`]).
pub fn small(ctx: &Ctx) -> Result<Vec<Row>, String> {
    let files = &ctx.data.small;
    if files.is_empty() {
        return Err("the small files were not generated".into());
    }
    let size = size_label(files[0].size);
    let scenario = format!("2. {} × {size} in one job", files.len());
    let urls: Vec<String> = files.iter().map(|f| ctx.url(&f.path)).collect();
    let list = url_list(ctx, &ctx.base_url, "small.list", files)?;
    let expected: Vec<&DataFile> = files.iter().collect();
    let check = |rd: &RunDir, hash: bool| check_dir(&rd.out, &expected, hash);
    let qmgr_get = |rd: &RunDir| -> Result<Plan, String> {
        let mut c = cmd(&ctx.bins.qmgr, [os("--queue"), os(&rd.queue), os("get"), os("-d"), os(&rd.out)]);
        c.args(&urls);
        Ok(Plan::timed(vec![c]))
    };
    let curl_k =
        |rd: &RunDir| -> Result<Plan, String> { Ok(Plan::timed(vec![curl_config(&ctx.base_url, rd, files)?])) };
    let contenders = vec![
        Contender::new(QMGR_GET_DIR, qmgr_get, check),
        Contender::new(
            "qmgr C API (examples-c/download.c)",
            |rd| {
                let mut c = cmd(&ctx.bins.download, [os("--queue"), os(&rd.queue), os(&rd.out)]);
                c.args(&urls);
                Ok(Plan::timed(vec![c]))
            },
            check,
        ),
        Contender::new(CURL_K, curl_k, check),
        Contender::new(
            "curl -K, then sync FILE…",
            |rd| {
                let outs: Vec<_> = files.iter().map(|f| rd.out.join(f.leaf())).collect();
                Ok(Plan::timed(vec![
                    curl_config(&ctx.base_url, rd, files)?,
                    sync_files(outs.iter().map(|p| p.as_path())),
                ]))
            },
            check,
        ),
        Contender::new(
            "wget -i",
            |rd| {
                Ok(Plan::timed(vec![cmd(
                    "wget",
                    [os("-q"), os("--no-config"), os("-i"), os(&list), os("-P"), os(&rd.out)],
                )]))
            },
            check,
        ),
        Contender::new(
            "aria2c -i -j16",
            |rd| {
                let mut c = aria2c(&["-j16", "-i"]);
                c.args([os(&list), os("-d"), os(&rd.out)]);
                Ok(Plan::timed(vec![c]))
            },
            check,
        ),
    ];
    let (runs, mut rows) = alternate_files(ctx, &scenario, &contenders, files.len())?;
    let qmgr = rows[0].median;
    let curl = rows[2].median;
    rows[0].note = "reference (fsync before each commit); ratios are qmgr get / peer".into();
    rows[1].note = format!(
        "one AddFiles call for the 2,000 files (as download.c does); C API / curl -K = {:.2}×",
        rows[1].median / curl
    );
    for (i, row) in rows.iter_mut().enumerate().skip(2) {
        let ratio = qmgr / row.median;
        let note = match i {
            2 => target("qmgr get ≥ 1.2× curl", ratio >= 1.2),
            3 => "curl with every file fsynced once at the end".to_string(),
            _ => String::new(),
        };
        *row = row.clone().compared(ratio, note);
    }
    note_cpu(&mut rows, &runs);

    // Back to back: each run's write-back (qmgr's fsyncs, curl's dirty pages) may still be
    // under way when the next run starts, as in a loop of downloads.
    let scenario = format!("2. {} × {size}, back-to-back (no sync between runs)", files.len());
    let contenders = vec![
        Contender::new(QMGR_GET_DIR, qmgr_get, check).without_sync(),
        Contender::new(CURL_K, curl_k, check).without_sync(),
    ];
    let (runs, mut back) = alternate_files(ctx, &scenario, &contenders, files.len())?;
    let ratio = back[0].median / back[1].median;
    back[0].note = "reference (fsync before each commit); ratio is qmgr get / curl".into();
    back[1] = back[1].clone().compared(ratio, target("qmgr get ≥ 1.0× curl back-to-back", ratio >= 1.0));
    note_cpu(&mut back, &runs);
    rows.extend(back);

    rows.extend(startup(ctx, &files[0])?);
    Ok(rows)
}

/// Scenario 2, start-up: one file downloaded [`Sizes::startup_count`] times back to back per
/// run, as `out/f0`, `out/f1`, … (so that a run's wall time averages that many process
/// start-ups, queue opens and first requests): `qmgr get URL -o FILE` with a queue created
/// before the run (untimed), the same while a runner serves that queue (as after any
/// `qmgr get` with autostart on, DECISIONS D13: the runner transfers, `qmgr get` follows it
/// through the store, D10), the same with a new queue for each download, and `curl -o`.
/// Milliseconds per file; the target is qmgr (existing queue) ≤ 1.5 × curl's time.
///
/// [`Sizes::startup_count`]: crate::runner::Sizes::startup_count
fn startup(ctx: &Ctx, file: &DataFile) -> Result<Vec<Row>, String> {
    let k = ctx.sizes.startup_count;
    let scenario = format!("2. start-up: one {} file, {k} downloads per run", size_label(file.size));
    let url = ctx.url(&file.path);
    let names: Vec<String> = (0..k).map(|i| format!("f{i}")).collect();
    let expected: Vec<(String, &DataFile)> = names.iter().map(|n| (n.clone(), file)).collect();
    let check = |rd: &RunDir, hash: bool| check_named(&rd.out, &expected, hash);
    let q = &ctx.bins.qmgr;
    let get = |queue: &Path, out: &Path| cmd(q, [os("--queue"), os(queue), os("get"), os(&url), os("-o"), os(out)]);
    let contenders = vec![
        Contender::new(
            "qmgr get URL -o FILE (existing queue)",
            |rd| {
                Ok(Plan {
                    // Opens the queue, creating it (database and schema); downloads nothing.
                    prepare: vec![cmd(q, [os("--queue"), os(&rd.queue), os("option"), os("max_active_groups")])],
                    timed: names.iter().map(|n| get(&rd.queue, &rd.out.join(n))).collect(),
                })
            },
            check,
        ),
        Contender::new(
            "qmgr get URL -o FILE (a runner serving the queue)",
            |rd| {
                Ok(Plan {
                    // A runner of its own (ended 5 s after its last transfer), holding the
                    // queue's transfer lock before the first timed download.
                    prepare: vec![
                        cmd(q, [os("--queue"), os(&rd.queue), os("option"), os("max_active_groups")]),
                        runner_started(q, &rd.queue),
                    ],
                    timed: names.iter().map(|n| get(&rd.queue, &rd.out.join(n))).collect(),
                })
            },
            check,
        ),
        Contender::new(
            "qmgr get URL -o FILE (new queue each time)",
            |rd| {
                let timed = names.iter().map(|n| get(&rd.dir.join(format!("queue-{n}")), &rd.out.join(n))).collect();
                Ok(Plan::timed(timed))
            },
            check,
        ),
        Contender::new(
            "curl -o FILE URL",
            |rd| Ok(Plan::timed(names.iter().map(|n| curl_o(&url, &rd.out.join(n))).collect())),
            check,
        ),
    ];
    let ms = |r: &Run| r.wall.as_secs_f64() * 1e3 / k as f64;
    let show =
        |r: &Run| format!("{:.2} s, {:.1} ms per file, CPU {:.2} s", r.wall.as_secs_f64(), ms(r), r.cpu.as_secs_f64());
    let runs = alternate(ctx, &scenario, &contenders, &show)?;
    let mut rows: Vec<Row> = contenders
        .iter()
        .zip(&runs)
        .map(|(c, rs)| Row::new(&scenario, &c.tool, "time per file (start to exit)", "ms", rs.iter().map(ms).collect()))
        .collect();
    let (existing, served, new, curl) = (rows[0].median, rows[1].median, rows[2].median, rows[3].median);
    rows[0].note = "reference: queue created before the run".into();
    rows[1].note = format!(
        "the runner (not counted in CPU) transfers, qmgr get follows it through the store; {:.2}× curl -o's time; no target",
        served / curl
    );
    rows[2].note = format!(
        "a fresh --queue DIR for each download (creating the database); {:.2}× curl -o's time; no target",
        new / curl
    );
    let time = existing / curl;
    rows[3] = rows[3].clone().compared(
        curl / existing,
        format!(
            "time qmgr get (existing queue) / curl -o = {time:.2}× (the ratio column is its inverse); {}",
            target("qmgr get (existing queue) ≤ 1.5× curl -o", time <= 1.5)
        ),
    );
    note_cpu_scaled(&mut rows, &runs, 1000.0 / k as f64, "per 1,000 files");
    Ok(rows)
}

/// A command that starts `qmgr --queue QUEUE serve --exit-when-idle 5` in a session of its
/// own (not waited for) and returns once it holds the queue's transfer lock (`queue.lock`,
/// DECISIONS D10), or fails after 10 s.
fn runner_started(q: &Path, queue: &Path) -> Command {
    let script = r#"setsid "$0" --queue "$1" serve --exit-when-idle 5 </dev/null >/dev/null 2>&1 &
for _ in $(seq 200); do flock -n "$1/queue.lock" true || exit 0; sleep 0.05; done
echo "the runner did not take $1/queue.lock" >&2; exit 1"#;
    cmd("sh", [os("-c"), os(script), os(q), os(queue)])
}

/// Scenario 3: many groups of a few files, with `max_active_groups` 1, 4, 16.
pub fn groups(ctx: &Ctx) -> Result<Vec<Row>, String> {
    let files = &ctx.data.mid;
    let s = &ctx.sizes;
    if files.len() != s.groups * s.files_per_group {
        return Err("the files of the groups were not generated".into());
    }
    let file_size = files[0].size;
    let scenario = format!("3. {} groups × {} × {}", s.groups, s.files_per_group, size_label(file_size));
    let expected: Vec<&DataFile> = files.iter().collect();
    let check = |rd: &RunDir, hash: bool| check_dir(&rd.out, &expected, hash);
    let prefix = ctx.url("mid/");
    let (groups, per_group) = (s.groups.to_string(), s.files_per_group.to_string());
    let settings: Vec<String> = s.max_active.iter().map(|n| n.to_string()).collect();
    let mut contenders: Vec<Contender<'_>> = settings
        .iter()
        .map(|n| {
            Contender::new(
                format!("qmgr C API, max_active_groups {n}"),
                |rd: &RunDir| {
                    Ok(Plan {
                        prepare: vec![normal_background(&ctx.bins.qmgr, rd)],
                        timed: vec![cmd(
                            &ctx.bins.many_groups,
                            [
                                os("--queue"),
                                os(&rd.queue),
                                os("--groups"),
                                os(&groups),
                                os("--files"),
                                os(&per_group),
                                os("--url-prefix"),
                                os(&prefix),
                                os("--name-prefix"),
                                os("m"),
                                os("--dest"),
                                os(&rd.out),
                                os("--max-active"),
                                os(n),
                            ],
                        )],
                    })
                },
                check,
            )
        })
        .collect();
    contenders.push(Contender::new(
        "curl -K (one process, keep-alive)",
        |rd| Ok(Plan::timed(vec![curl_config(&ctx.base_url, rd, files)?])),
        check,
    ));
    let n = files.len() as f64;
    let mb = n * file_size as f64 / 1e6;
    // The qmgr runs are timed by the program (first resume → last group complete); curl by wall.
    let download_s = |r: &Run| stdout_value(&r.stdout, "download_s").unwrap_or(r.wall.as_secs_f64());
    let show = |r: &Run| format!("{:.2} s, {:.0} files/s", download_s(r), n / download_s(r));
    let runs = alternate(ctx, &scenario, &contenders, &show)?;
    let curl_runs = runs.last().expect("curl ran");
    let curl = Row::new(&scenario, &contenders.last().expect("curl").tool, "files/s", "files/s", {
        curl_runs.iter().map(|r| n / r.wall.as_secs_f64()).collect()
    });
    let mut rows = Vec::new();
    let mut create = Vec::new();
    for (c, rs) in contenders.iter().zip(&runs).take(settings.len()) {
        let mut samples = Vec::new();
        for r in rs {
            samples.push(n / stdout_value(&r.stdout, "download_s")?);
            create.push(s.groups as f64 / stdout_value(&r.stdout, "create_s")?);
        }
        let row = Row::new(&scenario, &c.tool, "files/s (resume → all complete)", "files/s", samples);
        let ratio = row.median / curl.median;
        let note = format!("{} MB/s; ratio = qmgr / curl", num(row.median * mb / n));
        rows.push(row.compared(ratio, note));
    }
    let note = format!("{} MB/s; reference", num(curl.median * mb / n));
    rows.push(curl.noted(note));
    rows.push(
        Row::new(&scenario, "qmgr C API: CreateGroup + CreateJob + AddFiles", "groups created/s", "groups/s", create)
            .noted(format!("{} files per group; all settings' runs", s.files_per_group)),
    );
    Ok(rows)
}
