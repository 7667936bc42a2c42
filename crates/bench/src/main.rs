//! `dunghan-bench`: the benchmark of issue 7. It runs the demo province's workload against a
//! real `dunghan serve` over gRPC and against PostgreSQL 15 with the same semantics through
//! tokio-postgres, one system after the other, and prints both side by side with their
//! ratios (and writes them as Markdown). `bench/run.sh` builds it, installs PostgreSQL if
//! needed and cleans up; see BENCHMARKS.md.
//!
//! Phases, for each system on a fresh data folder:
//! 1. for each file count of `--files` (ascending), ingest the next segment of files in
//!    batches of `--batch-size` events per call from `--batch-clients` clients, then time the
//!    queries (stats, leaderboard, II.06a, a file's timeline), memory and disk;
//! 2. one event per call from `--single-clients` clients, each call awaiting its ack;
//! 3. alert latency: events that break a rule on arrival, from the ack to a tailing client;
//! 4. recovery: SIGKILL, restart, time to the first answered stats query.

mod dunghan_system;
mod latency;
mod pg_system;
mod report;
mod system;
mod workload;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use chrono::Utc;
use clap::Parser;
use dunghan::proto::v1 as pb;
use futures_util::future::join_all;
use tokio::sync::mpsc;

use crate::dunghan_system::Dunghan;
use crate::latency::{Samples, Summary};
use crate::pg_system::{PgSetup, Postgres};
use crate::system::{System, Tally, Totals};
use crate::workload::{stream_segment, timestamp, Context, SegmentInfo};

/// Benchmark dunghan against PostgreSQL 15 on the demo province's workload.
#[derive(Debug, Clone, Parser)]
#[command(version)]
struct Args {
    /// File counts to measure at, ascending, comma-separated; the store grows from one to the
    /// next (e.g. 1000000,5000000).
    #[arg(long, value_delimiter = ',', default_value = "1000000")]
    files: Vec<u64>,
    /// A short run: --files 10000,50000, 5,000 single events, 30 query repetitions, 50 alerts.
    #[arg(long)]
    quick: bool,
    /// Seed of the province and its workload.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Systems to run, comma-separated: dunghan, postgres.
    #[arg(long, value_delimiter = ',', default_value = "dunghan,postgres")]
    systems: Vec<String>,
    /// Scratch folder for both servers' data (emptied of them at the end).
    #[arg(long, required_unless_present = "generator_only")]
    work_dir: Option<PathBuf>,
    /// The dunghan binary (default: `dunghan` next to this binary).
    #[arg(long)]
    dunghan_bin: Option<PathBuf>,
    /// Folder of PostgreSQL's `initdb` and `postgres`.
    #[arg(long, default_value = "/usr/lib/postgresql/15/bin")]
    pg_bin: PathBuf,
    /// The user PostgreSQL runs as when this harness runs as root.
    #[arg(long, default_value = "postgres")]
    pg_user: String,
    /// Events per batched call (and per PostgreSQL transaction).
    #[arg(long, default_value_t = 1_000)]
    batch_size: usize,
    /// Concurrent clients of the batched ingest.
    #[arg(long, default_value_t = 4)]
    batch_clients: usize,
    /// Concurrent clients of the one-event-per-call ingest.
    #[arg(long, default_value_t = 64)]
    single_clients: usize,
    /// Events sent one per call.
    #[arg(long, default_value_t = 30_000)]
    single_events: u64,
    /// Repetitions of each query (fewer if --query-seconds runs out first).
    #[arg(long, default_value_t = 200)]
    query_reps: usize,
    /// Most seconds spent repeating one query at one scale (at least 5 repetitions are made).
    #[arg(long, default_value_t = 60)]
    query_seconds: u64,
    /// Alert-causing events sent, one at a time.
    #[arg(long, default_value_t = 200)]
    alerts: usize,
    /// Write the results as Markdown to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Only time the workload generator over the largest file count (no system is run), to
    /// know how much of the machine the client side takes.
    #[arg(long)]
    generator_only: bool,
    /// Keep the data folders (for inspection) instead of deleting them after each system.
    #[arg(long)]
    keep_data: bool,
}

