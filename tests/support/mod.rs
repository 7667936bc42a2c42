//! Test helpers: a real server on 127.0.0.1:0 with a temporary data folder and a clock the
//! test controls, generated clients, and event builders that read as data.

// Each test binary uses a different part of the helpers, through `mod support;`, so items
// are `pub` for the binaries and unused in some of them.
// They are test code: a failed unwrap is a failed test.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};
use dunghan::config::Config;
use dunghan::engine::Clock;
use dunghan::proto::v1 as pb;
use dunghan::server::{self, Running};
use pb::catalog_service_client::CatalogServiceClient;
use pb::ingest_service_client::IngestServiceClient;
use pb::query_service_client::QueryServiceClient;
use tonic::transport::Channel;

/// A clock the test sets.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(at: DateTime<Utc>) -> Arc<Self> {
        Arc::new(Self(Mutex::new(at)))
    }

    pub fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().unwrap() = at;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

/// Local time in Vietnam (UTC+7), `YYYY-MM-DD HH:MM`.
pub fn t(local: &str) -> DateTime<Utc> {
    let naive = NaiveDateTime::parse_from_str(local, "%Y-%m-%d %H:%M").unwrap();
    FixedOffset::east_opt(7 * 3600)
        .unwrap()
        .from_local_datetime(&naive)
        .single()
        .unwrap()
        .with_timezone(&Utc)
}

pub fn ts(local: &str) -> dunghan::proto::wkt::Timestamp {
    let at = t(local);
    dunghan::proto::wkt::Timestamp {
        seconds: at.timestamp(),
        nanos: 0,
    }
}

/// A server with its data folder, restartable.
pub struct TestServer {
    pub config: Config,
    pub clock: Arc<ManualClock>,
    pub running: Option<Running>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    /// A server in open mode on a free loopback port, its clock at `now`.
    pub async fn start(now: &str) -> TestServer {
        Self::start_with(now, |_| {}).await
    }

    pub async fn start_with(now: &str, adjust: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.path().join("data"),
            ..Config::default()
        };
        adjust(&mut config);
        let clock = ManualClock::new(t(now));
        let running = server::start(&config, clock.clone()).await.unwrap();
        TestServer {
            config,
            clock,
            running: Some(running),
            _dir: dir,
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.config.data_dir.clone()
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.running.as_ref().unwrap().local_addr)
    }

    async fn channel(&self) -> Channel {
        Channel::from_shared(self.endpoint())
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    pub async fn ingest(&self) -> IngestServiceClient<Channel> {
        IngestServiceClient::new(self.channel().await)
    }

    pub async fn catalog(&self) -> CatalogServiceClient<Channel> {
        CatalogServiceClient::new(self.channel().await)
    }

    pub async fn query(&self) -> QueryServiceClient<Channel> {
        QueryServiceClient::new(self.channel().await)
    }

    /// Sends `events` in one IngestBatch call (live, not backfill) and returns the answer.
    pub async fn batch(&self, events: Vec<pb::Event>) -> pb::IngestBatchResponse {
        self.ingest()
            .await
            .ingest_batch(pb::IngestBatchRequest {
                events,
                backfill: false,
            })
            .await
            .unwrap()
            .into_inner()
    }

    /// A file as GetFile gives it now.
    pub async fn file(&self, id: &str) -> pb::File {
        self.query()
            .await
            .get_file(pb::GetFileRequest {
                file_id: id.to_owned(),
                as_of: None,
            })
            .await
            .unwrap()
            .into_inner()
            .file
            .unwrap()
    }

    /// Stops in order and starts again on the same data (a new port).
    pub async fn restart(&mut self) {
        self.running.take().unwrap().stop().await.unwrap();
        self.config.listen = "127.0.0.1:0".parse().unwrap();
        self.running = Some(
            server::start(&self.config, self.clock.clone())
                .await
                .unwrap(),
        );
    }

    pub async fn stop(mut self) {
        self.running.take().unwrap().stop().await.unwrap();
    }

    /// Loads `examples/catalog.toml`.
    pub async fn load_example_catalog(&self) {
        let document = std::fs::read_to_string("examples/catalog.toml").unwrap();
        let response = self
            .catalog()
            .await
            .load_catalog(pb::LoadCatalogRequest {
                document,
                format: pb::CatalogFormat::Toml as i32,
                document_name: "catalog.toml".to_owned(),
                dry_run: false,
            })
            .await
            .unwrap()
            .into_inner();
        assert!(response.applied, "{:?}", response.diagnostics);
    }
}

/// An event of `file` at local time `at`.
pub fn event(id: &str, file: &str, at: &str, kind: pb::event::Kind) -> pb::Event {
    pb::Event {
        event_id: id.to_owned(),
        file_id: file.to_owned(),
        occurred_at: Some(ts(at)),
        source: "mot-cua-tinh-x".to_owned(),
        kind: Some(kind),
    }
}

pub fn received(procedure: &str, unit: &str, officer: &str) -> pb::event::Kind {
    pb::event::Kind::Received(pb::event::Received {
        procedure_code: procedure.to_owned(),
        channel: pb::Channel::InPerson as i32,
        receiving_unit_id: unit.to_owned(),
        receiving_officer_id: officer.to_owned(),
        appointment_at: None,
    })
}

