//! What the harness asks of a system under test, and the process measurements shared by
//! both (resident memory, disk use, free ports).

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use chrono::{DateTime, Utc};
use dunghan::proto::v1 as pb;
use tokio::sync::mpsc;

/// Outcomes of ingested events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    /// New events, stored.
    pub(crate) accepted: u64,
    /// Same id and content as a stored event.
    pub(crate) duplicates: u64,
    /// Anything else (conflicts, rejections).
    pub(crate) other: u64,
}

/// Verdict totals of a stats query, to check that both systems hold the same files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Totals {
    /// Finished early.
    pub(crate) early: u64,
    /// Finished on time.
    pub(crate) on_time: u64,
    /// Finished late.
    pub(crate) late: u64,
    /// Open within time.
    pub(crate) within_time: u64,
    /// Open and overdue.
    pub(crate) overdue: u64,
    /// Not accepted at the desk.
    pub(crate) not_counted: u64,
    /// Rows (units) in the answer.
    pub(crate) rows: usize,
}

/// An alert that reached the tailing client: its file and when it arrived.
pub(crate) type AlertArrival = (String, Instant);

/// A system under test, reached over the network from this process.
pub(crate) trait System {
    /// Short name for tables: `dunghan` or `PostgreSQL`.
    fn name(&self) -> &'static str;

    /// Opens `n` client connections for the ingest phases (replacing earlier ones).
    async fn open_clients(&mut self, n: usize) -> Result<()>;

    /// Ingests `events` in one call (one transaction), through client `client`.
    async fn ingest(&self, client: usize, events: Vec<pb::Event>) -> Result<Tally>;

    /// Province-wide verdict counts by unit.
    async fn stats(&self) -> Result<Totals>;

    /// Top 50 officers by late working time; returns the number of entries.
    async fn leaderboard(&self) -> Result<usize>;

    /// Form II.06a of the province for `[start, end)`; returns the total received.
    async fn report(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> Result<u64>;

    /// One file with its timeline; returns the number of events in it.
    async fn file(&self, file_id: &str) -> Result<usize>;

    /// Subscribes to the alerts of `kind` that fire from now on; arrivals are sent on the
    /// returned channel with the instant they reached this process.
    async fn tail_alerts(
        &self,
        kind: pb::AlertKind,
    ) -> Result<mpsc::UnboundedReceiver<AlertArrival>>;

    /// Resident memory of the server's processes, bytes.
    fn memory_bytes(&self) -> Result<u64>;

    /// CPU time (user + system) the server's processes have used so far, seconds.
    fn cpu_seconds(&self) -> Result<f64>;

    /// Bytes the server's data folder takes on disk.
    fn disk_bytes(&self) -> Result<u64>;

    /// Kills the server with SIGKILL, starts it again on the same data, and returns the time
    /// from the kill until the first stats query answered.
    async fn kill_and_recover(&mut self) -> Result<Duration>;

    /// Stops the server and deletes nothing (the caller removes the folder).
    async fn shutdown(&mut self) -> Result<()>;
}

/// An unused loopback port (bound then released; the server binds it right after).
pub(crate) fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0")?;
    Ok(listener.local_addr().context("local address")?.port())
}

/// `VmRSS` of a process, bytes.
pub(crate) fn vm_rss(pid: u32) -> Result<u64> {
    status_kib(pid, "VmRSS:").map(|kib| kib * 1_024)
}

/// Proportional set size of a process (`Pss` in smaps_rollup), bytes: shared pages are
/// divided among the processes that map them, so a sum over processes counts them once.
pub(crate) fn pss(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/smaps_rollup");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    field_kib(&text, "Pss:")
        .map(|kib| kib * 1_024)
        .with_context(|| format!("no Pss line in {path}"))
}

/// CPU time (user + system) a process has used, seconds (`/proc/<pid>/stat`).
pub(crate) fn cpu_seconds(pid: u32) -> Result<f64> {
    let path = format!("/proc/{pid}/stat");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    // Fields after the command name (which may hold spaces), from field 3 (state) on:
    // utime is field 14, stime field 15, in clock ticks.
    let after_name = text
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .with_context(|| format!("{path}: no command name"))?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |index: usize| -> Result<u64> {
        fields
            .get(index)
            .and_then(|field| field.parse().ok())
            .with_context(|| format!("{path}: field {} is not a number", index + 3))
    };
    Ok((ticks(11)? + ticks(12)?) as f64 / clock_ticks_per_second())
}

/// `getconf CLK_TCK`, 100 if it cannot be read (the value on every Linux target).
fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|output| String::from_utf8_lossy(&output.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// Pids of the children of `parent`.
pub(crate) fn children(parent: u32) -> Vec<u32> {
    let path = format!("/proc/{parent}/task/{parent}/children");
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|pid| pid.parse().ok())
        .collect()
}

/// Bytes of `dir` on disk (`du -sb`).
pub(crate) fn du_bytes(dir: &Path) -> Result<u64> {
    let output = Command::new("du")
        .arg("-sb")
        .arg(dir)
        .output()
        .with_context(|| format!("running du -sb {}", dir.display()))?;
    if !output.status.success() {
        bail!(
            "du -sb {} failed: {}",
            dir.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let text = String::from_utf8_lossy(&output.stdout);
    text.split_whitespace()
        .next()
        .and_then(|bytes| bytes.parse().ok())
        .with_context(|| format!("du -sb {} printed {text:?}", dir.display()))
}

/// Polls `probe` every 10 ms until it succeeds or `limit` passes; returns its answer.
pub(crate) async fn wait_until<T, F, Fut>(what: &str, limit: Duration, mut probe: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let started = Instant::now();
    loop {
        let error = match probe().await {
            Ok(answer) => return Ok(answer),
            Err(err) => err,
        };
        if started.elapsed() > limit {
            return Err(error.context(format!("{what} not ready after {limit:?}")));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn status_kib(pid: u32, field: &str) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    field_kib(&text, field).with_context(|| format!("no {field} line in {path}"))
}

fn field_kib(text: &str, field: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_kib_fields() {
        let text = "Name:\tx\nVmRSS:\t  123456 kB\nVmSwap: 0 kB\n";
        assert_eq!(field_kib(text, "VmRSS:"), Some(123_456));
        assert_eq!(field_kib(text, "Pss:"), None);
    }

    #[test]
    fn own_cpu_time_is_readable() {
        let spent = cpu_seconds(std::process::id()).unwrap();
        assert!(spent >= 0.0, "cpu {spent}");
    }

    #[test]
    fn own_memory_is_readable() {
        let rss = vm_rss(std::process::id()).unwrap();
        assert!(rss > 1_000_000, "rss {rss}");
    }
}
