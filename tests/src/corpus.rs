//! Content to download in end-to-end tests and benchmarks: real files copied from the system
//! (`/usr/share/doc`, `.so` files from `/usr/lib`) and large pseudo-random files, created once
//! per test process in one directory under the cargo target directory, which the next test
//! process that creates a corpus removes (see [`corpus`]).
//!
//! Every file sits at the top of [`Corpus::root`], so a server whose document root is that
//! directory serves it as `/<name>`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

/// Size of [`Corpus::big`]: 256 MiB.
pub const BIG_SIZE: u64 = 256 << 20;

/// Size of [`Corpus::medium`]: 48 MiB (several seconds through a rate-limited location).
pub const MEDIUM_SIZE: u64 = 48 << 20;

/// Directory, in the cargo profile directory ([`crate::profile_dir`]), holding the corpus
/// directory of each test process: `<pid>-<random>`, so that the directories of processes that
/// have ended can be recognised and removed.
const PARENT_DIR: &str = "qmgr-tests-corpus";

/// One file of the corpus.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CorpusFile {
    /// File name in [`Corpus::root`] (also its URL path without the leading `/`): only
    /// `[A-Za-z0-9._-]`.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the content, lowercase hex.
    pub sha256: String,
    /// The system file it was copied from; `None` for generated content.
    pub source: Option<PathBuf>,
}

/// The files of the corpus (see the module documentation).
pub struct Corpus {
    dir: PathBuf,
    real: Vec<CorpusFile>,
    big: CorpusFile,
    medium: CorpusFile,
}

impl Corpus {
    /// The directory holding every file of the corpus, and nothing else.
    pub fn root(&self) -> &Path {
        &self.dir
    }

    /// Path of `file` in [`Corpus::root`].
    pub fn path(&self, file: &CorpusFile) -> PathBuf {
        self.root().join(&file.name)
    }

    /// Real files copied from the system: at least three, of varied sizes (a few copyright or
    /// changelog files, a `.so` below 1 MiB and, when the system has one, a `.so` above 1 MiB).
    pub fn real_files(&self) -> &[CorpusFile] {
        &self.real
    }

    /// `big.bin`: [`BIG_SIZE`] bytes of pseudo-random content.
    pub fn big(&self) -> &CorpusFile {
        &self.big
    }

    /// `medium.bin`: [`MEDIUM_SIZE`] bytes of pseudo-random content.
    pub fn medium(&self) -> &CorpusFile {
        &self.medium
    }

    /// Every file: the real ones, then `medium.bin` and `big.bin`.
    pub fn all(&self) -> impl Iterator<Item = &CorpusFile> {
        self.real.iter().chain([&self.medium, &self.big])
    }
}

/// The corpus of this test process, created on first use (a few seconds: the big file is
/// generated and hashed) in `<profile dir>/qmgr-tests-corpus/<pid>-<random>/`.
///
/// That directory outlives the process (≈ 310 MiB) and is removed by the next test process that
/// creates a corpus, once this one has ended. Removing it at exit would need `atexit` (unsafe;
/// this crate forbids unsafe code): statics are never dropped. So it lives in the target
/// directory, on disk, where `cargo clean` also removes it, rather than in a possibly RAM-backed
/// `/tmp`. Each process keeps its own directory rather than reusing one across runs: test
/// processes of the same profile may run at once, and a shared corpus would need them to agree
/// on who checks and rewrites it while the others serve it.
pub fn corpus() -> &'static Corpus {
    static CORPUS: OnceLock<Corpus> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let parent = crate::profile_dir().join(PARENT_DIR);
        remove_stale_directories(&parent);
        std::fs::create_dir_all(&parent).unwrap_or_else(|e| panic!("create {}: {e}", parent.display()));
        let dir = tempfile::Builder::new()
            .prefix(&format!("{}-", std::process::id()))
            .tempdir_in(&parent)
            .expect("corpus directory")
            .keep();
        let (medium, big) = std::thread::scope(|s| {
            let medium = s.spawn(|| generate(&dir, "medium.bin", MEDIUM_SIZE, 0x6d65_6469_756d_0001));
            let big = s.spawn(|| generate(&dir, "big.bin", BIG_SIZE, 0x6269_6762_6967_0001));
            (medium.join().expect("generate medium.bin"), big.join().expect("generate big.bin"))
        });
        let real = copy_real_files(&dir);
        assert!(real.len() >= 3, "found only {} real files to serve: {real:?}", real.len());
        Corpus { dir, real, big, medium }
    })
}