/// What one ingest phase measured.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ingest {
    /// Events sent.
    pub(crate) events: u64,
    /// Wall time from the first call to the last ack.
    pub(crate) elapsed: Duration,
    /// Latency of each call until its ack.
    pub(crate) calls: Option<Summary>,
    /// Outcomes.
    pub(crate) tally: Tally,
    /// CPU time the server used during the phase, seconds.
    pub(crate) server_cpu: f64,
}

/// Measurements at one file count.
#[derive(Debug, Clone)]
pub(crate) struct Scale {
    /// Files stored.
    pub(crate) files: u64,
    /// Events stored.
    pub(crate) events: u64,
    /// The ingest of this scale's segment.
    pub(crate) ingest: Ingest,
    pub(crate) stats: Option<Summary>,
    pub(crate) leaderboard: Option<Summary>,
    pub(crate) report: Option<Summary>,
    pub(crate) file: Option<Summary>,
    /// Resident memory of the server after the queries, bytes.
    pub(crate) memory: u64,
    /// Resident memory of the server right after the ingest, before the queries, bytes.
    pub(crate) memory_after_ingest: u64,
    /// Data folder on disk, bytes.
    pub(crate) disk: u64,
    /// Verdict totals of the stats query (a check that both hold the same files).
    pub(crate) totals: Totals,
    /// Files received in the II.06a period, per the report.
    pub(crate) report_received: u64,
    /// The II.06a period.
    pub(crate) period: (chrono::DateTime<Utc>, chrono::DateTime<Utc>),
}

/// Everything measured on one system.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    pub(crate) system: &'static str,
    pub(crate) scales: Vec<Scale>,
    /// The batched ingest over every scale.
    pub(crate) batched: Ingest,
    pub(crate) single: Ingest,
    /// From the ack of a rule-breaking event to its alert at a tailing client (zero when
    /// the alert arrived first).
    pub(crate) alerts: Option<Summary>,
    /// From sending that event to its alert at the tailing client.
    pub(crate) alerts_from_send: Option<Summary>,
    /// Alerts that never arrived within 5 s.
    pub(crate) alerts_missed: usize,
    /// From SIGKILL to the first answered stats query.
    pub(crate) recovery: Duration,
    /// Files stored when it was killed.
    pub(crate) recovery_files: u64,
}

#[tokio::main]
async fn main() -> Result<()> {
    let mut args = Args::parse();
    if args.quick {
        args.files = vec![10_000, 50_000];
        args.single_events = 5_000;
        args.query_reps = 30;
        args.query_seconds = 20;
        args.alerts = 50;
    }
    args.files.sort_unstable();
    args.files.dedup();
    if args.files.first() == Some(&0) || args.files.is_empty() {
        bail!("--files {:?}: give positive file counts", args.files);
    }
    if args.generator_only {
        let files = args.files.last().copied().unwrap_or(0);
        let started = Instant::now();
        let info = stream_segment(args.seed, 0, files, |_| true);
        let elapsed = started.elapsed();
        println!(
            "generated {} events of {} files in {:.1} s: {:.0} events/s on one core",
            info.events,
            info.files,
            elapsed.as_secs_f64(),
            per_second(info.events, elapsed)
        );
        return Ok(());
    }
    let work_dir = args.work_dir.clone().context("--work-dir is required")?;
    std::fs::create_dir_all(&work_dir)
        .with_context(|| format!("creating {}", work_dir.display()))?;
    let context = Arc::new(Context::new(args.seed)?);
    let started = Utc::now();
    let mut runs = Vec::new();
    for name in &args.systems {
        let run = match name.as_str() {
            "dunghan" => run_dunghan(&args, &work_dir, &context).await?,
            "postgres" | "postgresql" => run_postgres(&args, &work_dir, &context).await?,
            other => bail!("--systems {other}: choose dunghan or postgres"),
        };
        eprintln!("{}", report::run_summary(&run));
        runs.push(run);
    }
    let markdown = report::markdown(&args_line(&args), started, &runs)?;
    println!("{markdown}");
    if let Some(out) = &args.out {
        std::fs::write(out, &markdown).with_context(|| format!("writing {}", out.display()))?;
        eprintln!("results written to {}", out.display());
    }
    Ok(())
}

