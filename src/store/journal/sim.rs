//! A simulated disk for deterministic tests of the journal.
//!
//! Owns [`SimDisk`], an in-memory [`Disk`] that models the page cache: written bytes are
//! volatile until synced, a crash drops them (or keeps a prefix, possibly with garbage), a new
//! file's entry is volatile until its directory is synced, and a sync can be made to fail the
//! way Linux fails it (the unsynced pages may be partly written and the rest silently lost, so a
//! later "successful" sync does not bring them back). It must never read the clock or any other
//! source of randomness than its seed, so that one seed is one reproducible run.

use std::collections::BTreeMap;
use std::io::{self, Cursor};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::disk::Disk;

/// A small deterministic random number generator (SplitMix64).
///
/// Hand-rolled so that simulation runs do not depend on an external crate's stream.
#[derive(Debug, Clone)]
pub struct SimRng {
    state: u64,
}

/// An in-memory disk with a page cache, crashes and injected faults; see the module docs.
#[derive(Debug)]
pub struct SimDisk {
    state: Mutex<SimState>,
}

/// A handle on a simulated file open for appending.
///
/// It stops working after [`SimDisk::crash`], like the file descriptors of a dead process.
#[derive(Debug)]
pub struct SimFile {
    path: PathBuf,
    generation: u64,
}

#[derive(Debug)]
struct SimState {
    rng: SimRng,
    files: BTreeMap<PathBuf, FileState>,
    /// Incremented by every crash; handles from an older generation fail.
    generation: u64,
    fail_next_sync: bool,
    fail_next_write: bool,
    /// Mutating operations left before the simulated process dies; `Some(0)` means dead.
    halt_countdown: Option<u64>,
}

/// Whether a mutating operation runs, given [`SimDisk::halt_after`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tick {
    Run,
    /// The process dies during this operation: a write applies a random prefix, then fails.
    Dying,
    Dead,
}

#[derive(Debug, Default)]
struct FileState {
    /// What reads see: the page cache.
    visible: Vec<u8>,
    /// What survives a crash.
    durable: Vec<u8>,
    /// After a failed sync, bytes of `visible` in `durable.len()..lost_end` were dropped by the
    /// kernel: they never become durable, whatever later syncs report.
    lost_end: usize,
    /// Whether the directory entry survives a crash.
    entry_durable: bool,
}

impl SimRng {
    /// Returns a generator whose stream is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        SimRng { state: seed }
    }

    /// Returns the next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Returns a number in `0..bound`, or 0 if `bound` is 0.
    pub fn below(&mut self, bound: u64) -> u64 {
        if bound == 0 {
            return 0;
        }
        self.next_u64() % bound
    }

    /// Returns `true` with probability `numerator / denominator`.
    pub fn chance(&mut self, numerator: u64, denominator: u64) -> bool {
        self.below(denominator) < numerator
    }
}

