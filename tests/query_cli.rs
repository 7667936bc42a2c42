//! Black-box tests of the query commands (`dunghan file`, `files`, `stats`,
//! `leaderboard`, `report`, `tail`) against a real tonic server on a loopback port,
//! running fake QueryService and AlertService implementations defined here that
//! answer with canned responses and record every request.
//!
//! The fake AlertService holds alerts 1 to N and follows a plan per subscription: send
//! up to so many alerts after the requested sequence, then end the stream with a given
//! status. A subscription beyond the plan sends nothing, stays open, and wakes the
//! test's stop future: the client only subscribes again once it has printed everything
//! before, so stopping then is free of races.

// The fake services and helpers are test code outside `#[test]` functions, which
// clippy.toml's allow-unwrap-in-tests does not cover.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dunghan::cli::client::ClientArgs;
use dunghan::cli::file::{self as file_cli, FileArgs};
use dunghan::cli::files::{self as files_cli, FilesArgs};
use dunghan::cli::leaderboard::{self, LeaderboardArgs, RankArg, SubjectArg};
use dunghan::cli::report::{self, ReportArgs};
use dunghan::cli::stats::{self, GroupByArg, StatsArgs};
use dunghan::cli::table::{ChannelArg, OutputArgs, VerdictArg};
use dunghan::cli::tail::{self, AlertKindArg, Reconnect, SeverityArg, TailArgs, TailOutcome};
use dunghan::cli::CliError;
use dunghan::proto::v1 as pb;
use dunghan::proto::wkt;
use pb::alert_service_server::{AlertService, AlertServiceServer};
use pb::query_service_server::{QueryService, QueryServiceServer};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::transport::Server;
use tonic::{Request, Response, Status};

/// Files the fake ListFiles pages through.
const N_LISTED_FILES: usize = 5;

/// Every request the fake QueryService received.
#[derive(Debug, Default)]
struct QueryLog {
    get_file: Vec<pb::GetFileRequest>,
    list_files: Vec<pb::ListFilesRequest>,
    get_stats: Vec<pb::GetStatsRequest>,
    get_leaderboard: Vec<pb::GetLeaderboardRequest>,
    get_report: Vec<pb::GetReportRequest>,
}

/// A fake QueryService with canned answers.
#[derive(Debug, Clone, Default)]
struct FakeQuery {
    log: Arc<Mutex<QueryLog>>,
}

/// How one Tail subscription of the fake goes.
#[derive(Debug, Clone)]
struct Subscription {
    /// Alerts to send after the requested sequence.
    n_alerts: usize,
    /// The status that ends the stream then.
    end: Status,
}

/// The fake AlertService's alerts, plan, and what it saw.
#[derive(Debug, Default)]
struct TailState {
    /// Every stored alert, by increasing sequence.
    alerts: Vec<pb::Alert>,
    /// One entry per subscription, in order; later subscriptions stay open.
    plan: Vec<Subscription>,
    /// Each TailRequest, in order.
    requests: Vec<pb::TailRequest>,
    /// Senders of streams kept open, so they do not end.
    open: Vec<mpsc::Sender<Result<pb::Alert, Status>>>,
}

/// A fake AlertService; see the module docs.
#[derive(Debug, Clone, Default)]
struct FakeAlerts {
    state: Arc<Mutex<TailState>>,
    /// Notified when a subscription beyond the plan starts.
    past_plan: Arc<Notify>,
}

/// A running server and how to stop it.
struct TestServer {
    /// `http://127.0.0.1:PORT`.
    address: String,
    /// Stops the server.
    shutdown: oneshot::Sender<()>,
    /// The serving task.
    serving: JoinHandle<Result<(), tonic::transport::Error>>,
}

#[tonic::async_trait]
impl QueryService for FakeQuery {
    async fn get_file(
        &self,
        request: Request<pb::GetFileRequest>,
    ) -> Result<Response<pb::GetFileResponse>, Status> {
        let request = request.into_inner();
        self.log.lock().unwrap().get_file.push(request.clone());
        if request.file_id != "f-1" {
            return Err(Status::not_found(format!(
                "file {} not found",
                request.file_id
            )));
        }
        Ok(Response::new(pb::GetFileResponse {
            file: Some(canned_file()),
        }))
    }

    async fn list_files(
        &self,
        request: Request<pb::ListFilesRequest>,
    ) -> Result<Response<pb::ListFilesResponse>, Status> {
        let request = request.into_inner();
        self.log.lock().unwrap().list_files.push(request.clone());
        let page_size = if request.page_size == 0 {
            100
        } else {
            request.page_size as usize
        };
        let offset: usize = match request.page_token.strip_prefix('p') {
            Some(number) => number.parse().unwrap(),
            None => 0,
        };
        let end = (offset + page_size).min(N_LISTED_FILES);
        let files = (offset..end).map(listed_file).collect();
        let next_page_token = if end < N_LISTED_FILES {
            format!("p{end}")
        } else {
            String::new()
        };
        Ok(Response::new(pb::ListFilesResponse {
            files,
            next_page_token,
        }))
    }

    async fn get_stats(
        &self,
        request: Request<pb::GetStatsRequest>,
    ) -> Result<Response<pb::GetStatsResponse>, Status> {
        self.log
            .lock()
            .unwrap()
            .get_stats
            .push(request.into_inner());
        Ok(Response::new(canned_stats()))
    }

