//! Black-box tests of `dunghan push` and `dunghan catalog load` against a real tonic
//! server on a loopback port, running fake IngestService and CatalogService
//! implementations defined here.
//!
//! The fake ingest service decides each event's outcome from its id (`e-N`): N odd is
//! rejected with a field error, N = 4 is a duplicate, N = 6 a conflict, anything else
//! accepted. It holds its acks back until `hold` requests are unacknowledged (or the
//! client half-closes), so a client that does not pipeline would never see an ack.

// The fake services and helpers are test code outside `#[test]` functions, which
// clippy.toml's allow-unwrap-in-tests does not cover.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use dunghan::cli::catalog::{self, CatalogArgs, CatalogCommand, LoadArgs};
use dunghan::cli::client::ClientArgs;
use dunghan::cli::push::{self, InputFormat, PushArgs};
use dunghan::cli::CliError;
use dunghan::proto::v1 as pb;
use pb::catalog_service_server::{CatalogService, CatalogServiceServer};
use pb::ingest_service_server::{IngestService, IngestServiceServer};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::transport::Server;
use tonic::{Request, Response, Status, Streaming};

/// What the fake ingest service saw.
#[derive(Debug, Default)]
struct IngestLog {
    /// Events per request, in arrival order, over all streams.
    request_sizes: Vec<usize>,
    /// The most requests ever unacknowledged at once on one stream.
    max_unacked: usize,
    /// The `authorization` header of each stream.
    authorizations: Vec<Option<String>>,
}

/// A fake IngestService; see the module docs.
#[derive(Debug, Clone)]
struct FakeIngest {
    /// Acks are held until this many requests are unacknowledged.
    hold: usize,
    /// What it saw.
    log: Arc<Mutex<IngestLog>>,
}

/// A fake CatalogService: only LoadCatalog works; it records its requests and answers
/// with one object and, for documents containing "bad", an error diagnostic.
#[derive(Debug, Clone, Default)]
struct FakeCatalog {
    /// Each LoadCatalog request.
    requests: Arc<Mutex<Vec<pb::LoadCatalogRequest>>>,
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

impl FakeIngest {
    fn new(hold: usize) -> FakeIngest {
        FakeIngest {
            hold,
            log: Arc::default(),
        }
    }
}

#[tonic::async_trait]
impl IngestService for FakeIngest {
    type IngestStream = ReceiverStream<Result<pb::IngestAck, Status>>;

    async fn ingest(
        &self,
        request: Request<Streaming<pb::IngestRequest>>,
    ) -> Result<Response<Self::IngestStream>, Status> {
        let authorization = request
            .metadata()
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        self.log.lock().unwrap().authorizations.push(authorization);
        let mut inbound = request.into_inner();
        let (ack_tx, ack_rx) = mpsc::channel(128);
        let log = Arc::clone(&self.log);
        let hold = self.hold;
        tokio::spawn(async move {
            let mut held: Vec<(u64, pb::IngestRequest)> = Vec::new();
            let mut next_index = 0;
            while let Ok(Some(message)) = inbound.message().await {
                let is_shutdown = message
                    .events
                    .iter()
                    .any(|event| event.event_id == "shutdown");
                held.push((next_index, message));
                next_index += 1;
                {
                    let mut log = log.lock().unwrap();
                    log.request_sizes.push(held.last().unwrap().1.events.len());
                    log.max_unacked = log.max_unacked.max(held.len());
                }
                if is_shutdown {
                    // Ack what came before, then end the stream as a server that is
                    // shutting down does.
                    held.pop();
                    send_acks(&ack_tx, &mut held).await;
                    let _ = ack_tx.send(Err(Status::unavailable("shutting down"))).await;
                    return;
                }
                if held.len() >= hold {
                    send_acks(&ack_tx, &mut held).await;
                }
            }
            // Half-closed: ack the rest; dropping `ack_tx` ends the stream with OK.
            send_acks(&ack_tx, &mut held).await;
        });
        Ok(Response::new(ReceiverStream::new(ack_rx)))
    }