impl SimDisk {
    /// Returns an empty simulated disk whose random choices are fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        SimDisk {
            state: Mutex::new(SimState {
                rng: SimRng::new(seed),
                files: BTreeMap::new(),
                generation: 0,
                fail_next_sync: false,
                fail_next_write: false,
                halt_countdown: None,
            }),
        }
    }

    /// Simulates a power loss: every file keeps its durable bytes plus a random prefix of its
    /// unsynced bytes, sometimes with garbage in that prefix (a partially written page), and a
    /// file whose directory entry was never synced may vanish.
    ///
    /// Open handles stop working, and pending fault injections are cleared.
    pub fn crash(&self) {
        let mut state = self.lock();
        let SimState {
            rng,
            files,
            generation,
            fail_next_sync,
            fail_next_write,
            halt_countdown,
        } = &mut *state;
        *generation += 1;
        *fail_next_sync = false;
        *fail_next_write = false;
        *halt_countdown = None;
        files.retain(|_, file| file.entry_durable || rng.chance(1, 2));
        for file in files.values_mut() {
            let mut kept = file.durable.clone();
            let pending = file.pending_bytes();
            let n_kept = match rng.below(3) {
                0 => 0,
                1 => pending.len(),
                _ => rng.below(pending.len() as u64 + 1) as usize,
            };
            let start = kept.len();
            kept.extend_from_slice(&pending[..n_kept]);
            if n_kept > 0 && rng.chance(1, 4) {
                // A page that reached the disk only partly: a run of garbage in the kept tail.
                let from = start + rng.below(n_kept as u64) as usize;
                let to = (from + 1 + rng.below(64) as usize).min(kept.len());
                for byte in &mut kept[from..to] {
                    *byte = rng.next_u64() as u8;
                }
            }
            file.durable = kept.clone();
            file.visible = kept;
            file.lost_end = 0;
            file.entry_durable = true;
        }
    }

    /// Makes the next `sync_data`, `sync_dir` or `truncate` fail.
    pub fn fail_next_sync(&self) {
        self.lock().fail_next_sync = true;
    }

    /// Makes the next `write_all` append a random prefix of its bytes, then fail.
    pub fn fail_next_write(&self) {
        self.lock().fail_next_write = true;
    }

    /// Simulates the process dying during the `n_ops`-th next mutating operation (create,
    /// write, sync, truncate; 0 and 1 both mean the next one).
    ///
    /// That operation fails, a write after appending a random prefix of its bytes; every later
    /// mutating operation fails without effect until [`SimDisk::crash`]. Reads keep working.
    pub fn halt_after(&self, n_ops: u64) {
        self.lock().halt_countdown = Some(n_ops.max(1));
    }

    /// Clears pending fault injections.
    pub fn clear_faults(&self) {
        let mut state = self.lock();
        state.fail_next_sync = false;
        state.fail_next_write = false;
    }

    /// Returns what reads of `path` see now, or `None` if there is no such file.
    pub fn visible_bytes(&self, path: &Path) -> Option<Vec<u8>> {
        self.lock().files.get(path).map(|file| file.visible.clone())
    }

    /// Overwrites the byte at `offset` of `path`, both cached and durable, as bit rot would.
    ///
    /// Does nothing if the file or offset does not exist.
    pub fn corrupt_byte(&self, path: &Path, offset: usize) {
        let mut state = self.lock();
        let Some(file) = state.files.get_mut(path) else {
            return;
        };
        for bytes in [&mut file.visible, &mut file.durable] {
            if let Some(byte) = bytes.get_mut(offset) {
                *byte ^= 0xFF;
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, SimState> {
        // A panic while holding the lock is a test failure already; the state stays usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl SimState {
    fn tick(&mut self) -> Tick {
        match &mut self.halt_countdown {
            None => Tick::Run,
            Some(0) => Tick::Dead,
            Some(left) => {
                *left -= 1;
                if *left == 0 {
                    Tick::Dying
                } else {
                    Tick::Run
                }
            }
        }
    }

    /// Fails a mutating operation that has no partial effect, if the process is dying or dead.
    fn check_alive(&mut self) -> io::Result<()> {
        match self.tick() {
            Tick::Run => Ok(()),
            Tick::Dying | Tick::Dead => Err(halted()),
        }
    }

    fn file_for(&mut self, handle: &SimFile) -> io::Result<&mut FileState> {
        if handle.generation != self.generation {
            return Err(io::Error::other("simulated handle from before a crash"));
        }
        self.files
            .get_mut(&handle.path)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "simulated file removed"))
    }
}

impl FileState {
    /// The bytes a crash may drop: those beyond the durable ones, with the pages a failed sync
    /// lost reading as zeros (what the disk holds there).
    fn pending_bytes(&self) -> Vec<u8> {
        let mut pending = self
            .visible
            .get(self.durable.len()..)
            .unwrap_or_default()
            .to_vec();
        let n_lost = self
            .lost_end
            .saturating_sub(self.durable.len())
            .min(pending.len());
        pending[..n_lost].fill(0);
        pending
    }

    fn sync_ok(&mut self) {
        let pending = self.pending_bytes();
        if self.visible.len() < self.durable.len() {
            self.durable.truncate(self.visible.len());
        }
        self.durable.extend_from_slice(&pending);
        self.lost_end = 0;
    }

    fn sync_failed(&mut self, rng: &mut SimRng) {
        let pending = self.pending_bytes();
        let n_written = rng.below(pending.len() as u64 + 1) as usize;
        self.durable.extend_from_slice(&pending[..n_written]);
        self.lost_end = self.visible.len();
    }
}

impl Disk for SimDisk {
    type AppendFile = SimFile;
    type Reader = Cursor<Vec<u8>>;

    fn create_dir_all(&self, _dir: &Path) -> io::Result<()> {
        // Directories are implicit in the paths of files.
        Ok(())
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let state = self.lock();
        let names = state
            .files
            .keys()
            .filter(|path| path.parent() == Some(dir))
            .filter_map(|path| path.file_name()?.to_str().map(str::to_owned))
            .collect();
        Ok(names)
    }

    fn create(&self, path: &Path) -> io::Result<SimFile> {
        let mut state = self.lock();
        state.check_alive()?;
        if state.files.contains_key(path) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "simulated file exists",
            ));
        }
        state.files.insert(path.to_owned(), FileState::default());
        Ok(SimFile {
            path: path.to_owned(),
            generation: state.generation,
        })
    }

    fn open_append(&self, path: &Path) -> io::Result<SimFile> {
        let state = self.lock();
        if !state.files.contains_key(path) {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "no such simulated file",
            ));
        }
        Ok(SimFile {
            path: path.to_owned(),
            generation: state.generation,
        })
    }

    fn write_all(&self, handle: &mut SimFile, bytes: &[u8]) -> io::Result<()> {
        let mut state = self.lock();
        let tick = state.tick();
        if tick == Tick::Dead {
            return Err(halted());
        }
        let fail = std::mem::take(&mut state.fail_next_write) || tick == Tick::Dying;
        let n_written = if fail {
            state.rng.below(bytes.len() as u64 + 1) as usize
        } else {
            bytes.len()
        };
        state
            .file_for(handle)?
            .visible
            .extend_from_slice(&bytes[..n_written]);
        if fail {
            return Err(io::Error::other("simulated write failure"));
        }
        Ok(())
    }

    fn sync_data(&self, handle: &mut SimFile) -> io::Result<()> {
        let mut state = self.lock();
        state.check_alive()?;
        let fail = std::mem::take(&mut state.fail_next_sync);
        let mut rng = state.rng.clone();
        let file = state.file_for(handle)?;
        if fail {
            file.sync_failed(&mut rng);
        } else {
            file.sync_ok();
        }
        state.rng = rng;
        if fail {
            return Err(io::Error::other("simulated sync failure"));
        }
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut state = self.lock();
        state.check_alive()?;
        if std::mem::take(&mut state.fail_next_sync) {
            return Err(io::Error::other("simulated directory sync failure"));
        }
        for (path, file) in state.files.iter_mut() {
            if path.parent() == Some(dir) {
                file.entry_durable = true;
            }
        }
        Ok(())
    }

    fn open_read(&self, path: &Path) -> io::Result<Cursor<Vec<u8>>> {
        self.visible_bytes(path)
            .map(Cursor::new)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such simulated file"))
    }

    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let mut state = self.lock();
        state.check_alive()?;
        let fail = std::mem::take(&mut state.fail_next_sync);
        let file = state
            .files
            .get_mut(path)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such simulated file"))?;
        let len = usize::try_from(len).map_err(io::Error::other)?;
        file.visible.truncate(len);
        if fail {
            return Err(io::Error::other("simulated sync failure after truncate"));
        }
        file.sync_ok();
        file.entry_durable = true;
        Ok(())
    }
}