    async fn get_leaderboard(
        &self,
        request: Request<pb::GetLeaderboardRequest>,
    ) -> Result<Response<pb::GetLeaderboardResponse>, Status> {
        self.log
            .lock()
            .unwrap()
            .get_leaderboard
            .push(request.into_inner());
        Ok(Response::new(canned_leaderboard()))
    }

    async fn get_report(
        &self,
        request: Request<pb::GetReportRequest>,
    ) -> Result<Response<pb::GetReportResponse>, Status> {
        self.log
            .lock()
            .unwrap()
            .get_report
            .push(request.into_inner());
        Ok(Response::new(canned_report()))
    }

    async fn get_index(
        &self,
        _request: Request<pb::GetIndexRequest>,
    ) -> Result<Response<pb::GetIndexResponse>, Status> {
        Err(Status::unimplemented("get_index"))
    }

    async fn preview_rejudge(
        &self,
        _request: Request<pb::PreviewRejudgeRequest>,
    ) -> Result<Response<pb::PreviewRejudgeResponse>, Status> {
        Err(Status::unimplemented("preview_rejudge"))
    }

    async fn rejudge(
        &self,
        _request: Request<pb::RejudgeRequest>,
    ) -> Result<Response<pb::RejudgeResponse>, Status> {
        Err(Status::unimplemented("rejudge"))
    }
}

#[tonic::async_trait]
impl AlertService for FakeAlerts {
    type TailStream = ReceiverStream<Result<pb::Alert, Status>>;

    async fn tail(
        &self,
        request: Request<pb::TailRequest>,
    ) -> Result<Response<Self::TailStream>, Status> {
        let request = request.into_inner();
        let (sender, receiver) = mpsc::channel(64);
        let mut state = self.state.lock().unwrap();
        let subscription_idx = state.requests.len();
        state.requests.push(request.clone());
        let Some(plan) = state.plan.get(subscription_idx).cloned() else {
            state.open.push(sender);
            self.past_plan.notify_one();
            return Ok(Response::new(ReceiverStream::new(receiver)));
        };
        let alerts: Vec<pb::Alert> = state
            .alerts
            .iter()
            .filter(|alert| alert.sequence > request.after_sequence)
            .take(plan.n_alerts)
            .cloned()
            .collect();
        for alert in alerts {
            sender.try_send(Ok(alert)).unwrap();
        }
        sender.try_send(Err(plan.end)).unwrap();
        Ok(Response::new(ReceiverStream::new(receiver)))
    }

    async fn list_alerts(
        &self,
        _request: Request<pb::ListAlertsRequest>,
    ) -> Result<Response<pb::ListAlertsResponse>, Status> {
        Err(Status::unimplemented("list_alerts"))
    }
}

impl FakeAlerts {
    /// Alerts 1 to `n_alerts`, subscriptions going as `plan` says.
    fn new(n_alerts: u64, plan: Vec<Subscription>) -> FakeAlerts {
        let fake = FakeAlerts::default();
        {
            let mut state = fake.state.lock().unwrap();
            state.alerts = (1..=n_alerts).map(alert).collect();
            state.plan = plan;
        }
        fake
    }

    /// The `after_sequence` of each subscription so far.
    fn subscribed_after(&self) -> Vec<u64> {
        let state = self.state.lock().unwrap();
        state
            .requests
            .iter()
            .map(|request| request.after_sequence)
            .collect()
    }
}

impl TestServer {
    async fn stop(self) {
        let _ = self.shutdown.send(());
        self.serving.await.unwrap().unwrap();
    }
}

/// Serves both fakes on a fresh loopback port; the listener is bound before this
/// returns, so no sleep is needed before connecting.
async fn start_server(query: FakeQuery, alerts: FakeAlerts) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let (shutdown, shutdown_rx) = oneshot::channel::<()>();
    let serving = tokio::spawn(
        Server::builder()
            .add_service(QueryServiceServer::new(query))
            .add_service(AlertServiceServer::new(alerts))
            .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
                let _ = shutdown_rx.await;
            }),
    );
    TestServer {
        address,
        shutdown,
        serving,
    }
}

/// A wire timestamp from RFC 3339.
fn ts(rfc3339: &str) -> wkt::Timestamp {
    wkt::Timestamp::from(
        chrono::DateTime::parse_from_rfc3339(rfc3339)
            .unwrap()
            .with_timezone(&chrono::Utc),
    )
}

/// A wire duration of `seconds`.
fn secs(seconds: i64) -> wkt::Duration {
    wkt::Duration { seconds, nanos: 0 }
}

