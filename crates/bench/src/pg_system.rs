//! PostgreSQL 15 under test: a private cluster (`initdb` in a temporary folder, loopback,
//! an unused port, fsync and synchronous commit on), the schema of `pg_schema.sql`, and the
//! same workload through tokio-postgres.
//!
//! The loader computes each file's due time with dunghan's own function
//! (`dunghan_domain::clock::due_time`), so both systems start from the same due times; the
//! database does the rest (dedupe, file state, verdicts, attribution, counters) in one
//! PL/pgSQL function per event, inside the caller's transaction.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _, Result};
use chrono::{DateTime, Utc};
use dunghan::proto::v1 as pb;
use dunghan_domain::clock::due_time;
use futures_util::future::{join, join_all};
use prost::Message as _;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio_postgres::types::ToSql;
use tokio_postgres::{AsyncMessage, Client, NoTls, Statement};

use crate::system::{self, AlertArrival, System, Tally, Totals};
use crate::workload::{instant, Context};

/// The schema and the ingest function.
const SCHEMA: &str = include_str!("pg_schema.sql");

/// How long a start (or crash recovery) may take before the run fails.
const START_LIMIT: Duration = Duration::from_secs(900);

/// Retries of a batch that lost a deadlock to another batch.
const DEADLOCK_RETRIES: usize = 20;

/// Settings of the benchmark cluster; everything else is PostgreSQL 15's default.
const SETTINGS: [(&str, &str); 7] = [
    // Durability as dunghan's: an acknowledged event is fsynced.
    ("fsync", "on"),
    ("synchronous_commit", "on"),
    ("full_page_writes", "on"),
    // A modest tuning a team would do on a 24 GiB machine.
    ("shared_buffers", "2GB"),
    ("max_wal_size", "4GB"),
    ("work_mem", "64MB"),
    ("max_connections", "100"),
];