async fn run_dunghan(args: &Args, work_dir: &Path, context: &Arc<Context>) -> Result<Run> {
    let binary = match &args.dunghan_bin {
        Some(binary) => binary.clone(),
        None => std::env::current_exe()
            .context("locating this binary")?
            .with_file_name("dunghan"),
    };
    let data_dir = work_dir.join("dunghan-data");
    let log = work_dir.join("dunghan.log");
    eprintln!(
        "dunghan: starting {} on {}",
        binary.display(),
        data_dir.display()
    );
    let mut system = Dunghan::start(&binary, &data_dir, &log).await?;
    system.load_catalog(&context.catalog_toml).await?;
    let run = measure(args, context, &mut system).await;
    system.shutdown().await?;
    remove_data(args, &data_dir)?;
    run
}

async fn run_postgres(args: &Args, work_dir: &Path, context: &Arc<Context>) -> Result<Run> {
    let parent = work_dir.join("postgres");
    std::fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    let run_as = if is_root()? {
        // PostgreSQL refuses to run as root: its folder belongs to the server's user, and
        // the scratch folder must let that user through.
        make_traversable(work_dir)?;
        chown(&parent, &args.pg_user)?;
        Some(args.pg_user.clone())
    } else {
        None
    };
    let setup = PgSetup {
        bin_dir: args.pg_bin.clone(),
        data_dir: parent.join("data"),
        log: work_dir.join("postgres.log"),
        run_as,
    };
    eprintln!(
        "PostgreSQL: initdb and start in {}",
        setup.data_dir.display()
    );
    let mut system = Postgres::start(setup, Arc::clone(context)).await?;
    let run = measure(args, context, &mut system).await;
    system.shutdown().await?;
    remove_data(args, &parent)?;
    run
}

/// Every phase on one started system.
async fn measure<S: System>(args: &Args, context: &Context, system: &mut S) -> Result<Run> {
    let name = system.name();
    let mut scales = Vec::new();
    let mut batched = Ingest::default();
    let mut batched_calls = Samples::default();
    let mut stored_files = 0;
    let mut stored_events = 0;
    let mut first_arrival = None;
    system.open_clients(args.batch_clients).await?;
    for &files in &args.files {
        eprintln!(
            "{name}: ingesting files {}..{files} in batches",
            stored_files + 1
        );
        let cpu_before = system.cpu_seconds()?;
        let (mut ingest, calls, info) = ingest_batched(args, system, stored_files, files).await?;
        ingest.server_cpu = system.cpu_seconds()? - cpu_before;
        stored_files += info.files;
        stored_events += info.events;
        first_arrival = first_arrival.or(info.first_arrival);
        batched.events += ingest.events;
        batched.elapsed += ingest.elapsed;
        batched.server_cpu += ingest.server_cpu;
        add_tally(&mut batched.tally, ingest.tally);
        batched_calls.extend(calls);
        eprintln!(
            "{name}: {} events in {:.1} s ({:.0} events/s)",
            ingest.events,
            ingest.elapsed.as_secs_f64(),
            per_second(ingest.events, ingest.elapsed)
        );
        let memory_after_ingest = system.memory_bytes()?;
        let period = match (first_arrival, info.last_arrival) {
            (Some(first), Some(last)) => workload::report_period(first, last)?,
            _ => bail!("the workload of {files} files has no arrivals"),
        };
        let scale = measure_scale(
            args,
            system,
            stored_files,
            stored_events,
            ingest,
            &info,
            period,
        )
        .await?;
        let scale = Scale {
            memory_after_ingest,
            ..scale
        };
        eprintln!("{}", report::scale_summary(name, &scale));
        scales.push(scale);
    }
    batched.calls = batched_calls.summary();

    let largest = args.files.last().copied().unwrap_or(0);
    eprintln!(
        "{name}: one event per call, {} clients",
        args.single_clients
    );
    system.open_clients(args.single_clients).await?;
    let cpu_before = system.cpu_seconds()?;
    let (mut single, single_files) = ingest_single(args, system, largest).await?;
    single.server_cpu = system.cpu_seconds()? - cpu_before;
    stored_files += single_files;
    eprintln!(
        "{name}: {} events in {:.1} s ({:.0} events/s)",
        single.events,
        single.elapsed.as_secs_f64(),
        per_second(single.events, single.elapsed)
    );

    eprintln!("{name}: alert latency, {} alerts", args.alerts);
    let (alerts, alerts_from_send, alerts_missed) = alert_latency(args, context, system).await?;
    stored_files += u64::try_from(args.alerts).unwrap_or(0);

    eprintln!("{name}: SIGKILL and recovery with {stored_files} files");
    let recovery = system.kill_and_recover().await?;
    eprintln!("{name}: recovered in {:.2} s", recovery.as_secs_f64());
    Ok(Run {
        system: name,
        scales,
        batched,
        single,
        alerts,
        alerts_from_send,
        alerts_missed,
        recovery,
        recovery_files: stored_files,
    })
}