/// File f-1: received Monday 08:15 local, due Friday 08:15, resolved late on Monday
/// 10:35 with 2h20m of lateness, one handover, and one broken rule.
fn canned_file() -> pb::File {
    let handover = pb::Event {
        event_id: "ev-2".to_owned(),
        file_id: "f-1".to_owned(),
        occurred_at: Some(ts("2026-03-03T02:00:00Z")),
        source: "test".to_owned(),
        kind: Some(pb::event::Kind::HandedOver(pb::event::HandedOver {
            from_officer_id: "cb-mot-cua".to_owned(),
            from_unit_id: "bp-mot-cua".to_owned(),
            to_officer_id: "cb-tham-dinh".to_owned(),
            to_unit_id: "phong-qlxd".to_owned(),
            step_code: "THAM_DINH".to_owned(),
        })),
    };
    pb::File {
        file_id: "f-1".to_owned(),
        procedure_code: "1.009994".to_owned(),
        field_code: "XAY_DUNG".to_owned(),
        channel: pb::Channel::Online.into(),
        receiving_unit_id: "bp-mot-cua".to_owned(),
        receiving_officer_id: "cb-mot-cua".to_owned(),
        status: pb::FileStatus::Resolved.into(),
        holder: None,
        received_at: Some(ts("2026-03-02T01:15:00Z")),
        finished_at: Some(ts("2026-03-09T03:35:00Z")),
        timeline: vec![pb::TimelineEntry {
            event: Some(handover),
            recorded_at: Some(ts("2026-03-03T02:00:01Z")),
            recorded_by: "motcua-sync".to_owned(),
        }],
        control_slip: vec![
            pb::ControlSlipRow {
                step_code: "TIEP_NHAN".to_owned(),
                step_name: "Tiếp nhận".to_owned(),
                holder_officer_id: "cb-mot-cua".to_owned(),
                holder_unit_id: "bp-mot-cua".to_owned(),
                handed_in_at: Some(ts("2026-03-02T01:15:00Z")),
                handed_on_at: Some(ts("2026-03-03T02:00:00Z")),
                allotted: Some(secs(8 * 3600)),
                used: Some(secs(7 * 3600 + 45 * 60)),
                verdict: pb::Verdict::OnTime.into(),
            },
            pb::ControlSlipRow {
                step_code: "THAM_DINH".to_owned(),
                step_name: "Thẩm định".to_owned(),
                holder_officer_id: "cb-tham-dinh".to_owned(),
                holder_unit_id: "phong-qlxd".to_owned(),
                handed_in_at: Some(ts("2026-03-03T02:00:00Z")),
                handed_on_at: Some(ts("2026-03-09T03:35:00Z")),
                allotted: Some(secs(24 * 3600)),
                used: Some(secs(26 * 3600 + 20 * 60)),
                verdict: pb::Verdict::Late.into(),
            },
        ],
        steps: Vec::new(),
        judgment: Some(pb::Judgment {
            verdict: pb::Verdict::Late.into(),
            unjudged_reason: None,
            verdict_against_extension: pb::Verdict::Unspecified.into(),
            explanation: Some(pb::Explanation {
                calendar_id: "vn".to_owned(),
                due_at: Some(ts("2026-03-06T01:15:00Z")),
                lateness: Some(secs(2 * 3600 + 20 * 60)),
                summary: "received Mon 02/03 08:15, due Fri 06/03 08:15 (4 working days), resolved Mon 09/03 10:35: late by 2h20m".to_owned(),
                ..pb::Explanation::default()
            }),
            judged_at: Some(ts("2026-03-09T03:35:00Z")),
        }),
        attribution: Some(pb::Attribution {
            holder_at_breach: Some(pb::Holder {
                officer_id: "cb-tham-dinh".to_owned(),
                unit_id: "phong-qlxd".to_owned(),
                step_code: "THAM_DINH".to_owned(),
                since: None,
            }),
            breached_at: Some(ts("2026-03-06T01:15:00Z")),
            lateness: Some(secs(2 * 3600 + 20 * 60)),
            shares: vec![pb::Share {
                officer_id: "cb-tham-dinh".to_owned(),
                unit_id: "phong-qlxd".to_owned(),
                head_officer_id: "truong-phong".to_owned(),
                step_code: "THAM_DINH".to_owned(),
                late_working_time: Some(secs(2 * 3600 + 20 * 60)),
                basis: pb::ShareBasis::StepOverrun.into(),
            }],
        }),
        rules_broken: vec![pb::RuleBreach {
            rule: pb::RuleKind::LateWithoutExtension.into(),
            event_id: String::new(),
            step_code: String::new(),
            detected_at: Some(ts("2026-03-06T01:15:00Z")),
            detail: "late with no extension issued".to_owned(),
            alert_sequence: 17,
            retracted: false,
        }],
    }
}

/// The listed file number `file_idx`: `lf-0` to `lf-4`.
fn listed_file(file_idx: usize) -> pb::FileSummary {
    pb::FileSummary {
        file_id: format!("lf-{file_idx}"),
        procedure_code: "1.009994".to_owned(),
        verdict: pb::Verdict::Overdue.into(),
        status: pb::FileStatus::InProgress.into(),
        received_at: Some(ts("2026-03-02T01:15:00Z")),
        rules_broken: u32::try_from(file_idx).unwrap(),
        ..pb::FileSummary::default()
    }
}

fn counts(
    early: u64,
    on_time: u64,
    late: u64,
    within_time: u64,
    overdue: u64,
) -> pb::VerdictCounts {
    pb::VerdictCounts {
        early,
        on_time,
        late,
        within_time,
        overdue,
        not_counted: 1,
        unjudged: 0,
    }
}

fn canned_stats() -> pb::GetStatsResponse {
    pb::GetStatsResponse {
        rows: vec![
            pb::StatsRow {
                key: "phong-qlxd".to_owned(),
                name: "Phòng Quản lý xây dựng".to_owned(),
                counts: Some(counts(3, 4, 1, 0, 0)),
                on_time_rate: Some(0.875),
                finished_on_time_rate: Some(0.875),
            },
            pb::StatsRow {
                key: "phong-tnmt".to_owned(),
                name: String::new(),
                counts: Some(counts(0, 0, 0, 0, 0)),
                on_time_rate: None,
                finished_on_time_rate: None,
            },
        ],
        total: Some(pb::StatsRow {
            key: String::new(),
            name: String::new(),
            counts: Some(counts(3, 4, 1, 2, 1)),
            on_time_rate: Some(9.0 / 11.0),
            finished_on_time_rate: Some(0.875),
        }),
        as_of: Some(ts("2026-03-31T10:00:00Z")),
    }
}

