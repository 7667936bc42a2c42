//! The file operations the journal needs, behind a trait so that a simulated disk can replace
//! the real one.
//!
//! Owns [`Disk`] and its implementation over `std::fs`, [`RealDisk`]. It must never add behavior
//! beyond the operating system's (no buffering that outlives a call, no retries): the journal's
//! durability argument is made against exactly these calls.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::path::Path;

/// The file operations of the journal.
///
/// Durability follows POSIX: bytes passed to [`Disk::write_all`] may be lost by a crash until
/// [`Disk::sync_data`] on that file returned `Ok`, and a new file's directory entry may be lost
/// until [`Disk::sync_dir`] on its directory returned `Ok`. A failed sync leaves it unknown
/// what reached the disk, and a later sync may report success without writing the lost pages.
pub trait Disk: Send + Sync + 'static {
    /// An open file that writes go to the end of.
    type AppendFile: Send + 'static;
    /// A reader over a file from its first byte.
    type Reader: Read + Send + 'static;

    /// Creates `dir` and its missing parents.
    ///
    /// # Errors
    /// The operating system's error.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;

    /// Returns the names of the regular files directly in `dir`, in no particular order.
    ///
    /// # Errors
    /// The operating system's error.
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;

    /// Creates the new, empty file `path` for appending; fails if it exists.
    ///
    /// # Errors
    /// The operating system's error, `AlreadyExists` if the file exists.
    fn create(&self, path: &Path) -> io::Result<Self::AppendFile>;

    /// Opens the existing file `path` for appending.
    ///
    /// # Errors
    /// The operating system's error, `NotFound` if the file does not exist.
    fn open_append(&self, path: &Path) -> io::Result<Self::AppendFile>;

    /// Appends all of `bytes` to `file`; on error an unknown prefix may have been appended.
    ///
    /// # Errors
    /// The operating system's error.
    fn write_all(&self, file: &mut Self::AppendFile, bytes: &[u8]) -> io::Result<()>;

    /// Makes every byte written to `file` durable (`fdatasync`).
    ///
    /// # Errors
    /// The operating system's error; the file's durable content is then unknown.
    fn sync_data(&self, file: &mut Self::AppendFile) -> io::Result<()>;

    /// Makes the entries of `dir` durable (`fsync` on the directory).
    ///
    /// # Errors
    /// The operating system's error.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;

    /// Opens `path` for reading from its first byte.
    ///
    /// # Errors
    /// The operating system's error.
    fn open_read(&self, path: &Path) -> io::Result<Self::Reader>;

    /// Cuts `path` to `len` bytes and makes the file durable (`fsync`).
    ///
    /// # Errors
    /// The operating system's error.
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()>;
}

/// The real disk, through `std::fs`.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealDisk;

/// Read buffer size for segment scans; records are usually far smaller than this.
const READ_BUFFER_BYTES: usize = 256 * 1024;

impl Disk for RealDisk {
    type AppendFile = File;
    type Reader = BufReader<File>;

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            if !entry.file_type()?.is_file() {
                continue;
            }
            // A name that is not UTF-8 cannot be a segment name; skipping it is enough.
            if let Ok(name) = entry.file_name().into_string() {
                names.push(name);
            }
        }
        Ok(names)
    }

    fn create(&self, path: &Path) -> io::Result<File> {
        OpenOptions::new().append(true).create_new(true).open(path)
    }

    fn open_append(&self, path: &Path) -> io::Result<File> {
        OpenOptions::new().append(true).open(path)
    }

    fn write_all(&self, file: &mut File, bytes: &[u8]) -> io::Result<()> {
        file.write_all(bytes)
    }

    fn sync_data(&self, file: &mut File) -> io::Result<()> {
        file.sync_data()
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }

    fn open_read(&self, path: &Path) -> io::Result<BufReader<File>> {
        Ok(BufReader::with_capacity(
            READ_BUFFER_BYTES,
            File::open(path)?,
        ))
    }

    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let file = OpenOptions::new().write(true).open(path)?;
        file.set_len(len)?;
        file.sync_all()
    }
}
