//! The files nginx serves and the checks of what each tool wrote: pseudo-random bytes (so that
//! nothing on the way can compress them or skip zero pages), generated once per bench run with
//! their SHA-256.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::nginx::CAPPED_PATH;

/// Write and hash buffer size.
const CHUNK: usize = 1 << 20;

/// One served file.
#[derive(Clone, Debug)]
pub struct DataFile {
    /// Path below the document root, which is also the URL path without the leading `/`,
    /// e.g. `big.bin`, `small/s00001.bin`.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the content.
    pub sha256: [u8; 32],
}

impl DataFile {
    /// The last segment of [`DataFile::path`]: the name tools give the file they download.
    pub fn leaf(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }
}

/// Everything served, below `root`; the sets a run does not need are empty.
pub struct Data {
    pub root: PathBuf,
    /// Scenarios 1, 5a, 5b.
    pub big: Option<DataFile>,
    /// Scenario 2 (and 7, the first `far_count`): `small/s00000.bin`….
    pub small: Vec<DataFile>,
    /// Scenario 3: `mid/m00000.bin`… (group g holds files 4g … 4g+3).
    pub mid: Vec<DataFile>,
    /// Scenario 5c.
    pub rate: Option<DataFile>,
    /// Scenario 6: the background group's file (`bg/big.bin`)…
    pub bg_big: Option<DataFile>,
    /// …and the competing downloads' file (`bg/small.bin`).
    pub bg_small: Option<DataFile>,
    /// Scenario 8: `capped/big.bin`, below nginx's location capping each connection.
    pub capped: Option<DataFile>,
}

/// What to generate.
pub struct Wanted {
    pub big: Option<u64>,
    pub small: Option<(usize, u64)>,
    pub mid: Option<(usize, u64)>,
    pub rate: Option<u64>,
    /// Scenario 6: sizes of the background group's file and of the competing downloads' one.
    pub background: Option<(u64, u64)>,
    /// Scenario 8: size of the file below the capped location.
    pub capped: Option<u64>,
}

impl Data {
    /// Generates the wanted files below `root` (created).
    pub fn generate(root: &Path, wanted: &Wanted) -> Result<Data, String> {
        let mut seed = 1u64;
        let mut make = |path: String, size: u64| -> Result<DataFile, String> {
            seed += 1;
            let full = root.join(&path);
            if let Some(dir) = full.parent() {
                std::fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
            }
            let sha256 = write_random(&full, size, seed).map_err(|e| format!("write {}: {e}", full.display()))?;
            Ok(DataFile { path, size, sha256 })
        };
        let big = wanted.big.map(|size| make("big.bin".into(), size)).transpose()?;
        let rate = wanted.rate.map(|size| make("rate.bin".into(), size)).transpose()?;
        let bg_big = wanted.background.map(|(big, _)| make("bg/big.bin".into(), big)).transpose()?;
        let bg_small = wanted.background.map(|(_, small)| make("bg/small.bin".into(), small)).transpose()?;
        let capped = wanted.capped.map(|size| make(format!("{CAPPED_PATH}big.bin"), size)).transpose()?;
        let mut set = |spec: Option<(usize, u64)>, dir: &str, prefix: &str| -> Result<Vec<DataFile>, String> {
            let Some((count, size)) = spec else { return Ok(Vec::new()) };
            (0..count).map(|i| make(format!("{dir}/{prefix}{i:05}.bin"), size)).collect()
        };
        let small = set(wanted.small, "small", "s")?;
        let mid = set(wanted.mid, "mid", "m")?;
        Ok(Data { root: root.to_path_buf(), big, small, mid, rate, bg_big, bg_small, capped })
    }
}

/// Writes `size` pseudo-random bytes (xorshift64*, seeded) to `path`; returns their SHA-256.
fn write_random(path: &Path, size: u64, seed: u64) -> std::io::Result<[u8; 32]> {
    let mut file = File::create(path)?;
    let mut hasher = Sha256::new();
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut buf = vec![0u8; CHUNK];
    let mut left = size;
    while left > 0 {
        for word in buf.chunks_exact_mut(8) {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            word.copy_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
        }
        let n = left.min(CHUNK as u64) as usize;
        file.write_all(&buf[..n])?;
        hasher.update(&buf[..n]);
        left -= n as u64;
    }
    Ok(hasher.finalize().into())
}

/// SHA-256 of a file.
pub fn sha256_file(path: &Path) -> std::io::Result<[u8; 32]> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().into())
}

/// Checks that `dir` holds exactly the `expected` files (named by their leaf; no temporary or
/// control file left over), each of the right size and, when `hash`, the right SHA-256.
pub fn check_dir(dir: &Path, expected: &[&DataFile], hash: bool) -> Result<(), String> {
    let named: Vec<(String, &DataFile)> = expected.iter().map(|f| (f.leaf().to_string(), *f)).collect();
    check_named(dir, &named, hash)
}

/// As [`check_dir`], with each file under the given name instead of its leaf (e.g. the same
/// served file downloaded several times as `f0`, `f1`, …).
pub fn check_named(dir: &Path, expected: &[(String, &DataFile)], hash: bool) -> Result<(), String> {
    let found: BTreeSet<String> = std::fs::read_dir(dir)
        .map_err(|e| format!("read {}: {e}", dir.display()))?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("read {}: {e}", dir.display()))?;
    let wanted: BTreeSet<String> = expected.iter().map(|(name, _)| name.clone()).collect();
    if found != wanted {
        let missing: Vec<_> = wanted.difference(&found).take(5).collect();
        let extra: Vec<_> = found.difference(&wanted).take(5).collect();
        return Err(format!(
            "{} holds {} files instead of {}: missing {missing:?}…, unexpected {extra:?}…",
            dir.display(),
            found.len(),
            wanted.len()
        ));
    }
    for (name, f) in expected {
        let path = dir.join(name);
        let len = std::fs::metadata(&path).map_err(|e| format!("{}: {e}", path.display()))?.len();
        if len != f.size {
            return Err(format!("{}: {len} bytes instead of {}", path.display(), f.size));
        }
        if hash && sha256_file(&path).map_err(|e| format!("{}: {e}", path.display()))? != f.sha256 {
            return Err(format!("{}: SHA-256 differs from the served {}", path.display(), f.path));
        }
    }
    Ok(())
}