pub fn handed(from: (&str, &str), to: (&str, &str), step: &str) -> pb::event::Kind {
    pb::event::Kind::HandedOver(pb::event::HandedOver {
        from_officer_id: from.0.to_owned(),
        from_unit_id: from.1.to_owned(),
        to_officer_id: to.0.to_owned(),
        to_unit_id: to.1.to_owned(),
        step_code: step.to_owned(),
    })
}

pub fn resolved() -> pb::event::Kind {
    pb::event::Kind::Resolved(pb::event::Resolved::default())
}

/// A construction-permit file's life: received, appraised, decided, resolved.
pub fn permit_file(file: &str, resolved_at: &str) -> Vec<pb::Event> {
    vec![
        event(
            &format!("{file}-1"),
            file,
            "2025-03-03 08:00",
            received("1.009972", "ttphvhcc", "cb-mot-cua-1"),
        ),
        event(
            &format!("{file}-2"),
            file,
            "2025-03-03 10:00",
            handed(
                ("cb-mot-cua-1", "ttphvhcc"),
                ("cv-qlxd-1", "so-xd-qlxd"),
                "tham-dinh",
            ),
        ),
        event(
            &format!("{file}-3"),
            file,
            "2025-03-25 10:00",
            handed(
                ("cv-qlxd-1", "so-xd-qlxd"),
                ("giam-doc-xd", "so-xd"),
                "phe-duyet",
            ),
        ),
        event(&format!("{file}-4"), file, resolved_at, resolved()),
    ]
}

pub fn outcomes(response: &pb::IngestBatchResponse) -> Vec<pb::EventOutcome> {
    response
        .results
        .iter()
        .map(|r| pb::EventOutcome::try_from(r.outcome).unwrap())
        .collect()
}

/// An interceptor that sends `token` as a bearer token.
pub fn bearer(
    token: &str,
) -> impl FnMut(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> + Clone {
    let value: tonic::metadata::MetadataValue<_> = format!("Bearer {token}").parse().unwrap();
    move |mut request: tonic::Request<()>| {
        request
            .metadata_mut()
            .insert("authorization", value.clone());
        Ok(request)
    }
}

impl TestServer {
    pub async fn raw_channel(&self) -> Channel {
        self.channel().await
    }
}

/// A token entry for the configuration, with the token itself.
pub fn token(
    name: &str,
    role: dunghan::config::Role,
    units: &[&str],
) -> (String, dunghan::config::TokenConfig) {
    let secret = format!("dh_test_{name}");
    let config = dunghan::config::TokenConfig {
        name: name.to_owned(),
        sha256: dunghan::config::hash_token(&secret),
        role,
        units: units.iter().map(|u| (*u).to_owned()).collect(),
    };
    (secret, config)
}

/// A receipt through `channel`.
pub fn received_via(
    procedure: &str,
    unit: &str,
    officer: &str,
    channel: pb::Channel,
) -> pb::event::Kind {
    pb::event::Kind::Received(pb::event::Received {
        procedure_code: procedure.to_owned(),
        channel: channel as i32,
        receiving_unit_id: unit.to_owned(),
        receiving_officer_id: officer.to_owned(),
        appointment_at: None,
    })
}

/// A refusal at the desk.
pub fn not_accepted(reason: &str) -> pb::event::Kind {
    pb::event::Kind::NotAccepted(pb::event::NotAccepted {
        reason: reason.to_owned(),
    })
}

impl TestServer {
    /// Loads a TOML catalog document and checks that it was applied.
    pub async fn load_catalog_document(&self, document: &str) {
        let response = self
            .catalog()
            .await
            .load_catalog(pb::LoadCatalogRequest {
                document: document.to_owned(),
                format: pb::CatalogFormat::Toml as i32,
                document_name: "test.toml".to_owned(),
                dry_run: false,
            })
            .await
            .unwrap()
            .into_inner();
        assert!(response.applied, "{:?}", response.diagnostics);
    }
}
impl TestServer {
    /// The engine of the running server (for `tick` under the manual clock).
    pub fn engine(&self) -> &dunghan::engine::EngineHandle {
        self.running.as_ref().unwrap().engine()
    }

    pub async fn alerts(&self) -> pb::alert_service_client::AlertServiceClient<Channel> {
        pb::alert_service_client::AlertServiceClient::new(self.channel().await)
    }

    /// Sets the clock to local time `at` and lets the engine fire what came due.
    pub async fn advance_to(&self, at: &str) {
        self.clock.set(t(at));
        self.engine().tick().await.unwrap();
    }
}

/// A supplement request by `officer`.
pub fn supplement_requested(officer: &str) -> pb::event::Kind {
    pb::event::Kind::SupplementRequested(pb::event::SupplementRequested {
        officer_id: officer.to_owned(),
        reason: "thiếu giấy tờ".to_owned(),
        items: Vec::new(),
    })
}

/// The complete dossier is back after a supplement request.
pub fn supplement_received() -> pb::event::Kind {
    pb::event::Kind::SupplementReceived(pb::event::SupplementReceived {})
}