fn canned_leaderboard() -> pb::GetLeaderboardResponse {
    pb::GetLeaderboardResponse {
        entries: vec![
            pb::LeaderboardEntry {
                rank: 1,
                id: "cb-tham-dinh".to_owned(),
                name: "Nguyễn Văn A".to_owned(),
                unit_id: String::new(),
                late_files: 3,
                late_working_time: Some(secs(6 * 3600)),
                share_of_late_working_time: Some(0.75),
                files_handled: 12,
                steps_finished: 10,
                steps_on_time: 7,
                step_on_time_rate: Some(0.7),
            },
            pb::LeaderboardEntry {
                rank: 2,
                id: "cb-mot-cua".to_owned(),
                name: String::new(),
                unit_id: String::new(),
                late_files: 1,
                late_working_time: Some(secs(2 * 3600)),
                share_of_late_working_time: Some(0.25),
                files_handled: 20,
                steps_finished: 0,
                steps_on_time: 0,
                step_on_time_rate: None,
            },
        ],
        total_late_working_time: Some(secs(8 * 3600)),
        total_late_files: 4,
    }
}

fn report_row(field_code: &str, field_name: &str, scale: u64) -> pb::ReportRow {
    pb::ReportRow {
        field_code: field_code.to_owned(),
        field_name: field_name.to_owned(),
        received: Some(pb::ReportReceived {
            total: 10 * scale,
            online: 6 * scale,
            in_person_or_postal: 3 * scale,
            carried_over: scale,
        }),
        resolved: Some(pb::ReportResolved {
            total: 8 * scale,
            early: 2 * scale,
            on_time: 5 * scale,
            late: scale,
        }),
        in_progress: Some(pb::ReportInProgress {
            total: 2 * scale,
            within_time: scale,
            overdue: scale,
        }),
    }
}

fn canned_report() -> pb::GetReportResponse {
    pb::GetReportResponse {
        rows: vec![
            report_row("DAT_DAI", "Đất đai", 1),
            report_row("XAY_DUNG", "Xây dựng", 2),
        ],
        total: Some(report_row("", "", 3)),
        notes: vec!["withdrawn, stopped and rejected files count as resolved".to_owned()],
    }
}

/// Alert number `sequence`: a file-overdue alert on file `f-N`.
fn alert(sequence: u64) -> pb::Alert {
    pb::Alert {
        sequence,
        file_id: format!("f-{sequence}"),
        kind: pb::AlertKind::FileOverdue.into(),
        severity: pb::Severity::Critical.into(),
        fired_at: Some(ts("2026-03-06T01:15:00Z")),
        unit_id: "phong-qlxd".to_owned(),
        detail: format!("file f-{sequence} is overdue"),
        ..pb::Alert::default()
    }
}

/// The status a server ends a lagging subscriber's stream with.
fn lagged(last_sent: u64) -> Status {
    let mut metadata = tonic::metadata::MetadataMap::new();
    metadata.insert(
        "dunghan-last-sequence",
        last_sent.to_string().parse().unwrap(),
    );
    Status::with_metadata(
        tonic::Code::ResourceExhausted,
        format!("subscriber lagged; last sequence sent {last_sent}"),
        metadata,
    )
}

fn file_args(server: &str, file_id: &str) -> FileArgs {
    FileArgs {
        file_id: file_id.to_owned(),
        as_of: None,
        output: OutputArgs::default(),
        client: ClientArgs::for_server(server),
    }
}

fn files_args(server: &str) -> FilesArgs {
    FilesArgs {
        unit: None,
        officer: None,
        procedure: None,
        field: None,
        channel: None,
        verdict: Vec::new(),
        overdue: false,
        unjudged: false,
        from: None,
        to: None,
        as_of: None,
        page_size: None,
        page_token: None,
        all: false,
        output: OutputArgs::default(),
        client: ClientArgs::for_server(server),
    }
}

fn tail_args(server: &str, state_file: Option<&Path>) -> TailArgs {
    TailArgs {
        after: None,
        unit: None,
        kind: Vec::new(),
        min_severity: None,
        file: None,
        state_file: state_file.map(Path::to_path_buf),
        no_state: state_file.is_none(),
        output: OutputArgs::default(),
        client: ClientArgs::for_server(server),
    }
}

/// Resubscribe at once: the fake ends streams on purpose, and waiting proves nothing.
const NO_BACKOFF: Reconnect = Reconnect {
    first_delay: Duration::ZERO,
    max_delay: Duration::ZERO,
};

/// Runs `tail` until the fake sees a subscription beyond its plan; returns the result,
/// stdout and the notices.
async fn run_tail(
    args: &TailArgs,
    fake: &FakeAlerts,
) -> (Result<TailOutcome, CliError>, String, String) {
    let mut out = Vec::new();
    let mut notices = Vec::new();
    let past_plan = Arc::clone(&fake.past_plan);
    let result = tail::run_tail(args, NO_BACKOFF, &mut out, &mut notices, async move {
        past_plan.notified().await;
    })
    .await;
    (
        result,
        String::from_utf8(out).unwrap(),
        String::from_utf8(notices).unwrap(),
    )
}