    async fn ingest_batch(
        &self,
        _request: Request<pb::IngestBatchRequest>,
    ) -> Result<Response<pb::IngestBatchResponse>, Status> {
        Err(Status::unimplemented("the fake serves only Ingest"))
    }
}

/// Acks every held request, in order.
async fn send_acks(
    ack_tx: &mpsc::Sender<Result<pb::IngestAck, Status>>,
    held: &mut Vec<(u64, pb::IngestRequest)>,
) {
    for (request_index, request) in held.drain(..) {
        let results = request
            .events
            .iter()
            .enumerate()
            .map(|(event_idx, event)| outcome_of(u32::try_from(event_idx).unwrap(), event))
            .collect();
        let _ = ack_tx
            .send(Ok(pb::IngestAck {
                request_index,
                results,
            }))
            .await;
    }
}

/// The fake's verdict on one event; see the module docs.
fn outcome_of(event_index: u32, event: &pb::Event) -> pb::EventResult {
    let number: Option<u64> = event
        .event_id
        .strip_prefix("e-")
        .and_then(|number| number.parse().ok());
    let mut result = pb::EventResult {
        event_index,
        event_id: event.event_id.clone(),
        outcome: pb::EventOutcome::Accepted.into(),
        conflict: None,
        rejection: None,
    };
    match number {
        Some(4) => result.outcome = pb::EventOutcome::Duplicate.into(),
        Some(6) => {
            result.outcome = pb::EventOutcome::Conflict.into();
            result.conflict = Some(pb::EventConflict {
                stored_content_hash: vec![0; 32],
                received_content_hash: vec![1; 32],
                description: "occurred_at".to_owned(),
            });
        }
        Some(number) if number % 2 == 1 => {
            result.outcome = pb::EventOutcome::Rejected.into();
            result.rejection = Some(pb::EventRejection {
                reason: pb::RejectionReason::InvalidValue.into(),
                field_path: "received.receiving_unit_id".to_owned(),
                value: format!("unit-{number}"),
                message: format!("unknown unit unit-{number}"),
            });
        }
        _ => {}
    }
    result
}

/// Implements CatalogService for [`FakeCatalog`]: LoadCatalog for real, every other
/// rpc as UNIMPLEMENTED. A macro, because the generated trait has no default bodies.
macro_rules! fake_catalog_service {
    ($($rpc:ident($request:ident) -> $response:ident;)*) => {
        #[tonic::async_trait]
        impl CatalogService for FakeCatalog {
            async fn load_catalog(
                &self,
                request: Request<pb::LoadCatalogRequest>,
            ) -> Result<Response<pb::LoadCatalogResponse>, Status> {
                let request = request.into_inner();
                self.requests.lock().unwrap().push(request.clone());
                Ok(Response::new(load_response(&request)))
            }

            $(
                async fn $rpc(
                    &self,
                    _request: Request<pb::$request>,
                ) -> Result<Response<pb::$response>, Status> {
                    Err(Status::unimplemented(stringify!($rpc)))
                }
            )*
        }
    };
}

fake_catalog_service! {
    upsert_procedure(UpsertProcedureRequest) -> UpsertProcedureResponse;
    get_procedure(GetProcedureRequest) -> GetProcedureResponse;
    list_procedures(ListProceduresRequest) -> ListProceduresResponse;
    upsert_unit(UpsertUnitRequest) -> UpsertUnitResponse;
    get_unit(GetUnitRequest) -> GetUnitResponse;
    list_units(ListUnitsRequest) -> ListUnitsResponse;
    upsert_officer(UpsertOfficerRequest) -> UpsertOfficerResponse;
    get_officer(GetOfficerRequest) -> GetOfficerResponse;
    list_officers(ListOfficersRequest) -> ListOfficersResponse;
    upsert_calendar(UpsertCalendarRequest) -> UpsertCalendarResponse;
    get_calendar(GetCalendarRequest) -> GetCalendarResponse;
    list_calendars(ListCalendarsRequest) -> ListCalendarsResponse;
    get_calendar_year(GetCalendarYearRequest) -> GetCalendarYearResponse;
    compute_due_time(ComputeDueTimeRequest) -> ComputeDueTimeResponse;
}

/// The fake's answer: one unit created at line 3, a warning at line 12, and an error
/// at line 30 column 5 if the document contains "bad".
fn load_response(request: &pb::LoadCatalogRequest) -> pb::LoadCatalogResponse {
    let unit = pb::CatalogObjectRef {
        kind: pb::CatalogObjectKind::Unit.into(),
        id: "so-xd".to_owned(),
        effective_from: Some(pb::Date {
            year: 2020,
            month: 1,
            day: 1,
        }),
    };
    let has_error = request.document.contains("bad");
    let mut diagnostics = vec![pb::CatalogDiagnostic {
        level: pb::DiagnosticLevel::Warning.into(),
        object: Some(unit.clone()),
        line: 12,
        column: 0,
        field_path: "units[0].head".to_owned(),
        value: "giam-doc-xd".to_owned(),
        message: "head giam-doc-xd is not a member of so-xd".to_owned(),
    }];
    if has_error {
        diagnostics.push(pb::CatalogDiagnostic {
            level: pb::DiagnosticLevel::Error.into(),
            object: None,
            line: 30,
            column: 5,
            field_path: "procedures[0].deadline".to_owned(),
            value: "bad".to_owned(),
            message: "deadline bad is not an amount and a unit".to_owned(),
        });
    }
    pb::LoadCatalogResponse {
        applied: !has_error && !request.dry_run,
        results: vec![pb::CatalogObjectResult {
            object: Some(unit),
            outcome: pb::CatalogObjectOutcome::Created.into(),
            line: 3,
        }],
        diagnostics,
        files_to_rejudge: 2,
    }
}

/// Serves `ingest` and `catalog` on a fresh loopback port; the listener is bound
/// before this returns, so no sleep is needed before connecting.
async fn start_server(ingest: FakeIngest, catalog: FakeCatalog) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let (shutdown, shutdown_rx) = oneshot::channel::<()>();
    let serving = tokio::spawn(
        Server::builder()
            .add_service(IngestServiceServer::new(ingest))
            .add_service(CatalogServiceServer::new(catalog))
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

impl TestServer {
    async fn stop(self) {
        let _ = self.shutdown.send(());
        self.serving.await.unwrap().unwrap();
    }
}

/// A temporary file named `name` with `text`.
fn write_temp(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// A JSON Lines event with id `e-N`.
fn event_line(number: u64) -> String {
    format!(
        r#"{{"eventId":"e-{number}","fileId":"f-{number}","occurredAt":"2026-03-02T08:15:00+07:00","source":"test","returned":{{}}}}"#
    )
}

fn push_args(server: &str, file: &Path, batch_size: usize, window: usize) -> PushArgs {
    PushArgs {
        file: file.to_path_buf(),
        format: InputFormat::Auto,
        mapping: None,
        batch_size,
        window,
        json: false,
        backfill: false,
        client: ClientArgs::for_server(server),
    }
}

/// Runs `push` and returns its result and output.
async fn run_push(args: &PushArgs) -> (Result<(), CliError>, String) {
    let mut out = Vec::new();
    let result = push::run(args, &mut out).await;
    (result, String::from_utf8(out).unwrap())
}

/// Lines 1..=10: seven events with two malformed lines and one blank line.
///
/// line 1 e-0 accepted, 2 e-1 rejected, 3 malformed, 4 e-2 accepted, 5 blank,
/// 6 e-3 rejected, 7 e-4 duplicate, 8 not an Event, 9 e-6 conflict, 10 e-8 accepted.
fn mixed_file() -> String {
    [
        event_line(0),
        event_line(1),
        r#"{"eventId":"e-x","#.to_owned(),
        event_line(2),
        String::new(),
        event_line(3),
        event_line(4),
        r#"{"eventId":"e-y","occured_at":"2026-03-02T08:15:00Z"}"#.to_owned(),
        event_line(6),
        event_line(8),
    ]
    .join("\n")
}

#[tokio::test]
async fn push_reports_each_outcome_with_its_line_number() {
    let ingest = FakeIngest::new(2);
    let server = start_server(ingest.clone(), FakeCatalog::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let file = write_temp(&dir, "events.jsonl", &mixed_file());

    let mut args = push_args(&server.address, &file, 3, 2);
    args.json = true;
    let (result, output) = run_push(&args).await;

    assert!(
        matches!(
            result,
            Err(CliError::EventsNotStored {
                conflicting: 1,
                rejected: 2,
                unreadable: 2
            })
        ),
        "{result:?}"
    );
    let summary: serde_json::Value = serde_json::from_str(&output).unwrap();
    assert_eq!(summary["sent"], 7);
    assert_eq!(summary["accepted"], 3);
    assert_eq!(summary["duplicate"], 1);
    assert_eq!(summary["conflicting"], 1);
    assert_eq!(summary["rejected"], 2);
    assert_eq!(summary["unreadable"], 2);
    assert_eq!(summary["unacknowledged"], 0);
    let lines = |list: &str| -> Vec<u64> {
        summary[list]
            .as_array()
            .unwrap()
            .iter()
            .map(|entry| entry["line"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(lines("rejections"), [2, 6]);
    assert_eq!(lines("conflicts"), [9]);
    assert_eq!(lines("unreadable_lines"), [3, 8]);
    let rejection = &summary["rejections"][0];
    assert_eq!(rejection["event_id"], "e-1");
    assert_eq!(rejection["reason"], "REJECTION_REASON_INVALID_VALUE");
    assert_eq!(rejection["field_path"], "received.receiving_unit_id");
    assert_eq!(rejection["value"], "unit-1");
    assert_eq!(rejection["message"], "unknown unit unit-1");
    assert_eq!(summary["conflicts"][0]["description"], "occurred_at");
    assert!(summary["unreadable_lines"][1]["message"]
        .as_str()
        .unwrap()
        .contains("unknown field `occured_at`"));

    // Malformed lines were never sent: 7 events in requests of at most 3.
    assert_eq!(ingest.log.lock().unwrap().request_sizes, [3, 3, 1]);
    server.stop().await;
}

#[tokio::test]
async fn push_table_lists_problems_in_line_order() {
    let server = start_server(FakeIngest::new(1), FakeCatalog::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let file = write_temp(&dir, "events.jsonl", &mixed_file());

    let (result, output) = run_push(&push_args(&server.address, &file, 500, 8)).await;

    assert!(matches!(result, Err(CliError::EventsNotStored { .. })));
    let problem_lines: Vec<&str> = output
        .lines()
        .filter(|line| line.starts_with("line "))
        .collect();
    assert_eq!(problem_lines.len(), 5, "{output}");
    assert!(problem_lines[0].starts_with("line 2: rejected: event \"e-1\": invalid value received.receiving_unit_id = \"unit-1\": unknown unit unit-1"), "{output}");
    assert!(
        problem_lines[1].starts_with("line 3: unreadable: "),
        "{output}"
    );
    assert!(
        problem_lines[2].starts_with("line 6: rejected: "),
        "{output}"
    );
    assert!(
        problem_lines[3].starts_with("line 8: unreadable: unknown field `occured_at`"),
        "{output}"
    );
    assert_eq!(
        problem_lines[4],
        "line 9: conflict: event e-6 is stored with different occurred_at"
    );
    assert!(output.contains("  accepted             3\n"), "{output}");
    server.stop().await;
}

#[tokio::test]
async fn push_pipelines_a_full_window_of_requests() {
    const WINDOW: usize = 8;
    // The fake acks nothing until WINDOW requests are waiting, so the push finishes
    // only if the client really keeps WINDOW requests in flight.
    let ingest = FakeIngest::new(WINDOW);
    let server = start_server(ingest.clone(), FakeCatalog::default()).await;
    let dir = tempfile::tempdir().unwrap();
    // Even ids only, without the conflicting e-6; the duplicate e-4 counts as stored.
    let text: Vec<String> = (0..200)
        .map(|number| event_line(if number == 3 { 400 } else { number * 2 }))
        .collect();
    let file = write_temp(&dir, "events.jsonl", &text.join("\n"));

    let args = push_args(&server.address, &file, 3, WINDOW);
    let (result, output) = run_push(&args).await;

    // Duplicates are success.
    result.unwrap();
    assert!(output.contains("  accepted           199\n"), "{output}");
    assert!(output.contains("  duplicate            1\n"), "{output}");
    server.stop().await;
    let log = ingest.log.lock().unwrap();
    assert_eq!(log.request_sizes.len(), 67);
    assert!(log.request_sizes[..66].iter().all(|size| *size == 3));
    assert_eq!(log.request_sizes[66], 2);
    assert_eq!(log.max_unacked, WINDOW);
}

#[tokio::test]
async fn push_sends_the_token_as_a_bearer_header() {
    let ingest = FakeIngest::new(1);
    let server = start_server(ingest.clone(), FakeCatalog::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let file = write_temp(&dir, "events.jsonl", &event_line(0));

    let mut args = push_args(&server.address, &file, 500, 8);
    args.client.token = Some("t0ken".to_owned());
    let (result, _) = run_push(&args).await;

    result.unwrap();
    assert_eq!(
        ingest.log.lock().unwrap().authorizations,
        [Some("Bearer t0ken".to_owned())]
    );
    server.stop().await;
}

#[tokio::test]
async fn push_reports_what_was_acknowledged_when_the_server_ends_the_stream() {
    let server = start_server(FakeIngest::new(1), FakeCatalog::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let shutdown_line = r#"{"eventId":"shutdown","returned":{}}"#.to_owned();
    let text = [event_line(0), event_line(2), shutdown_line, event_line(8)].join("\n");
    let file = write_temp(&dir, "events.jsonl", &text);

    let mut args = push_args(&server.address, &file, 1, 1);
    args.json = true;
    let (result, output) = run_push(&args).await;

    let Err(CliError::Rpc {
        code,
        rpc,
        server: address,
        ..
    }) = &result
    else {
        panic!("{result:?}");
    };
    assert_eq!(*code, tonic::Code::Unavailable);
    assert_eq!(*rpc, "IngestService.Ingest");
    assert_eq!(address, &server.address);
    let summary: serde_json::Value = serde_json::from_str(&output).unwrap();
    assert_eq!(summary["accepted"], 2);
    assert_eq!(summary["unacknowledged"], 1);
    server.stop().await;
}

#[tokio::test]
async fn push_to_a_closed_port_names_the_server() {
    // Bind and drop, so the port is (almost certainly) closed.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let dir = tempfile::tempdir().unwrap();
    let file = write_temp(&dir, "events.jsonl", &event_line(0));

    let (result, output) = run_push(&push_args(&address, &file, 500, 8)).await;

    let err = result.unwrap_err();
    assert!(matches!(&err, CliError::Connect { server, .. } if *server == address));
    assert!(err
        .to_string()
        .starts_with(&format!("cannot connect to {address}: ")));
    assert!(output.is_empty());
}

#[tokio::test]
async fn push_of_a_missing_file_names_it() {
    let args = push_args(
        "http://127.0.0.1:1",
        Path::new("/nonexistent/events.jsonl"),
        500,
        8,
    );
    let (result, _) = run_push(&args).await;
    assert!(
        matches!(result, Err(CliError::Read { path, .. }) if path == "/nonexistent/events.jsonl")
    );
}

fn load_args(server: &str, file: &Path, dry_run: bool) -> CatalogArgs {
    CatalogArgs {
        command: CatalogCommand::Load(LoadArgs {
            file: file.to_path_buf(),
            dry_run,
            json: false,
            client: ClientArgs::for_server(server),
        }),
    }
}

#[tokio::test]
async fn catalog_load_sends_the_document_and_prints_each_object_and_warning() {
    let fake = FakeCatalog::default();
    let server = start_server(FakeIngest::new(1), fake.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let text = include_str!("../examples/catalog.toml");
    let file = write_temp(&dir, "catalog.toml", text);

    let mut out = Vec::new();
    catalog::run(&load_args(&server.address, &file, false), &mut out)
        .await
        .unwrap();

    let output = String::from_utf8(out).unwrap();
    let expected_first = format!("catalog {}: loaded", file.display());
    assert_eq!(output.lines().next(), Some(expected_first.as_str()));
    assert!(
        output.contains("line     3  created    unit so-xd (from 2020-01-01)"),
        "{output}"
    );
    assert!(output.contains(":12: warning: unit so-xd (from 2020-01-01): units[0].head = \"giam-doc-xd\": head giam-doc-xd is not a member of so-xd"), "{output}");
    assert!(output.ends_with("files to re-judge: 2\n"), "{output}");
    server.stop().await;
    let requests = fake.requests.lock().unwrap();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].document, text);
    assert_eq!(requests[0].format(), pb::CatalogFormat::Toml);
    assert_eq!(requests[0].document_name, "catalog.toml");
    assert!(!requests[0].dry_run);
}

#[tokio::test]
async fn catalog_load_with_errors_fails_and_names_line_and_column() {
    let fake = FakeCatalog::default();
    let server = start_server(FakeIngest::new(1), fake.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let file = write_temp(&dir, "catalog.json", r#"{"procedure": "bad"}"#);

    let mut out = Vec::new();
    let result = catalog::run(&load_args(&server.address, &file, true), &mut out).await;

    assert!(
        matches!(&result, Err(CliError::CatalogRefused { n_errors: 1, .. })),
        "{result:?}"
    );
    let output = String::from_utf8(out).unwrap();
    assert!(output.contains("(dry run, nothing stored)"), "{output}");
    assert!(
        output.contains(":30:5: error: procedures[0].deadline = \"bad\": deadline bad is not an amount and a unit"),
        "{output}"
    );
    server.stop().await;
    let requests = fake.requests.lock().unwrap();
    assert_eq!(requests[0].format(), pb::CatalogFormat::Json);
    assert!(requests[0].dry_run);
}