/// Writes `size` bytes of xorshift64 output (seeded with `seed`) to `dir/name`, hashing them
/// on the way.
fn generate(dir: &Path, name: &str, size: u64, seed: u64) -> CorpusFile {
    let path = dir.join(name);
    let mut file = std::fs::File::create(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
    let mut hasher = Sha256::new();
    let mut state = seed;
    let mut buf = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        for word in buf.chunks_exact_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes());
        }
        let n = left.min(buf.len() as u64) as usize;
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n]).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        left -= n as u64;
    }
    CorpusFile { name: name.to_string(), size, sha256: hex(&hasher.finalize()), source: None }
}

/// Copies real system files into `dir`: up to four documentation files of well-known packages
/// (any `copyright` files otherwise) and up to two shared libraries (one under 1 MiB, one over).
fn copy_real_files(dir: &Path) -> Vec<CorpusFile> {
    let mut picked: Vec<(String, PathBuf)> = Vec::new();

    let doc = Path::new("/usr/share/doc");
    let preferred = ["base-files", "coreutils", "bash", "dpkg", "apt", "libc6"];
    let mut docs: Vec<(String, PathBuf)> = preferred
        .iter()
        .flat_map(|pkg| {
            ["changelog.Debian.gz", "copyright"].map(|leaf| (format!("doc-{pkg}-{leaf}"), doc.join(pkg).join(leaf)))
        })
        .filter(|(_, p)| p.is_file())
        .collect();
    if docs.len() < 2 {
        docs.extend(sorted_entries(doc).into_iter().map(|d| d.join("copyright")).filter(|p| p.is_file()).map(|p| {
            let pkg = p.parent().and_then(Path::file_name).unwrap_or_default().to_string_lossy().into_owned();
            (format!("doc-{pkg}-copyright"), p)
        }));
    }
    picked.extend(docs.into_iter().take(4));

    let mut libs: Vec<(PathBuf, u64)> = Vec::new();
    for top in [Path::new("/usr/lib"), Path::new("/usr/lib64")] {
        let mut dirs = vec![top.to_path_buf()];
        dirs.extend(sorted_entries(top));
        for d in dirs {
            for p in sorted_entries(&d) {
                let is_so = p.file_name().is_some_and(|n| n.to_string_lossy().contains(".so"));
                if let Ok(meta) = std::fs::symlink_metadata(&p) {
                    if is_so && meta.is_file() {
                        libs.push((p, meta.len()));
                    }
                }
            }
        }
    }
    let small = libs.iter().find(|(_, len)| (64 << 10..1 << 20).contains(len));
    let large = libs.iter().find(|(_, len)| ((1 << 20) + 1..=16 << 20).contains(len));
    for (p, _) in small.into_iter().chain(large) {
        let leaf = p.file_name().unwrap_or_default().to_string_lossy().into_owned();
        picked.push((format!("lib-{leaf}"), p.clone()));
    }

    let mut files = Vec::new();
    for (name, source) in picked {
        let name: String =
            name.chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' }).collect();
        if files.iter().any(|f: &CorpusFile| f.name == name) {
            continue;
        }
        let target = dir.join(&name);
        let size = match std::fs::copy(&source, &target) {
            Ok(size) => size,
            Err(_) => continue, // unreadable (permissions): pick the others
        };
        files.push(CorpusFile { sha256: crate::sha256_file(&target), name, size, source: Some(source) });
    }
    files
}

/// The entries of `dir`, sorted by path (empty when it cannot be read).
fn sorted_entries(dir: &Path) -> Vec<PathBuf> {
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(dir).map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect()).unwrap_or_default();
    entries.sort();
    entries
}

/// Removes the corpus directories in `parent` of test processes that no longer exist.
fn remove_stale_directories(parent: &Path) {
    for p in sorted_entries(parent) {
        let name = p.file_name().unwrap_or_default().to_string_lossy().into_owned();
        let Some(pid) = name.split('-').next() else { continue };
        if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(&p);
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