/// The leading sequence number of each output line.
fn sequences(output: &str) -> Vec<u64> {
    output
        .lines()
        .map(|line| line.split(' ').next().unwrap().parse().unwrap())
        .collect()
}

#[tokio::test]
async fn file_shows_header_timeline_slip_attribution_and_rules_at_plus_seven() {
    let query = FakeQuery::default();
    let server = start_server(query.clone(), FakeAlerts::default()).await;
    let mut args = file_args(&server.address, "f-1");
    args.as_of = Some("2026-03-09T17:00:00+07:00".to_owned());

    let mut out = Vec::new();
    file_cli::run(&args, &mut out).await.unwrap();

    let output = String::from_utf8(out).unwrap();
    for expected in [
        "file             f-1\n",
        "procedure        1.009994\n",
        "status           resolved\n",
        "received         2026-03-02 08:15:00 +07:00\n",
        "due              2026-03-06 08:15:00 +07:00\n",
        "extended due     -\n",
        "verdict          late\n",
        "lateness         2h20m\n",
        "why              received Mon 02/03 08:15, due Fri 06/03 08:15 (4 working days), resolved Mon 09/03 10:35: late by 2h20m\n",
        "timeline (times at +07:00)",
        "holder at breach cb-tham-dinh @ phong-qlxd, step THAM_DINH\n",
    ] {
        assert!(output.contains(expected), "missing {expected:?} in\n{output}");
    }
    let line_with = |needle: &str| {
        output
            .lines()
            .find(|line| line.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?} in\n{output}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(
        line_with("handed over"),
        "2026-03-03 09:00:00 ev-2 handed over cb-mot-cua @ bp-mot-cua -> cb-tham-dinh @ phong-qlxd motcua-sync"
    );
    assert_eq!(
        line_with("THAM_DINH Thẩm định"),
        "THAM_DINH Thẩm định cb-tham-dinh @ phong-qlxd 2026-03-03 09:00:00 2026-03-09 10:35:00 24h0m 26h20m late"
    );
    assert_eq!(
        line_with("step overrun"),
        "cb-tham-dinh phong-qlxd truong-phong THAM_DINH 2h20m step overrun"
    );
    assert_eq!(
        line_with("late without extension"),
        "2026-03-06 08:15:00 late without extension - - 17 late with no extension issued"
    );
    server.stop().await;
    let log = query.log.lock().unwrap();
    assert_eq!(log.get_file[0].file_id, "f-1");
    assert_eq!(log.get_file[0].as_of, Some(ts("2026-03-09T10:00:00Z")));
}

#[tokio::test]
async fn file_in_utc_and_as_json_parses_back() {
    let server = start_server(FakeQuery::default(), FakeAlerts::default()).await;
    let mut args = file_args(&server.address, "f-1");
    args.output.utc = true;
    let mut out = Vec::new();
    file_cli::run(&args, &mut out).await.unwrap();
    let output = String::from_utf8(out).unwrap();
    assert!(
        output.contains("received         2026-03-02 01:15:00 UTC\n"),
        "{output}"
    );

    args.output.json = true;
    let mut out = Vec::new();
    file_cli::run(&args, &mut out).await.unwrap();
    let response: pb::GetFileResponse = serde_json::from_slice(&out).unwrap();
    assert_eq!(response.file, Some(canned_file()));
    server.stop().await;
}

#[tokio::test]
async fn unknown_file_is_the_servers_not_found() {
    let server = start_server(FakeQuery::default(), FakeAlerts::default()).await;
    let mut out = Vec::new();
    let result = file_cli::run(&file_args(&server.address, "f-404"), &mut out).await;
    assert!(
        matches!(
            &result,
            Err(CliError::Rpc { code: tonic::Code::NotFound, rpc: "QueryService.GetFile", message, .. })
                if message == "file f-404 not found"
        ),
        "{result:?}"
    );
    assert!(out.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn files_all_follows_every_page_and_maps_each_filter() {
    let query = FakeQuery::default();
    let server = start_server(query.clone(), FakeAlerts::default()).await;
    let mut args = files_args(&server.address);
    args.all = true;
    args.page_size = Some(2);
    args.unit = Some("so-xd".to_owned());
    args.officer = Some("cb-1".to_owned());
    args.procedure = Some("1.009994".to_owned());
    args.field = Some("XAY_DUNG".to_owned());
    args.channel = Some(ChannelArg::Online);
    args.verdict = vec![VerdictArg::Late, VerdictArg::Overdue];
    args.overdue = true;
    args.from = Some("2026-03-01".to_owned());
    args.to = Some("2026-03-31".to_owned());

    let mut out = Vec::new();
    files_cli::run(&args, &mut out).await.unwrap();

    let output = String::from_utf8(out).unwrap();
    for file_idx in 0..N_LISTED_FILES {
        let id = format!("lf-{file_idx}");
        assert_eq!(
            output.matches(&format!(" {id} ")).count(),
            1,
            "{id} once in\n{output}"
        );
    }
    assert!(output.contains("5 files (times at +07:00)\n"), "{output}");
    assert!(!output.contains("--page-token"), "{output}");
    server.stop().await;
    let log = query.log.lock().unwrap();
    let tokens: Vec<&str> = log
        .list_files
        .iter()
        .map(|request| request.page_token.as_str())
        .collect();
    assert_eq!(tokens, ["", "p2", "p4"]);
    let filter = log.list_files[0].filter.clone().unwrap();
    assert_eq!(
        filter,
        pb::FileFilter {
            subtree_unit_id: "so-xd".to_owned(),
            officer_id: "cb-1".to_owned(),
            procedure_code: "1.009994".to_owned(),
            field_code: "XAY_DUNG".to_owned(),
            channel: pb::Channel::Online.into(),
            verdicts: vec![pb::Verdict::Late.into(), pb::Verdict::Overdue.into()],
            overdue_now: true,
            unjudged: false,
            received_in: Some(pb::Period {
                start: Some(ts("2026-03-01T00:00:00+07:00")),
                end: Some(ts("2026-04-01T00:00:00+07:00")),
            }),
        }
    );
    // Every page is asked with the same filter and page size.
    assert!(log
        .list_files
        .iter()
        .all(|request| request.filter == Some(filter.clone()) && request.page_size == 2));
}

#[tokio::test]
async fn files_shows_one_page_and_how_to_continue() {
    let server = start_server(FakeQuery::default(), FakeAlerts::default()).await;
    let mut args = files_args(&server.address);
    args.page_size = Some(2);
    let mut out = Vec::new();
    files_cli::run(&args, &mut out).await.unwrap();
    let output = String::from_utf8(out).unwrap();
    assert!(output.contains(" lf-1 "), "{output}");
    assert!(!output.contains(" lf-2 "), "{output}");
    assert!(
        output.ends_with("2 files (times at +07:00)\nmore: --page-token p2 (or --all)\n"),
        "{output}"
    );

    args.page_token = Some("p2".to_owned());
    args.output.json = true;
    let mut out = Vec::new();
    files_cli::run(&args, &mut out).await.unwrap();
    let page: pb::ListFilesResponse = serde_json::from_slice(&out).unwrap();
    assert_eq!(page.files, vec![listed_file(2), listed_file(3)]);
    assert_eq!(page.next_page_token, "p4");
    server.stop().await;
}

#[tokio::test]
async fn files_all_as_json_is_one_response_with_every_file() {
    let server = start_server(FakeQuery::default(), FakeAlerts::default()).await;
    let mut args = files_args(&server.address);
    args.all = true;
    args.page_size = Some(3);
    args.output.json = true;
    let mut out = Vec::new();
    files_cli::run(&args, &mut out).await.unwrap();
    let listing: pb::ListFilesResponse = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        listing.files,
        (0..N_LISTED_FILES).map(listed_file).collect::<Vec<_>>()
    );
    assert_eq!(listing.next_page_token, "");
    server.stop().await;
}

#[tokio::test]
async fn bad_flags_name_the_flag_and_value_before_connecting() {
    // Nothing listens on port 1: a check that passed would fail with Connect instead.
    let mut args = files_args("http://127.0.0.1:1");
    args.page_size = Some(0);
    let result = files_cli::run(&args, &mut Vec::new()).await;
    assert!(
        matches!(&result, Err(CliError::Argument { flag: "page-size", value, .. }) if value == "0"),
        "{result:?}"
    );

    let mut args = files_args("http://127.0.0.1:1");
    args.unit = Some(String::new());
    let result = files_cli::run(&args, &mut Vec::new()).await;
    assert!(
        matches!(&result, Err(CliError::Argument { flag: "unit", .. })),
        "{result:?}"
    );

    let mut args = files_args("http://127.0.0.1:1");
    args.from = Some("01/03/2026".to_owned());
    let err = files_cli::run(&args, &mut Vec::new()).await.unwrap_err();
    assert!(
        err.to_string()
            .starts_with("--from \"01/03/2026\": must be a date"),
        "{err}"
    );

    let args = LeaderboardArgs {
        top: Some(5000),
        ..leaderboard_args("http://127.0.0.1:1")
    };
    let result = leaderboard::run(&args, &mut Vec::new()).await;
    assert!(
        matches!(&result, Err(CliError::Argument { flag: "top", value, .. }) if value == "5000"),
        "{result:?}"
    );

    let args = StatsArgs {
        by: GroupByArg::Field,
        depth: Some(2),
        ..stats_args("http://127.0.0.1:1")
    };
    let result = stats::run(&args, &mut Vec::new()).await;
    assert!(
        matches!(&result, Err(CliError::Argument { flag: "depth", .. })),
        "{result:?}"
    );
}

fn stats_args(server: &str) -> StatsArgs {
    StatsArgs {
        by: GroupByArg::Unit,
        unit: None,
        depth: None,
        from: None,
        to: None,
        as_of: None,
        output: OutputArgs::default(),
        client: ClientArgs::for_server(server),
    }
}

#[tokio::test]
async fn stats_shows_counts_and_rates_with_one_decimal_and_a_total_row() {
    let query = FakeQuery::default();
    let server = start_server(query.clone(), FakeAlerts::default()).await;
    let args = StatsArgs {
        unit: Some("so-xd".to_owned()),
        depth: Some(2),
        from: Some("2026-03-01".to_owned()),
        to: Some("2026-03-31".to_owned()),
        as_of: Some("2026-03-31T17:00:00+07:00".to_owned()),
        ..stats_args(&server.address)
    };
    let mut out = Vec::new();
    stats::run(&args, &mut out).await.unwrap();
    let output = String::from_utf8(out).unwrap();
    let rows: Vec<String> = output
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        rows[0],
        "unit name early on time late within time overdue not counted unjudged on-time rate finished on time"
    );
    assert_eq!(
        rows[2],
        "phong-qlxd Phòng Quản lý xây dựng 3 4 1 0 0 1 0 87.5% 87.5%"
    );
    assert_eq!(rows[3], "phong-tnmt 0 0 0 0 0 1 0 - -");
    assert_eq!(rows[4], "total 3 4 1 2 1 1 0 81.8% 87.5%");
    assert_eq!(rows[5], "as of 2026-03-31 17:00:00 +07:00");

    let mut json_args = args.clone();
    json_args.output.json = true;
    let mut out = Vec::new();
    stats::run(&json_args, &mut out).await.unwrap();
    let response: pb::GetStatsResponse = serde_json::from_slice(&out).unwrap();
    assert_eq!(response, canned_stats());
    server.stop().await;

    let log = query.log.lock().unwrap();
    assert_eq!(
        log.get_stats[0],
        pb::GetStatsRequest {
            group_by: pb::StatsGroupBy::Unit.into(),
            subtree_unit_id: "so-xd".to_owned(),
            period: Some(pb::Period {
                start: Some(ts("2026-03-01T00:00:00+07:00")),
                end: Some(ts("2026-04-01T00:00:00+07:00")),
            }),
            as_of: Some(ts("2026-03-31T10:00:00Z")),
            unit_depth: 2,
        }
    );
}

fn leaderboard_args(server: &str) -> LeaderboardArgs {
    LeaderboardArgs {
        by: SubjectArg::Officer,
        rank: None,
        unit: None,
        from: None,
        to: None,
        top: None,
        json: false,
        client: ClientArgs::for_server(server),
    }
}

#[tokio::test]
async fn leaderboard_ranks_with_shares_and_step_rates() {
    let query = FakeQuery::default();
    let server = start_server(query.clone(), FakeAlerts::default()).await;
    let args = LeaderboardArgs {
        rank: Some(RankArg::LateFiles),
        unit: Some("so-xd".to_owned()),
        top: Some(10),
        ..leaderboard_args(&server.address)
    };
    let mut out = Vec::new();
    leaderboard::run(&args, &mut out).await.unwrap();
    let output = String::from_utf8(out).unwrap();
    let rows: Vec<String> = output
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        rows[2],
        "1 cb-tham-dinh Nguyễn Văn A 3 6h0m 75.0% 12 10 7 70.0%"
    );
    assert_eq!(rows[3], "2 cb-mot-cua 1 2h0m 25.0% 20 0 0 -");
    assert_eq!(rows[4], "all covered: 4 late files, 8h0m late working time");

    let mut out = Vec::new();
    leaderboard::run(
        &LeaderboardArgs {
            json: true,
            by: SubjectArg::Head,
            ..args.clone()
        },
        &mut out,
    )
    .await
    .unwrap();
    let response: pb::GetLeaderboardResponse = serde_json::from_slice(&out).unwrap();
    assert_eq!(response, canned_leaderboard());
    server.stop().await;

    let log = query.log.lock().unwrap();
    assert_eq!(
        log.get_leaderboard[0],
        pb::GetLeaderboardRequest {
            subject: pb::LeaderboardSubject::Officers.into(),
            rank_by: pb::LeaderboardRankBy::LateFiles.into(),
            subtree_unit_id: "so-xd".to_owned(),
            period: None,
            limit: 10,
        }
    );
    assert_eq!(
        log.get_leaderboard[1].subject(),
        pb::LeaderboardSubject::Heads
    );
}