const STATS_SQL: &str = "
WITH finished AS (
    SELECT u.top_unit AS unit, sum(r.early) AS early, sum(r.on_time) AS on_time,
           sum(r.late) AS late, sum(r.not_counted) AS not_counted
    FROM rollup r JOIN units u ON u.unit_id = r.unit_id
    -- Files refused at the desk have no receiving unit, so no place in the province's
    -- subtree (as in dunghan's answer for the province).
    WHERE r.unit_id <> ''
    GROUP BY u.top_unit
), open AS (
    SELECT u.top_unit AS unit,
           count(*) FILTER (WHERE coalesce(f.extended_due_at, f.due_at) >= now()) AS within_time,
           count(*) FILTER (WHERE coalesce(f.extended_due_at, f.due_at) < now()) AS overdue
    FROM files f JOIN units u ON u.unit_id = f.receiving_unit
    WHERE f.status = 1
    GROUP BY u.top_unit
)
SELECT coalesce(finished.unit, open.unit) AS unit,
       coalesce(finished.early, 0)::int8, coalesce(finished.on_time, 0)::int8,
       coalesce(finished.late, 0)::int8, coalesce(open.within_time, 0)::int8,
       coalesce(open.overdue, 0)::int8, coalesce(finished.not_counted, 0)::int8
FROM finished FULL JOIN open ON finished.unit = open.unit
ORDER BY 1";

const LEADERBOARD_SQL: &str = "
SELECT officer_id, count(*) AS late_files, sum(late_seconds)::int8 AS late_seconds
FROM (
    SELECT officer_id, late_seconds FROM attribution
    UNION ALL
    SELECT holder_officer,
           extract(epoch FROM now() - coalesce(extended_due_at, due_at))::int8
    FROM files
    WHERE status = 1 AND coalesce(extended_due_at, due_at) < now()
) charged
GROUP BY officer_id
ORDER BY late_seconds DESC, officer_id
LIMIT 50";

/// Form II.06a by field: flows from the counters, stocks (carried over, in progress) from
/// the files open at the period's start or end. $1, $2: the period; $3, $4: its local days.
const REPORT_SQL: &str = "
WITH flows AS (
    SELECT r.field_code,
           sum(r.received) FILTER (WHERE r.channel = 2) AS online,
           sum(r.received) FILTER (WHERE r.channel <> 2) AS in_person_or_postal,
           sum(r.early) AS early, sum(r.on_time) AS on_time, sum(r.late) AS late
    FROM rollup r
    WHERE r.day >= $3 AND r.day < $4 AND r.unit_id <> ''
    GROUP BY r.field_code
), stocks AS (
    SELECT f.field_code,
           count(*) FILTER (WHERE f.received_at < $1) AS carried_over,
           count(*) FILTER (WHERE (f.finished_at IS NULL OR f.finished_at >= $2)
                            AND coalesce(f.extended_due_at, f.due_at) >= $2) AS within_time,
           count(*) FILTER (WHERE (f.finished_at IS NULL OR f.finished_at >= $2)
                            AND coalesce(f.extended_due_at, f.due_at) < $2) AS overdue
    FROM files f
    WHERE f.status IN (1, 2) AND f.received_at < $2
      AND (f.finished_at IS NULL OR f.finished_at >= $1)
    GROUP BY f.field_code
)
SELECT coalesce(flows.field_code, stocks.field_code) AS field_code,
       coalesce(online, 0)::int8, coalesce(in_person_or_postal, 0)::int8,
       coalesce(carried_over, 0)::int8, coalesce(early, 0)::int8, coalesce(on_time, 0)::int8,
       coalesce(late, 0)::int8, coalesce(within_time, 0)::int8, coalesce(overdue, 0)::int8
FROM flows FULL JOIN stocks ON flows.field_code = stocks.field_code
ORDER BY 1";

const FILE_SQL: &str = "SELECT * FROM files WHERE file_id = $1";
const TIMELINE_SQL: &str = "
SELECT event_id, occurred_at, kind, payload FROM events
WHERE file_id = $1 ORDER BY occurred_at, event_id";
const INGEST_SQL: &str = "SELECT dh_ingest($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)";
const INGEST_ONE_SQL: &str =
    "SELECT dh_ingest_one($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)";

/// Where PostgreSQL runs and as whom.
#[derive(Debug, Clone)]
pub(crate) struct PgSetup {
    /// Folder of `initdb`, `postgres` (e.g. `/usr/lib/postgresql/15/bin`).
    pub(crate) bin_dir: PathBuf,
    /// The cluster's data folder (made by initdb; its parent must be writable by `user`).
    pub(crate) data_dir: PathBuf,
    /// Server log.
    pub(crate) log: PathBuf,
    /// The OS user to run the server as when this process is root (PostgreSQL refuses root).
    pub(crate) run_as: Option<String>,
}

/// A running private PostgreSQL cluster and its clients.
pub(crate) struct Postgres {
    setup: PgSetup,
    port: u16,
    child: Option<Child>,
    context: Arc<Context>,
    /// Connection of the queries.
    query: Client,
    /// One connection per ingest client, with the prepared ingest calls.
    clients: Vec<Session>,
}

/// An ingest connection: `dh_ingest` for batches, `dh_ingest_one` for one event.
struct Session {
    client: Client,
    batch: Statement,
    one: Statement,
}

/// One event as the parameters of `dh_ingest`.
struct IngestRow {
    event_id: String,
    file_id: String,
    at: DateTime<Utc>,
    kind: i16,
    hash: Vec<u8>,
    payload: Vec<u8>,
    procedure: Option<String>,
    field: Option<String>,
    channel: Option<i16>,
    unit: Option<String>,
    officer: Option<String>,
    due: Option<DateTime<Utc>>,
    extra: Option<DateTime<Utc>>,
}

impl Postgres {
    /// Makes the cluster with initdb, starts it and creates the schema and the unit tree.
    pub(crate) async fn start(setup: PgSetup, context: Arc<Context>) -> Result<Postgres> {
        initdb(&setup)?;
        let port = system::free_port()?;
        let child = spawn(&setup, port)?;
        let query = wait_ready(port).await?;
        query
            .batch_execute(SCHEMA)
            .await
            .context("creating the schema")?;
        let insert_unit = query
            .prepare("INSERT INTO units VALUES ($1, $2, $3)")
            .await
            .context("preparing the unit insert")?;
        query
            .execute(&insert_unit, &[&"", &None::<String>, &None::<String>])
            .await
            .context("inserting the no-unit row")?;
        for (id, parent, top) in context.units() {
            query
                .execute(&insert_unit, &[&id, &parent, &top])
                .await
                .with_context(|| format!("inserting unit {id}"))?;
        }
        Ok(Postgres {
            setup,
            port,
            child: Some(child),
            context,
            query,
            clients: Vec::new(),
        })
    }

    fn pid(&self) -> Result<u32> {
        self.child
            .as_ref()
            .map(Child::id)
            .context("PostgreSQL is not running")
    }

    /// The postmaster's pid: the child itself, or its child when started through runuser.
    fn postmaster(&self) -> Result<u32> {
        let pid = self.pid()?;
        if self.setup.run_as.is_none() {
            return Ok(pid);
        }
        system::children(pid)
            .first()
            .copied()
            .with_context(|| format!("runuser {pid} has no postgres child"))
    }

    /// The parameters of `dh_ingest` for `event`.
    fn row(&self, event: &pb::Event) -> Result<IngestRow> {
        use pb::event::Kind;
        let at = event
            .occurred_at
            .as_ref()
            .and_then(instant)
            .with_context(|| format!("event {}: no occurred_at", event.event_id))?;
        let mut content = event.clone();
        content.source.clear();
        let mut row = IngestRow {
            event_id: event.event_id.clone(),
            file_id: event.file_id.clone(),
            at,
            kind: 0,
            hash: Sha256::digest(content.encode_to_vec()).to_vec(),
            payload: event.encode_to_vec(),
            procedure: None,
            field: None,
            channel: None,
            unit: None,
            officer: None,
            due: None,
            extra: None,
        };
        let field_of = |code: &str| {
            self.context
                .procedures
                .get(code)
                .map(|(_, field)| (*field).to_owned())
        };
        match &event.kind {
            Some(Kind::Submitted(submitted)) => {
                row.kind = 10;
                row.procedure = Some(submitted.procedure_code.clone());
                row.field = field_of(&submitted.procedure_code);
                row.channel = i16::try_from(submitted.channel).ok();
            }
            Some(Kind::Received(received)) => {
                row.kind = 11;
                let (rule, field) = self
                    .context
                    .procedures
                    .get(&received.procedure_code)
                    .with_context(|| {
                        format!(
                            "event {}: unknown procedure {}",
                            event.event_id, received.procedure_code
                        )
                    })?;
                let placed = due_time(&self.context.calendar, *rule, at).map_err(|err| {
                    anyhow!("event {}: no due time at {at}: {err}", event.event_id)
                })?;
                row.procedure = Some(received.procedure_code.clone());
                row.field = Some((*field).to_owned());
                row.channel = i16::try_from(received.channel).ok();
                row.unit = Some(received.receiving_unit_id.clone());
                row.officer = Some(received.receiving_officer_id.clone());
                row.due = Some(placed.due);
                row.extra = received.appointment_at.as_ref().and_then(instant);
            }
            Some(Kind::NotAccepted(_)) => row.kind = 12,
            Some(Kind::HandedOver(handed)) => {
                row.kind = 13;
                row.unit = Some(handed.to_unit_id.clone());
                row.officer = Some(handed.to_officer_id.clone());
            }
            Some(Kind::Extended(extended)) => {
                row.kind = 22;
                row.extra = extended.new_due_at.as_ref().and_then(instant);
            }
            Some(Kind::Withdrawn(_)) => row.kind = 23,
            Some(Kind::Stopped(_)) => row.kind = 24,
            Some(Kind::Rejected(_)) => row.kind = 25,
            Some(Kind::Resolved(_)) => row.kind = 26,
            Some(Kind::SupplementRequested(_)) => row.kind = 14,
            Some(Kind::SupplementReceived(_)) => row.kind = 15,
            Some(Kind::FinancialObligationRequested(_)) => row.kind = 16,
            Some(Kind::FinancialObligationFulfilled(_)) => row.kind = 17,
            Some(Kind::ConsultationRequested(_)) => row.kind = 18,
            Some(Kind::ConsultationAnswered(_)) => row.kind = 19,
            Some(Kind::PauseStarted(_)) => row.kind = 20,
            Some(Kind::PauseEnded(_)) => row.kind = 21,
            Some(Kind::Returned(_)) => row.kind = 27,
            None => bail!("event {}: no kind", event.event_id),
        }
        Ok(row)
    }
}

impl IngestRow {
    fn params(&self) -> [&(dyn ToSql + Sync); 13] {
        [
            &self.event_id,
            &self.file_id,
            &self.at,
            &self.kind,
            &self.hash,
            &self.payload,
            &self.procedure,
            &self.field,
            &self.channel,
            &self.unit,
            &self.officer,
            &self.due,
            &self.extra,
        ]
    }
}

impl System for Postgres {
    fn name(&self) -> &'static str {
        "PostgreSQL"
    }

    async fn open_clients(&mut self, n: usize) -> Result<()> {
        self.clients.clear();
        for _ in 0..n {
            let client = connect(self.port).await?;
            client
                .batch_execute("SELECT dh_open_session()")
                .await
                .context("dh_open_session")?;
            let batch = client
                .prepare(INGEST_SQL)
                .await
                .context("preparing dh_ingest")?;
            let one = client
                .prepare(INGEST_ONE_SQL)
                .await
                .context("preparing dh_ingest_one")?;
            self.clients.push(Session { client, batch, one });
        }
        Ok(())
    }

    async fn ingest(&self, client: usize, events: Vec<pb::Event>) -> Result<Tally> {
        let Session { client, batch, one } = self
            .clients
            .get(client)
            .with_context(|| format!("no ingest client {client}"))?;
        let rows = events
            .iter()
            .map(|event| self.row(event))
            .collect::<Result<Vec<_>>>()?;
        if let [row] = rows.as_slice() {
            // One event: one statement in autocommit, its own transaction.
            let outcome: i16 = client
                .query_one(one, &row.params())
                .await
                .with_context(|| format!("dh_ingest {}", row.event_id))?
                .get(0);
            return Ok(tally(&[outcome]));
        }
        let params: Vec<_> = rows.iter().map(IngestRow::params).collect();
        let mut attempt = 0;
        loop {
            let error = match ingest_transaction(client, batch, &params).await {
                Ok(outcomes) => return Ok(tally(&outcomes)),
                Err(error) => error,
            };
            let retry = error.code().is_some_and(|code| {
                *code == tokio_postgres::error::SqlState::T_R_DEADLOCK_DETECTED
                    || *code == tokio_postgres::error::SqlState::T_R_SERIALIZATION_FAILURE
            });
            attempt += 1;
            if !retry || attempt > DEADLOCK_RETRIES {
                return Err(anyhow::Error::new(error).context(format!(
                    "a batch of {} events from {} (attempt {attempt})",
                    rows.len(),
                    rows.first().map_or("", |row| row.event_id.as_str())
                )));
            }
        }
    }

    async fn stats(&self) -> Result<Totals> {
        let rows = self
            .query
            .query(STATS_SQL, &[])
            .await
            .context("stats query")?;
        let mut totals = Totals::default();
        for row in &rows {
            let unit: Option<String> = row.get(0);
            let count = |index: usize| u64::try_from(row.get::<_, i64>(index)).unwrap_or(0);
            totals.early += count(1);
            totals.on_time += count(2);
            totals.late += count(3);
            totals.within_time += count(4);
            totals.overdue += count(5);
            totals.not_counted += count(6);
            totals.rows += usize::from(unit.is_some());
        }
        Ok(totals)
    }

    async fn leaderboard(&self) -> Result<usize> {
        let rows = self
            .query
            .query(LEADERBOARD_SQL, &[])
            .await
            .context("leaderboard query")?;
        Ok(rows.len())
    }

    async fn report(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> Result<u64> {
        let start_day = crate::workload::local_day(start);
        let end_day = crate::workload::local_day(end);
        let rows = self
            .query
            .query(REPORT_SQL, &[&start, &end, &start_day, &end_day])
            .await
            .context("II.06a query")?;
        Ok(rows
            .iter()
            .map(|row| {
                (1..=3)
                    .map(|index| u64::try_from(row.get::<_, i64>(index)).unwrap_or(0))
                    .sum::<u64>()
            })
            .sum())
    }

    async fn file(&self, file_id: &str) -> Result<usize> {
        let (file, timeline) = join(
            self.query.query_opt(FILE_SQL, &[&file_id]),
            self.query.query(TIMELINE_SQL, &[&file_id]),
        )
        .await;
        file.with_context(|| format!("file {file_id}"))?
            .with_context(|| format!("file {file_id} not found"))?;
        Ok(timeline
            .with_context(|| format!("timeline of {file_id}"))?
            .len())
    }

    async fn tail_alerts(
        &self,
        _kind: pb::AlertKind,
    ) -> Result<mpsc::UnboundedReceiver<AlertArrival>> {
        let (client, mut connection) = tokio_postgres::connect(&conninfo(self.port), NoTls)
            .await
            .context("connecting the LISTEN client")?;
        let (sender, receiver) = mpsc::unbounded_channel();
        let keeper = sender.clone();
        tokio::spawn(async move {
            // The connection is driven here so that notifications come out as they arrive.
            while let Some(Ok(message)) =
                futures_util::future::poll_fn(|cx| connection.poll_message(cx)).await
            {
                if let AsyncMessage::Notification(note) = message {
                    if sender
                        .send((note.payload().to_owned(), Instant::now()))
                        .is_err()
                    {
                        break;
                    }
                }
            }
        });
        client
            .batch_execute("LISTEN dh_alerts")
            .await
            .context("LISTEN dh_alerts")?;
        // The client owns the session: keep it until the receiver is dropped.
        tokio::spawn(async move {
            keeper.closed().await;
            drop(client);
        });
        Ok(receiver)
    }

    fn memory_bytes(&self) -> Result<u64> {
        let postmaster = self.postmaster()?;
        let mut total = system::pss(postmaster)?;
        for child in system::children(postmaster) {
            // A backend may exit between listing and reading; it then holds nothing.
            total += system::pss(child).unwrap_or(0);
        }
        Ok(total)
    }

    fn cpu_seconds(&self) -> Result<f64> {
        let postmaster = self.postmaster()?;
        let mut total = system::cpu_seconds(postmaster)?;
        for child in system::children(postmaster) {
            // The backends of the ingest connections live through a phase; a process that
            // exits between listing and reading has nothing left to count.
            total += system::cpu_seconds(child).unwrap_or(0.0);
        }
        Ok(total)
    }

    fn disk_bytes(&self) -> Result<u64> {
        system::du_bytes(&self.setup.data_dir)
    }

    async fn kill_and_recover(&mut self) -> Result<Duration> {
        let mut child = self.child.take().context("PostgreSQL is not running")?;
        let killed_at = Instant::now();
        kill_group(child.id())?;
        child.wait().context("reaping postgres")?;
        self.clients.clear();
        // Backends exit once they see the postmaster gone; until then (and until the dead
        // postmaster is reaped) a new postmaster refuses to start and exits, so start it
        // again until one stays up and answers.
        let deadline = killed_at + START_LIMIT;
        let mut candidate = spawn(&self.setup, self.port)?;
        loop {
            if let Some(status) = candidate.try_wait().context("polling postgres")? {
                if Instant::now() > deadline {
                    bail!("postgres keeps exiting at restart: {status}");
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
                candidate = spawn(&self.setup, self.port)?;
                continue;
            }
            let answered = async {
                let client = connect(self.port).await?;
                client.query(STATS_SQL, &[]).await.context("stats query")?;
                Ok::<_, anyhow::Error>(client)
            }
            .await;
            match answered {
                Ok(client) => {
                    self.child = Some(candidate);
                    self.query = client;
                    return Ok(killed_at.elapsed());
                }
                Err(error) if Instant::now() > deadline => {
                    self.child = Some(candidate);
                    return Err(error.context("PostgreSQL did not recover"));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    }

    async fn shutdown(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            kill_group(child.id())?;
            child.wait().context("reaping postgres")?;
        }
        Ok(())
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = kill_group(child.id());
            let _ = child.wait();
        }
    }
}

/// One batch in one transaction: every call pipelined (sent before the first answer is
/// read), then the counters in key order, then COMMIT; rolled back on any error.
async fn ingest_transaction(
    client: &Client,
    statement: &Statement,
    params: &[[&(dyn ToSql + Sync); 13]],
) -> Result<Vec<i16>, tokio_postgres::Error> {
    client.batch_execute("BEGIN").await?;
    let answers = join_all(
        params
            .iter()
            .map(|params| client.query_one(statement, params)),
    )
    .await;
    let outcomes: Result<Vec<i16>, _> = answers
        .into_iter()
        .map(|answer| answer.map(|row| row.get(0)))
        .collect();
    let committed = match outcomes {
        Ok(outcomes) => client
            .batch_execute("SELECT dh_flush_rollup(); COMMIT")
            .await
            .map(|()| outcomes),
        Err(error) => Err(error),
    };
    if committed.is_err() {
        client.batch_execute("ROLLBACK").await?;
    }
    committed
}

fn tally(outcomes: &[i16]) -> Tally {
    let mut tally = Tally::default();
    for outcome in outcomes {
        match outcome {
            1 => tally.accepted += 1,
            2 => tally.duplicates += 1,
            _ => tally.other += 1,
        }
    }
    tally
}

/// `command` run as `setup.run_as` when there is one.
fn command_as(setup: &PgSetup, program: &str) -> Command {
    let binary = setup.bin_dir.join(program);
    match &setup.run_as {
        Some(user) => {
            let mut command = Command::new("runuser");
            command.arg("-u").arg(user).arg("--").arg(binary);
            command
        }
        None => Command::new(binary),
    }
}

fn initdb(setup: &PgSetup) -> Result<()> {
    let output = command_as(setup, "initdb")
        .arg("-D")
        .arg(&setup.data_dir)
        .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
        .output()
        .context("running initdb")?;
    if !output.status.success() {
        bail!(
            "initdb -D {} failed: {}",
            setup.data_dir.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// Starts the postmaster in its own process group (so that a kill takes every backend).
fn spawn(setup: &PgSetup, port: u16) -> Result<Child> {
    use std::os::unix::process::CommandExt as _;
    let log = File::options()
        .create(true)
        .append(true)
        .open(&setup.log)
        .with_context(|| format!("opening {}", setup.log.display()))?;
    let mut command = command_as(setup, "postgres");
    command
        .arg("-D")
        .arg(&setup.data_dir)
        .arg("-p")
        .arg(port.to_string())
        .arg("-k")
        .arg(&setup.data_dir)
        .args(["-c", "listen_addresses=127.0.0.1"]);
    for (name, value) in SETTINGS {
        command.arg("-c").arg(format!("{name}={value}"));
    }
    let child = command
        .stdin(Stdio::null())
        .stdout(log.try_clone().context("log file")?)
        .stderr(log)
        .process_group(0)
        .spawn()
        .context("starting postgres")?;
    if let Ok(pid_file) = std::env::var("DUNGHAN_BENCH_PG_PID_FILE") {
        // For the run script's cleanup trap: the process group to kill.
        let _ = std::fs::write(pid_file, child.id().to_string());
    }
    Ok(child)
}

/// SIGKILL to the process group led by `pid`.
fn kill_group(pid: u32) -> Result<()> {
    let status = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pid}")])
        .status()
        .context("running kill")?;
    if !status.success() {
        bail!("kill -KILL -{pid} failed: {status}");
    }
    Ok(())
}

fn conninfo(port: u16) -> String {
    format!("host=127.0.0.1 port={port} user=postgres dbname=postgres")
}

async fn connect(port: u16) -> Result<Client> {
    let (client, connection) = tokio_postgres::connect(&conninfo(port), NoTls)
        .await
        .with_context(|| format!("connecting to PostgreSQL on 127.0.0.1:{port}"))?;
    tokio::spawn(async move {
        // Ends with the client; an error then is the server going away, which the next
        // query reports.
        let _ = connection.await;
    });
    Ok(client)
}

async fn wait_ready(port: u16) -> Result<Client> {
    system::wait_until("PostgreSQL", START_LIMIT, || async move {
        let client = connect(port).await?;
        client.simple_query("SELECT 1").await.context("SELECT 1")?;
        Ok(client)
    })
    .await
}