/// Ingests files `(from, to]` in batches; returns the phase, the call latencies and what the
/// segment held.
async fn ingest_batched<S: System>(
    args: &Args,
    system: &S,
    from: u64,
    to: u64,
) -> Result<(Ingest, Samples, SegmentInfo)> {
    // Each file's events go through one client, so they arrive in their order: dunghan
    // refuses a handover from someone who does not hold the file yet (a later handover
    // overtaking an earlier one in another client's call).
    let clients = args.batch_clients.max(1);
    let mut senders = Vec::with_capacity(clients);
    let mut receivers = Vec::with_capacity(clients);
    for _ in 0..clients {
        let (sender, receiver) = mpsc::channel::<Vec<pb::Event>>(4);
        senders.push(sender);
        receivers.push(receiver);
    }
    let (seed, batch_size) = (args.seed, args.batch_size);
    let generator = std::thread::spawn(move || {
        let mut batches: Vec<Vec<pb::Event>> = (0..clients)
            .map(|_| Vec::with_capacity(batch_size))
            .collect();
        let info = stream_segment(seed, from, to, |event| {
            let shard = shard_of(&event.file_id, clients);
            let (Some(batch), Some(sender)) = (batches.get_mut(shard), senders.get(shard)) else {
                return false;
            };
            batch.push(event);
            if batch.len() < batch_size {
                return true;
            }
            let full = std::mem::replace(batch, Vec::with_capacity(batch_size));
            sender.blocking_send(full).is_ok()
        });
        for (batch, sender) in batches.into_iter().zip(&senders) {
            if !batch.is_empty() {
                let _ = sender.blocking_send(batch);
            }
        }
        info
    });
    let first_call = Mutex::new(None::<Instant>);
    let outcomes = join_all(
        receivers
            .into_iter()
            .enumerate()
            .map(|(client, mut receiver)| {
                let first_call = &first_call;
                async move {
                    let mut calls = Samples::default();
                    let mut tally = Tally::default();
                    let mut events = 0;
                    while let Some(batch) = receiver.recv().await {
                        let sent = Instant::now();
                        first_call
                            .lock()
                            .map_err(|_| anyhow::anyhow!("a client panicked"))?
                            .get_or_insert(sent);
                        events += batch.len() as u64;
                        add_tally(&mut tally, system.ingest(client, batch).await?);
                        calls.push(sent.elapsed());
                    }
                    Ok::<_, anyhow::Error>((calls, tally, events))
                }
            }),
    )
    .await;
    let finished = Instant::now();
    let info = generator
        .join()
        .map_err(|_| anyhow::anyhow!("the workload generator panicked"))?;
    let mut ingest = Ingest::default();
    let mut all_calls = Samples::default();
    for outcome in outcomes {
        let (calls, tally, events) = outcome?;
        all_calls.extend(calls);
        add_tally(&mut ingest.tally, tally);
        ingest.events += events;
    }
    let first = first_call
        .lock()
        .map_err(|_| anyhow::anyhow!("a client panicked"))?
        .unwrap_or(finished);
    ingest.elapsed = finished - first;
    ingest.calls = all_calls.summary();
    Ok((ingest, all_calls, info))
}