#[tokio::test]
async fn report_shows_the_column_groups_rows_by_field_and_totals() {
    let query = FakeQuery::default();
    let server = start_server(query.clone(), FakeAlerts::default()).await;
    let args = ReportArgs {
        unit: Some("so-xd".to_owned()),
        from: "2026-01-01".to_owned(),
        to: "2026-03-31".to_owned(),
        json: false,
        client: ClientArgs::for_server(&server.address),
    };
    let mut out = Vec::new();
    report::run(&args, &mut out).await.unwrap();
    let output = String::from_utf8(out).unwrap();
    let rows: Vec<String> = output
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(rows[0], "received resolved in progress");
    assert_eq!(
        rows[1],
        "field name total online in person/postal carried over total early on time late total within time overdue"
    );
    assert_eq!(rows[3], "DAT_DAI Đất đai 10 6 3 1 8 2 5 1 2 1 1");
    assert_eq!(rows[4], "XAY_DUNG Xây dựng 20 12 6 2 16 4 10 2 4 2 2");
    assert_eq!(rows[5], "total 30 18 9 3 24 6 15 3 6 3 3");
    assert_eq!(
        rows[6],
        "note: withdrawn, stopped and rejected files count as resolved"
    );
    let header = output.lines().next().unwrap();
    let columns = output.lines().nth(1).unwrap();
    // Numbers are right-aligned, headers too: each group's name ends where the
    // heading of its first column ("total") ends.
    for group in ["received", "resolved", "in progress"] {
        let group_end = header.find(group).unwrap() + group.len();
        assert_eq!(
            &columns[group_end - 5..group_end],
            "total",
            "{group}:\n{output}"
        );
    }

    let mut out = Vec::new();
    report::run(
        &ReportArgs {
            json: true,
            ..args.clone()
        },
        &mut out,
    )
    .await
    .unwrap();
    let response: pb::GetReportResponse = serde_json::from_slice(&out).unwrap();
    assert_eq!(response, canned_report());
    server.stop().await;

    let log = query.log.lock().unwrap();
    assert_eq!(
        log.get_report[0],
        pb::GetReportRequest {
            subtree_unit_id: "so-xd".to_owned(),
            period: Some(pb::Period {
                start: Some(ts("2026-01-01T00:00:00+07:00")),
                end: Some(ts("2026-04-01T00:00:00+07:00")),
            }),
        }
    );
}

