//! `qmgr __generate man DIR | completions SHELL | unit BIN` (hidden): the files `make install`
//! installs beside the binary, made by the binary itself from its own definitions, so they
//! cannot drift from it: the man pages from the clap definition (`clap_mangen`), the shell
//! completions from the same definition (`clap_complete`), and the systemd user unit from the
//! generator `qmgr service install` uses ([`crate::service::packaged_unit`]).
//!
//! A hidden command of the binary rather than a build script or an `xtask` binary: the clap
//! definition lives in this binary crate (no library to link an `xtask` against), a build
//! script cannot see it (it is compiled after the script runs), and the unit generator is this
//! crate's own; the top-level Makefile runs the binary it has just built. It is parsed apart
//! from [`Cli`] (see [`requested`]): a hidden clap subcommand would still be offered by the
//! fish and zsh completions.

use crate::exit::{CmdResult, Exit, Failure};
use crate::service::packaged_unit;
use crate::Cli;
use clap::{CommandFactory, Parser, Subcommand};
use clap_complete::Shell;
use std::path::{Path, PathBuf};

/// The word that selects these generators as the first argument.
const WORD: &str = "__generate";

/// `qmgr __generate WHAT`: a command line of its own, not a subcommand of [`Cli`], so that
/// neither the man pages nor the completions of `qmgr` show it.
#[derive(Debug, Parser)]
#[command(
    name = "qmgr __generate",
    bin_name = "qmgr __generate",
    about = "Write what `make install` installs beside the qmgr binary"
)]
struct Generate {
    /// What to write.
    #[command(subcommand)]
    what: What,
}

/// The generator the command line asks for when its first argument is `__generate` (parsed:
/// exits with clap's usage error, code 2, for a bad one); `None` for every other command line.
pub fn requested() -> Option<What> {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    (args.first()? == WORD).then(|| Generate::parse_from(&args).what)
}

/// What `qmgr __generate` writes.
#[derive(Debug, Subcommand)]
pub enum What {
    /// Write the man pages into DIR (created when missing): qmgr.1 and one page per
    /// subcommand, named qmgr-SUBCOMMAND.1 (qmgr-service-install.1 for a nested one).
    Man {
        /// Directory to write the pages into.
        dir: PathBuf,
    },
    /// Print the completion script of the qmgr command for SHELL.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Print the systemd user unit that runs `BIN serve` on the user's default queue.
    Unit {
        /// The absolute path of the installed qmgr binary (e.g. /usr/local/bin/qmgr).
        bin: PathBuf,
    },
}

/// Runs one `qmgr __generate` action.
///
/// Errors: exit 2 for a relative `BIN` or one systemd cannot carry; exit 4 when the man pages
/// cannot be written (naming the directory and the cause).
pub fn run(what: What) -> CmdResult {
    match what {
        What::Man { dir } => man(&dir)?,
        What::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "qmgr", &mut std::io::stdout());
        }
        What::Unit { bin } => {
            if !bin.is_absolute() {
                return Err(Failure::usage(format!("the qmgr binary {} must be an absolute path", bin.display())));
            }
            print!("{}", packaged_unit(&bin)?);
        }
    }
    Ok(Exit::Success)
}

/// Writes qmgr.1 and a page per visible subcommand into `dir` (see [`What::Man`]), each
/// giving `qmgr VERSION` as its source.
fn man(dir: &Path) -> Result<(), Failure> {
    fn pages(cmd: &clap::Command, dir: &Path) -> std::io::Result<()> {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            pages(sub, dir)?;
        }
        let source = format!("qmgr {}", env!("CARGO_PKG_VERSION"));
        clap_mangen::Man::new(cmd.clone()).source(source).manual("qmgr manual").generate_to(dir).map(drop)
    }
    let failed =
        |e: std::io::Error| Failure::service_unavailable(format!("cannot write man pages into {}: {e}", dir.display()));
    std::fs::create_dir_all(dir).map_err(failed)?;
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    pages(&cmd, dir).map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_per_visible_subcommand() {
        let dir = tempfile::tempdir().unwrap();
        man(dir.path()).unwrap();
        let mut pages: Vec<String> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        pages.sort();
        for page in ["qmgr.1", "qmgr-get.1", "qmgr-cancel-job.1", "qmgr-service.1", "qmgr-service-install.1"] {
            assert!(pages.iter().any(|p| p == page), "{page} missing from {pages:?}");
        }
        assert!(!pages.iter().any(|p| p.contains("generate") || p.contains("help")), "{pages:?}");
        assert!(!std::fs::read_to_string(dir.path().join("qmgr.1")).unwrap().contains(WORD));
        let source = format!(" \"qmgr {}\" \"qmgr manual\"\n", env!("CARGO_PKG_VERSION"));
        for (page, title) in [("qmgr.1", ".TH qmgr 1 "), ("qmgr-service-install.1", ".TH qmgr-service-install 1 ")] {
            let text = std::fs::read_to_string(dir.path().join(page)).unwrap();
            assert!(text.contains(&format!("{title}{source}")), "{page}:\n{text}");
        }
        let top = std::fs::read_to_string(dir.path().join("qmgr.1")).unwrap();
        assert!(top.contains("Exit codes"), "the after-help text is in the page");
    }

    #[test]
    fn completions_do_not_offer_the_generators() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "qmgr", &mut script);
            let script = String::from_utf8(script).unwrap();
            assert!(script.contains("cancel-job") && !script.contains(WORD), "{shell}:\n{script}");
        }
    }

    #[test]
    fn the_unit_needs_an_absolute_binary() {
        let relative = run(What::Unit { bin: PathBuf::from("bin/qmgr") }).unwrap_err();
        assert!(relative.message.contains("absolute"), "{}", relative.message);
    }
}
