//! dunghan under test: a real `dunghan serve` process (the release binary) on a loopback
//! port and a fresh data folder, reached over gRPC with the generated clients.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use chrono::{DateTime, Utc};
use dunghan::demo::province::PROVINCE_UNIT;
use dunghan::proto::v1 as pb;
use pb::alert_service_client::AlertServiceClient;
use pb::catalog_service_client::CatalogServiceClient;
use pb::ingest_service_client::IngestServiceClient;
use pb::query_service_client::QueryServiceClient;
use tokio::sync::mpsc;
use tonic::transport::Channel;

use crate::system::{self, AlertArrival, System, Tally, Totals};
use crate::workload::timestamp;

/// How long a start (or a restart after a kill) may take before the run fails.
const START_LIMIT: Duration = Duration::from_secs(600);

/// A running `dunghan serve` and its clients.
#[derive(Debug)]
pub(crate) struct Dunghan {
    binary: PathBuf,
    data_dir: PathBuf,
    log: PathBuf,
    port: u16,
    child: Option<Child>,
    /// Connection of the queries, alerts and catalog.
    channel: Channel,
    /// One connection per ingest client.
    clients: Vec<Channel>,
}

impl Dunghan {
    /// Starts `binary serve` on a free port with `data_dir` (created fresh by the server),
    /// logging to `log`, and waits until it answers.
    pub(crate) async fn start(binary: &Path, data_dir: &Path, log: &Path) -> Result<Dunghan> {
        let port = system::free_port()?;
        let child = spawn(binary, data_dir, log, port)?;
        let channel = wait_ready(port, "").await?;
        Ok(Dunghan {
            binary: binary.to_owned(),
            data_dir: data_dir.to_owned(),
            log: log.to_owned(),
            port,
            child: Some(child),
            channel,
            clients: Vec::new(),
        })
    }

    /// Loads the benchmark catalog document.
    pub(crate) async fn load_catalog(&self, document: &str) -> Result<()> {
        let response = CatalogServiceClient::new(self.channel.clone())
            .load_catalog(pb::LoadCatalogRequest {
                document: document.to_owned(),
                format: pb::CatalogFormat::Toml as i32,
                document_name: "bench-catalog.toml".to_owned(),
                dry_run: false,
            })
            .await
            .context("CatalogService.LoadCatalog")?
            .into_inner();
        if !response.applied {
            bail!(
                "dunghan refused the benchmark catalog: {:?}",
                response.diagnostics
            );
        }
        Ok(())
    }

    /// The process id of the server.
    fn pid(&self) -> Result<u32> {
        self.child
            .as_ref()
            .map(Child::id)
            .context("the dunghan server is not running")
    }

    fn query(&self) -> QueryServiceClient<Channel> {
        QueryServiceClient::new(self.channel.clone()).max_decoding_message_size(64 * 1024 * 1024)
    }
}