#[tokio::test]
async fn tail_resumes_from_the_state_file_across_lagging_and_unavailable() {
    // Alerts 1..=7; the state file says 2 was seen. The first stream sends 3, 4, 5 and
    // ends as a lagging subscriber's does; the second sends 6, 7 and ends as a server
    // shutting down does; the third waits.
    let alerts = FakeAlerts::new(
        7,
        vec![
            Subscription {
                n_alerts: 3,
                end: lagged(5),
            },
            Subscription {
                n_alerts: 2,
                end: Status::unavailable("shutting down"),
            },
        ],
    );
    let server = start_server(FakeQuery::default(), alerts.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let state_file = dir.path().join("state").join("tail.seq");
    std::fs::create_dir_all(state_file.parent().unwrap()).unwrap();
    std::fs::write(&state_file, "2\n").unwrap();
    let mut args = tail_args(&server.address, Some(&state_file));
    args.unit = Some("so-xd".to_owned());
    args.kind = vec![AlertKindArg::FileOverdue, AlertKindArg::Retraction];
    args.min_severity = Some(SeverityArg::Warning);

    let (result, output, notices) = run_tail(&args, &alerts).await;

    assert_eq!(
        result.unwrap(),
        TailOutcome {
            last_sequence: 7,
            n_alerts: 5,
            n_reconnects: 2,
        }
    );
    assert_eq!(sequences(&output), [3, 4, 5, 6, 7], "{output}");
    assert_eq!(
        output.lines().next().unwrap(),
        "3 2026-03-06 08:15:00 +07:00 critical file-overdue file f-3 at @ phong-qlxd: file f-3 is overdue"
    );
    assert_eq!(alerts.subscribed_after(), [2, 5, 7]);
    assert!(
        notices.contains(
            "ResourceExhausted: subscriber lagged; last sequence sent 5; resubscribing after 5"
        ),
        "{notices}"
    );
    assert!(
        notices.contains("Unavailable: shutting down; resubscribing after 7"),
        "{notices}"
    );
    assert_eq!(std::fs::read_to_string(&state_file).unwrap(), "7\n");
    let requests = alerts.state.lock().unwrap().requests.clone();
    let expected_filter = pb::AlertFilter {
        subtree_unit_id: "so-xd".to_owned(),
        kinds: vec![
            pb::AlertKind::FileOverdue.into(),
            pb::AlertKind::Retraction.into(),
        ],
        min_severity: pb::Severity::Warning.into(),
        file_id: String::new(),
    };
    assert!(requests
        .iter()
        .all(|request| request.filter == Some(expected_filter.clone())));

    // A second run starts after what the first one printed last, and prints nothing new.
    let (result, output, _) = run_tail(&args, &alerts).await;
    assert_eq!(result.unwrap().last_sequence, 7);
    assert_eq!(output, "");
    assert_eq!(alerts.subscribed_after(), [2, 5, 7, 7]);
    server.stop().await;
}

#[tokio::test]
async fn tail_as_json_prints_one_alert_per_line_and_after_overrides_the_state_file() {
    let alerts = FakeAlerts::new(
        4,
        vec![
            Subscription {
                n_alerts: 1,
                end: lagged(2),
            },
            Subscription {
                n_alerts: 10,
                end: lagged(4),
            },
        ],
    );
    let server = start_server(FakeQuery::default(), alerts.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let state_file = dir.path().join("tail.seq");
    std::fs::write(&state_file, "3\n").unwrap();
    let mut args = tail_args(&server.address, Some(&state_file));
    args.after = Some(1);
    args.output.json = true;

    let (result, output, _) = run_tail(&args, &alerts).await;

    assert_eq!(result.unwrap().n_alerts, 3);
    let printed: Vec<pb::Alert> = output
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(printed, vec![alert(2), alert(3), alert(4)]);
    assert_eq!(alerts.subscribed_after(), [1, 2, 4]);
    assert_eq!(std::fs::read_to_string(&state_file).unwrap(), "4\n");
    server.stop().await;
}

#[tokio::test]
async fn tail_stops_on_a_status_that_retrying_cannot_fix() {
    let alerts = FakeAlerts::new(
        3,
        vec![Subscription {
            n_alerts: 1,
            end: Status::permission_denied("unit so-xd is outside the token's scope"),
        }],
    );
    let server = start_server(FakeQuery::default(), alerts.clone()).await;
    let args = tail_args(&server.address, None);

    let (result, output, _) = run_tail(&args, &alerts).await;

    assert!(
        matches!(
            &result,
            Err(CliError::Rpc {
                code: tonic::Code::PermissionDenied,
                rpc: "AlertService.Tail",
                ..
            })
        ),
        "{result:?}"
    );
    assert_eq!(sequences(&output), [1]);
    assert_eq!(alerts.subscribed_after(), [0]);
    server.stop().await;
}