/// Sends `--single-events` events of files after the first `largest`, one per call, each
/// file's events through one client (in order); returns the phase and the files it began.
async fn ingest_single<S: System>(args: &Args, system: &S, largest: u64) -> Result<(Ingest, u64)> {
    let clients = args.single_clients.max(1);
    let mut senders = Vec::with_capacity(clients);
    let mut receivers = Vec::with_capacity(clients);
    for _ in 0..clients {
        let (sender, receiver) = mpsc::channel::<pb::Event>(256);
        senders.push(sender);
        receivers.push(receiver);
    }
    let (seed, limit) = (args.seed, args.single_events);
    let generator = std::thread::spawn(move || {
        let mut sent = 0u64;
        stream_segment(seed, largest, largest + limit, |event| {
            let shard = shard_of(&event.file_id, clients);
            sent += 1;
            senders
                .get(shard)
                .is_some_and(|sender| sender.blocking_send(event).is_ok())
                && sent < limit
        })
    });
    let first_call = Mutex::new(None::<Instant>);
    let outcomes = join_all(
        receivers
            .into_iter()
            .enumerate()
            .map(|(client, mut receiver)| {
                let first_call = &first_call;
                async move {
                    let mut calls = Samples::default();
                    let mut tally = Tally::default();
                    while let Some(event) = receiver.recv().await {
                        let sent = Instant::now();
                        first_call
                            .lock()
                            .map_err(|_| anyhow::anyhow!("a client panicked"))?
                            .get_or_insert(sent);
                        add_tally(&mut tally, system.ingest(client, vec![event]).await?);
                        calls.push(sent.elapsed());
                    }
                    Ok::<_, anyhow::Error>((calls, tally))
                }
            }),
    )
    .await;
    let finished = Instant::now();
    let info = generator
        .join()
        .map_err(|_| anyhow::anyhow!("the workload generator panicked"))?;
    let mut ingest = Ingest::default();
    let mut all_calls = Samples::default();
    for outcome in outcomes {
        let (calls, tally) = outcome?;
        all_calls.extend(calls);
        add_tally(&mut ingest.tally, tally);
    }
    ingest.events = info.events;
    let first = first_call
        .lock()
        .map_err(|_| anyhow::anyhow!("a client panicked"))?
        .unwrap_or(finished);
    ingest.elapsed = finished - first;
    ingest.calls = all_calls.summary();
    Ok((ingest, info.files))
}

/// Times the queries at one scale, then reads memory and disk.
async fn measure_scale<S: System>(
    args: &Args,
    system: &S,
    files: u64,
    events: u64,
    ingest: Ingest,
    info: &SegmentInfo,
    period: (chrono::DateTime<Utc>, chrono::DateTime<Utc>),
) -> Result<Scale> {
    let name = system.name();
    let limit = Duration::from_secs(args.query_seconds);
    let reps = args.query_reps;
    let totals = system.stats().await?;
    let stats = repeat(name, "stats", reps, limit, |_| async {
        system.stats().await.map(|_| ())
    })
    .await?;
    let leaderboard = repeat(name, "leaderboard", reps, limit, |_| async {
        system.leaderboard().await.map(|_| ())
    })
    .await?;
    let report_received = system.report(period.0, period.1).await?;
    let report = repeat(name, "II.06a", reps, limit, |_| async {
        system.report(period.0, period.1).await.map(|_| ())
    })
    .await?;
    let sample = &info.sample;
    if sample.is_empty() {
        bail!("no file sampled for the timeline query");
    }
    let file = repeat(name, "file", reps, limit, |rep| async move {
        let file_id = &sample[rep % sample.len()];
        let length = system.file(file_id).await?;
        if length == 0 {
            bail!("file {file_id} has an empty timeline");
        }
        Ok(())
    })
    .await?;
    Ok(Scale {
        files,
        events,
        ingest,
        stats,
        leaderboard,
        report,
        file,
        memory: system.memory_bytes()?,
        memory_after_ingest: 0,
        disk: system.disk_bytes()?,
        totals,
        report_received,
        period,
    })
}

/// Runs `query` (after two untimed warm-up calls) `reps` times or until `limit` passes, at
/// least 5 times.
async fn repeat<F, Fut>(
    system: &str,
    what: &str,
    reps: usize,
    limit: Duration,
    mut query: F,
) -> Result<Option<Summary>>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    for rep in 0..2 {
        query(reps + rep)
            .await
            .with_context(|| format!("{system}: {what} (warm-up)"))?;
    }
    let mut samples = Samples::default();
    let started = Instant::now();
    for rep in 0..reps {
        if rep >= 5 && started.elapsed() > limit {
            break;
        }
        let sent = Instant::now();
        query(rep)
            .await
            .with_context(|| format!("{system}: {what}"))?;
        samples.push(sent.elapsed());
    }
    Ok(samples.summary())
}