fn halted() -> io::Error {
    io::Error::other("simulated process death")
}

#[cfg(test)]
mod tests {
    // Tests may unwrap: a panic is the failure report.
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn path() -> PathBuf {
        PathBuf::from("/sim/journal/f")
    }

    #[test]
    fn journal_sim_synced_bytes_survive_a_crash() {
        for seed in 0..50 {
            let disk = SimDisk::new(seed);
            let mut file = disk.create(&path()).unwrap();
            disk.sync_dir(Path::new("/sim/journal")).unwrap();
            disk.write_all(&mut file, b"synced").unwrap();
            disk.sync_data(&mut file).unwrap();
            disk.write_all(&mut file, b"volatile").unwrap();
            disk.crash();
            let bytes = disk.visible_bytes(&path()).unwrap();
            assert!(bytes.starts_with(b"synced"), "seed {seed}: {bytes:?}");
            assert!(bytes.len() <= b"syncedvolatile".len());
        }
    }

    #[test]
    fn journal_sim_handles_die_with_the_crash() {
        let disk = SimDisk::new(1);
        let mut file = disk.create(&path()).unwrap();
        disk.crash();
        assert!(disk.write_all(&mut file, b"x").is_err());
    }

    /// The fsyncgate lesson, as the simulator models it: after a failed sync, a second sync
    /// reports success but the bytes lost by the first are not on disk.
    #[test]
    fn journal_sim_retried_sync_does_not_bring_back_lost_pages() {
        let lost_somewhere = (0..50).any(|seed| {
            let disk = SimDisk::new(seed);
            let mut file = disk.create(&path()).unwrap();
            disk.sync_dir(Path::new("/sim/journal")).unwrap();
            disk.write_all(&mut file, b"acknowledged?").unwrap();
            disk.fail_next_sync();
            assert!(disk.sync_data(&mut file).is_err());
            disk.sync_data(&mut file).unwrap();
            disk.crash();
            disk.visible_bytes(&path()).unwrap() != b"acknowledged?"
        });
        assert!(lost_somewhere);
    }
}
