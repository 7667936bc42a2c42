//! Backup and restore. The journal is the truth, so a backup is a copy of its segments and
//! a restore is that copy plus a rebuild of the derived state.
//!
//! A backup of a running service is consistent without stopping it: segments are
//! append-only and never rewritten, so copying them in order gives a prefix of the journal.
//! A record being written while the last segment is copied may be cut; the backup is then
//! checked by opening it as a journal, whose recovery truncates a torn tail, so the backup
//! holds exactly the complete records (every acknowledged event up to the copy, and perhaps
//! a few more that were being acknowledged). Never touches a running service's files but to
//! read them.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use thiserror::Error;

use crate::server::{self, ServeError};
use crate::store::journal::{journal_dir, Journal, JournalConfig, JournalError};

/// What a backup or a restore did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupReport {
    /// Segment files copied.
    pub segments: usize,
    /// Bytes copied.
    pub bytes: u64,
    /// Complete journal records in the copy.
    pub records: u64,
    /// Sequence of the last record in the copy.
    pub last_seq: u64,
}

/// Why a backup or restore failed.
#[derive(Debug, Error)]
pub enum BackupError {
    /// A file could not be read, written or listed.
    #[error("cannot {op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The destination already holds data.
    #[error("{0} is not empty; back up or restore into a new folder")]
    NotEmpty(PathBuf),
    /// The source holds no journal.
    #[error("{0} holds no journal (expected a `journal` folder)")]
    NoJournal(PathBuf),
    /// The copy is not a valid journal.
    #[error("the copied journal is not valid: {0}")]
    Journal(#[from] JournalError),
    /// The state could not be rebuilt from the restored journal.
    #[error("rebuilding the state failed: {0}")]
    Rebuild(#[from] ServeError),
}

/// Copies the journal of `data_dir` (running or not) into `dest/journal` and checks it.
///
/// # Errors
/// [`BackupError`] if `dest` is not empty, a file cannot be copied, or the copy is invalid.
pub fn backup(data_dir: &Path, dest: &Path) -> Result<BackupReport, BackupError> {
    let source = journal_dir(data_dir);
    if !source.is_dir() {
        return Err(BackupError::NoJournal(data_dir.to_path_buf()));
    }
    ensure_empty(dest)?;
    let target = journal_dir(dest);
    fs::create_dir_all(&target).map_err(io("create", &target))?;
    let mut names: Vec<PathBuf> = fs::read_dir(&source)
        .map_err(io("list", &source))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "seg"))
        .collect();
    // Names are zero-padded first sequence numbers: lexical order is journal order.
    names.sort();
    let mut bytes = 0;
    for path in &names {
        let name = path.file_name().unwrap_or_default();
        bytes += copy_prefix(path, &target.join(name))?;
    }
    sync_dir(&target)?;
    let journal = Journal::open(&target, JournalConfig::default())?;
    let recovery = journal.recovery();
    Ok(BackupReport {
        segments: names.len(),
        bytes,
        records: recovery.records,
        last_seq: recovery.last_seq,
    })
}

/// Restores a backup into a new data folder and rebuilds the derived state from it;
/// `progress` is told how far the rebuild has come.
///
/// # Errors
/// [`BackupError`] if `data_dir` is not empty, the backup is invalid, or the rebuild fails.
pub async fn restore(
    backup_dir: &Path,
    data_dir: &Path,
    progress: server::ReplayProgress<'_>,
) -> Result<BackupReport, BackupError> {
    let source = journal_dir(backup_dir);
    if !source.is_dir() {
        return Err(BackupError::NoJournal(backup_dir.to_path_buf()));
    }
    ensure_empty(data_dir)?;
    let report = backup(backup_dir, data_dir)?;
    server::rebuild(data_dir, progress).await?;
    Ok(report)
}

fn ensure_empty(dir: &Path) -> Result<(), BackupError> {
    if !dir.exists() {
        return fs::create_dir_all(dir).map_err(io("create", dir));
    }
    let mut entries = fs::read_dir(dir).map_err(io("list", dir))?;
    if entries.next().is_some() {
        return Err(BackupError::NotEmpty(dir.to_path_buf()));
    }
    Ok(())
}

/// Copies the bytes of `from` present now (a prefix while it grows) and syncs the copy.
fn copy_prefix(from: &Path, to: &Path) -> Result<u64, BackupError> {
    let mut input = fs::File::open(from).map_err(io("open", from))?;
    let len = input.metadata().map_err(io("stat", from))?.len();
    let mut output = fs::File::create(to).map_err(io("create", to))?;
    let mut remaining = len;
    let mut buffer = vec![0_u8; 1 << 20];
    while remaining > 0 {
        let want = usize::try_from(remaining.min(buffer.len() as u64)).unwrap_or(buffer.len());
        let got = input.read(&mut buffer[..want]).map_err(io("read", from))?;
        if got == 0 {
            break;
        }
        output.write_all(&buffer[..got]).map_err(io("write", to))?;
        remaining -= got as u64;
    }
    output.sync_all().map_err(io("sync", to))?;
    Ok(len - remaining)
}

fn sync_dir(dir: &Path) -> Result<(), BackupError> {
    fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(io("sync", dir))
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl Fn(std::io::Error) -> BackupError + 'a {
    move |source| BackupError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}