impl System for Dunghan {
    fn name(&self) -> &'static str {
        "dunghan"
    }

    async fn open_clients(&mut self, n: usize) -> Result<()> {
        self.clients.clear();
        for _ in 0..n {
            self.clients.push(connect(self.port).await?);
        }
        Ok(())
    }

    async fn ingest(&self, client: usize, events: Vec<pb::Event>) -> Result<Tally> {
        let channel = self
            .clients
            .get(client)
            .with_context(|| format!("no ingest client {client}"))?;
        let live = events
            .first()
            .is_some_and(|e| e.file_id.starts_with("bench-"));
        let response = IngestServiceClient::new(channel.clone())
            .ingest_batch(pb::IngestBatchRequest {
                events,
                // The workload is simulated history (2024–2025): a backfill, as `dunghan demo`
                // sends it, so the backdating rule does not fire on every event. The alert
                // probes are live events.
                backfill: !live,
            })
            .await
            .context("IngestService.IngestBatch")?
            .into_inner();
        report_rejections(&response);
        Ok(Tally {
            accepted: u64::from(response.accepted),
            duplicates: u64::from(response.duplicates),
            other: u64::from(response.conflicts) + u64::from(response.rejected),
        })
    }

    async fn stats(&self) -> Result<Totals> {
        let response = self
            .query()
            .get_stats(pb::GetStatsRequest {
                group_by: pb::StatsGroupBy::Unit as i32,
                subtree_unit_id: PROVINCE_UNIT.to_owned(),
                period: None,
                as_of: None,
                unit_depth: 1,
            })
            .await
            .context("QueryService.GetStats")?
            .into_inner();
        let total = response
            .total
            .and_then(|row| row.counts)
            .unwrap_or_default();
        Ok(Totals {
            early: total.early,
            on_time: total.on_time,
            late: total.late,
            within_time: total.within_time,
            overdue: total.overdue,
            not_counted: total.not_counted,
            rows: response.rows.len(),
        })
    }

    async fn leaderboard(&self) -> Result<usize> {
        let response = self
            .query()
            .get_leaderboard(pb::GetLeaderboardRequest {
                subject: pb::LeaderboardSubject::Officers as i32,
                rank_by: pb::LeaderboardRankBy::LateWorkingTime as i32,
                subtree_unit_id: PROVINCE_UNIT.to_owned(),
                period: None,
                limit: 50,
            })
            .await
            .context("QueryService.GetLeaderboard")?
            .into_inner();
        Ok(response.entries.len())
    }

    async fn report(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> Result<u64> {
        let response = self
            .query()
            .get_report(pb::GetReportRequest {
                subtree_unit_id: PROVINCE_UNIT.to_owned(),
                period: Some(pb::Period {
                    start: Some(timestamp(start)),
                    end: Some(timestamp(end)),
                }),
            })
            .await
            .context("QueryService.GetReport")?
            .into_inner();
        Ok(response
            .total
            .and_then(|row| row.received)
            .map_or(0, |received| received.total))
    }

    async fn file(&self, file_id: &str) -> Result<usize> {
        let response = self
            .query()
            .get_file(pb::GetFileRequest {
                file_id: file_id.to_owned(),
                as_of: None,
            })
            .await
            .with_context(|| format!("QueryService.GetFile {file_id}"))?
            .into_inner();
        Ok(response.file.map_or(0, |file| file.timeline.len()))
    }

    async fn tail_alerts(
        &self,
        kind: pb::AlertKind,
    ) -> Result<mpsc::UnboundedReceiver<AlertArrival>> {
        let mut alerts = AlertServiceClient::new(self.channel.clone());
        let last = alerts
            .list_alerts(pb::ListAlertsRequest {
                page_size: 1,
                ..Default::default()
            })
            .await
            .context("AlertService.ListAlerts")?
            .into_inner()
            .last_stored_sequence;
        let mut stream = alerts
            .tail(pb::TailRequest {
                after_sequence: last,
                filter: Some(pb::AlertFilter {
                    kinds: vec![kind as i32],
                    ..Default::default()
                }),
            })
            .await
            .context("AlertService.Tail")?
            .into_inner();
        let (sender, receiver) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(Some(alert)) = stream.message().await {
                if sender.send((alert.file_id, Instant::now())).is_err() {
                    break;
                }
            }
        });
        Ok(receiver)
    }

    fn memory_bytes(&self) -> Result<u64> {
        system::vm_rss(self.pid()?)
    }

    fn cpu_seconds(&self) -> Result<f64> {
        system::cpu_seconds(self.pid()?)
    }

    fn disk_bytes(&self) -> Result<u64> {
        system::du_bytes(&self.data_dir)
    }

    async fn kill_and_recover(&mut self) -> Result<Duration> {
        let mut child = self
            .child
            .take()
            .context("the dunghan server is not running")?;
        let killed_at = Instant::now();
        child.kill().context("SIGKILL to dunghan serve")?;
        child.wait().context("reaping dunghan serve")?;
        self.child = Some(spawn(&self.binary, &self.data_dir, &self.log, self.port)?);
        self.channel = wait_ready(self.port, PROVINCE_UNIT).await?;
        Ok(killed_at.elapsed())
    }

    async fn shutdown(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            // SIGKILL is enough: the data folder is thrown away after the run.
            child.kill().context("stopping dunghan serve")?;
            child.wait().context("reaping dunghan serve")?;
        }
        Ok(())
    }
}

impl Drop for Dunghan {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Prints the first few events dunghan did not store, with its reason, so that a run
/// whose "other" count is not zero can be explained.
fn report_rejections(response: &pb::IngestBatchResponse) {
    static PRINTED: AtomicUsize = AtomicUsize::new(0);
    for result in &response.results {
        let accepted = result.outcome == pb::EventOutcome::Accepted as i32
            || result.outcome == pb::EventOutcome::Duplicate as i32;
        if accepted || PRINTED.fetch_add(1, Ordering::Relaxed) >= 5 {
            continue;
        }
        let reason = result
            .rejection
            .as_ref()
            .map(|r| format!("{} {}: {}", r.field_path, r.value, r.message))
            .or_else(|| result.conflict.as_ref().map(|c| c.description.clone()))
            .unwrap_or_default();
        eprintln!(
            "dunghan did not store event {} (outcome {}): {reason}",
            result.event_id, result.outcome
        );
    }
}

/// Spawns `binary serve`, its output appended to `log`.
fn spawn(binary: &Path, data_dir: &Path, log: &Path, port: u16) -> Result<Child> {
    let log_file = File::options()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("opening {}", log.display()))?;
    let err_file = log_file
        .try_clone()
        .with_context(|| format!("opening {}", log.display()))?;
    let child = Command::new(binary)
        .arg("serve")
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(data_dir)
        // Lifecycle lines only (requests log at debug): the log then shows where a restart
        // spends its time (journal recovery, replay into the state, serving).
        .arg("--log")
        .arg("info")
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(err_file)
        .spawn()
        .with_context(|| format!("starting {} serve", binary.display()))?;
    if let Ok(pid_file) = std::env::var("DUNGHAN_BENCH_PID_FILE") {
        // For the run script's cleanup trap, should this process die before its Drop runs.
        let _ = std::fs::write(pid_file, child.id().to_string());
    }
    Ok(child)
}

async fn connect(port: u16) -> Result<Channel> {
    Channel::from_shared(format!("http://127.0.0.1:{port}"))
        .context("endpoint")?
        .connect()
        .await
        .with_context(|| format!("connecting to dunghan on 127.0.0.1:{port}"))
}

/// Waits until a stats query over `subtree` answers; returns the connection that did.
async fn wait_ready(port: u16, subtree: &str) -> Result<Channel> {
    system::wait_until("dunghan serve", START_LIMIT, || async move {
        let channel = connect(port).await?;
        QueryServiceClient::new(channel.clone())
            .get_stats(pb::GetStatsRequest {
                subtree_unit_id: subtree.to_owned(),
                ..Default::default()
            })
            .await
            .context("QueryService.GetStats")?;
        Ok(channel)
    })
    .await
}