/// Sends `--alerts` receipts whose appointment is later than the deadline allows (a rule
/// that fires on arrival), one at a time, and times each from its ack to its alert at a
/// client tailing the alerts.
async fn alert_latency<S: System>(
    args: &Args,
    context: &Context,
    system: &S,
) -> Result<(Option<Summary>, Option<Summary>, usize)> {
    let province = &context.province;
    let procedure = province
        .procedures
        .iter()
        .find(|p| p.level == dunghan::demo::province::Level::Province)
        .context("the province has no province-level procedure")?;
    let center = province
        .units
        .get(1)
        .context("the province has no center")?;
    let officer = province
        .officers
        .iter()
        .find(|o| o.memberships.iter().any(|m| m.who == 1))
        .context("the provincial center has no officer")?;
    let mut arrivals = system
        .tail_alerts(pb::AlertKind::AppointmentInflated)
        .await?;
    let mut samples = Samples::default();
    let mut from_send = Samples::default();
    let mut missed = 0;
    let run = Utc::now().timestamp();
    for index in 0..args.alerts {
        let now = Utc::now();
        let file_id = format!("bench-alert-{run}-{index:05}");
        let event = pb::Event {
            event_id: format!("{file_id}-01"),
            file_id: file_id.clone(),
            occurred_at: Some(timestamp(now - chrono::Duration::seconds(1))),
            source: "dunghan-bench".to_owned(),
            kind: Some(pb::event::Kind::Received(pb::event::Received {
                procedure_code: procedure.code.to_owned(),
                channel: pb::Channel::InPerson as i32,
                receiving_unit_id: center.id.clone(),
                receiving_officer_id: officer.id.clone(),
                appointment_at: Some(timestamp(now + chrono::Duration::days(400))),
            })),
        };
        let sent = Instant::now();
        let tally = system.ingest(0, vec![event]).await?;
        let acked = Instant::now();
        if tally.accepted != 1 {
            bail!("alert probe {file_id} was not accepted: {tally:?}");
        }
        let deadline = acked + Duration::from_secs(5);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, arrivals.recv()).await {
                Ok(Some((arrived, at))) if arrived == file_id => {
                    // An alert that reached the client before the ack counts as zero.
                    samples.push(at.saturating_duration_since(acked));
                    from_send.push(at.saturating_duration_since(sent));
                    break;
                }
                Ok(Some(_)) => continue,
                Ok(None) => bail!("{}: the alert stream ended", system.name()),
                Err(_) => {
                    missed += 1;
                    break;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok((samples.summary(), from_send.summary(), missed))
}

fn shard_of(file_id: &str, shards: usize) -> usize {
    // FNV-1a: stable, so a file's events always go through the same client.
    let hash = file_id
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        });
    usize::try_from(hash % shards as u64).unwrap_or(0)
}

fn add_tally(total: &mut Tally, more: Tally) {
    total.accepted += more.accepted;
    total.duplicates += more.duplicates;
    total.other += more.other;
}

pub(crate) fn per_second(events: u64, elapsed: Duration) -> f64 {
    events as f64 / elapsed.as_secs_f64().max(1e-9)
}

fn args_line(args: &Args) -> String {
    let files: Vec<String> = args.files.iter().map(u64::to_string).collect();
    format!(
        "--files {} --seed {} --batch-size {} --batch-clients {} --single-clients {} \
         --single-events {} --query-reps {} --query-seconds {} --alerts {}",
        files.join(","),
        args.seed,
        args.batch_size,
        args.batch_clients,
        args.single_clients,
        args.single_events,
        args.query_reps,
        args.query_seconds,
        args.alerts
    )
}

fn is_root() -> Result<bool> {
    let status = std::fs::read_to_string("/proc/self/status").context("/proc/self/status")?;
    let uid = status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|rest| rest.split_whitespace().nth(1))
        .context("no effective Uid in /proc/self/status")?;
    Ok(uid == "0")
}

fn make_traversable(dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("chmod 755 {}", dir.display()))
}

fn chown(dir: &Path, user: &str) -> Result<()> {
    let status = std::process::Command::new("chown")
        .arg(user)
        .arg(dir)
        .status()
        .context("running chown")?;
    if !status.success() {
        bail!("chown {user} {} failed: {status}", dir.display());
    }
    Ok(())
}

fn remove_data(args: &Args, dir: &Path) -> Result<()> {
    if args.keep_data {
        return Ok(());
    }
    std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))
}
