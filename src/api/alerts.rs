//! AlertService: `Tail` follows stored then live alerts through the [`AlertHub`];
//! `ListAlerts` pages through stored alerts. Both filter by the caller's scope and the
//! request's filter, and convert stored alerts to wire alerts here.
//!
//! A tail is fed from a bounded channel by one task per stream; when a send fails the
//! client is gone and the task stops, which unsubscribes it. Payloads are never logged.

use std::pin::Pin;

use dunghan_domain::alert::{AlertKind, Severity};
use dunghan_domain::rules::Rule;
use dunghan_domain::{FileId, UnitId};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::Stream;
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Code, Request, Response, Status};
use tracing::Instrument;

use super::convert;
use crate::alerts::{AlertFilter, AlertHub, KindSelection, Tail, TailEnd};
use crate::auth::{self, Principal, UnitScope};
use crate::config::Role;
use crate::engine::EngineHandle;
use crate::proto::v1 as pb;
use crate::store::AlertRecord;

/// The trailer of a lagged (or shut down) tail that carries the last sequence sent, in
/// decimal.
pub const LAST_SEQUENCE_TRAILER: &str = "dunghan-last-sequence";

/// Alerts per `ListAlerts` page when the request says 0.
pub const DEFAULT_PAGE_SIZE: u32 = 100;

/// Most alerts per `ListAlerts` page.
pub const MAX_PAGE_SIZE: u32 = 1000;

/// Wire alerts waiting between a tail's task and the transport. The subscriber's own
/// buffer (`limits.alert_subscriber_buffer_alerts`) is in the hub; this one only decouples.
const STREAM_BUFFER: usize = 16;

/// Stored alerts one `ListAlerts` call reads at most, so that a very selective filter
/// cannot make one call scan the whole store; the page may then hold fewer alerts than
/// asked, with a token to go on.
const MAX_SCANNED_PER_PAGE: usize = 10_000;

/// The AlertService implementation.
#[derive(Debug, Clone)]
pub struct AlertApi {
    engine: EngineHandle,
    hub: AlertHub,
    subscriber_buffer: usize,
}

impl AlertApi {
    /// Serves alerts stored by `engine` and published through `hub`, buffering at most
    /// `subscriber_buffer` live alerts per tail before ending it with `RESOURCE_EXHAUSTED`.
    pub fn new(engine: EngineHandle, hub: AlertHub, subscriber_buffer: usize) -> Self {
        Self {
            engine,
            hub,
            subscriber_buffer,
        }
    }
}

type AlertStream = Pin<Box<dyn Stream<Item = Result<pb::Alert, Status>> + Send>>;

#[tonic::async_trait]
impl pb::alert_service_server::AlertService for AlertApi {
    type TailStream = AlertStream;

    async fn tail(
        &self,
        request: Request<pb::TailRequest>,
    ) -> Result<Response<Self::TailStream>, Status> {
        let principal = auth::principal(&request)?.clone();
        principal.require(Role::Operate)?;
        let request = request.into_inner();
        let filter = filter_from_pb(&principal, request.filter.as_ref())?;
        let after = request.after_sequence;
        // Subscribed before the response goes out: an alert fired after the client sees the
        // response headers is never missed.
        let tail = Tail::start(
            &self.hub,
            self.engine.store().clone(),
            after,
            filter,
            self.subscriber_buffer,
        );
        let (sender, receiver) = mpsc::channel(STREAM_BUFFER);
        let span = tracing::info_span!("tail", principal = %principal.name, after_sequence = after);
        tokio::spawn(forward(tail, sender).instrument(span));
        Ok(Response::new(Box::pin(ReceiverStream::new(receiver))))
    }

    async fn list_alerts(
        &self,
        request: Request<pb::ListAlertsRequest>,
    ) -> Result<Response<pb::ListAlertsResponse>, Status> {
        let principal = auth::principal(&request)?.clone();
        principal.require(Role::Read)?;
        let request = request.into_inner();
        let query = ListQuery::from_pb(&principal, &request)?;
        let span = tracing::debug_span!(
            "list_alerts",
            principal = %principal.name,
            after_sequence = query.after,
            page_size = query.page_size
        );
        let store = self.engine.store().clone();
        let page = tokio::task::spawn_blocking(move || span.in_scope(|| query.run(&store)))
            .await
            .map_err(|_| Status::unavailable("the service is shutting down"))??;
        Ok(Response::new(page))
    }
}

/// The wire form of a stored alert; a retraction carries kind `ALERT_KIND_RETRACTION` and
/// names the kind and sequence it retracts.
pub fn alert_to_pb(alert: &AlertRecord) -> pb::Alert {
    let (kind, retracted_kind, retracted_sequence) = match alert.retracts {
        Some(sequence) => (
            pb::AlertKind::Retraction,
            convert::alert_kind_to_pb(alert.kind),
            sequence,
        ),
        None => (
            convert::alert_kind_to_pb(alert.kind),
            pb::AlertKind::Unspecified,
            0,
        ),
    };
    // A rule occurring more than once per file is keyed by the event that broke it.
    let event_id = match (alert.retracts, alert.kind) {
        (None, AlertKind::RuleBroken(_)) => alert.key.clone(),
        _ => String::new(),
    };
    pb::Alert {
        sequence: alert.sequence,
        file_id: alert.file_id.to_string(),
        kind: kind as i32,
        step_code: alert
            .step
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        severity: convert::severity_to_pb(alert.severity) as i32,
        due_at: alert.due_at.map(convert::instant_to_pb),
        fired_at: Some(convert::instant_to_pb(alert.fired_at)),
        unit_id: alert
            .unit_path
            .first()
            .map(ToString::to_string)
            .unwrap_or_default(),
        officer_id: alert
            .officer
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        detail: alert.detail.clone(),
        retracted_sequence,
        retracted_kind: retracted_kind as i32,
        event_id,
    }
}

/// The filter of a request, narrowed to the caller's scope.
///
/// # Errors
/// `INVALID_ARGUMENT` naming the field (`filter.kinds[1]`) for a bad id or enum value.
pub fn filter_from_pb(
    principal: &Principal,
    filter: Option<&pb::AlertFilter>,
) -> Result<AlertFilter, Status> {
    let scope_roots = match &principal.scope {
        UnitScope::All => None,
        UnitScope::Subtrees(roots) => Some(roots.clone()),
    };
    let Some(filter) = filter else {
        return Ok(AlertFilter {
            scope_roots,
            ..AlertFilter::default()
        });
    };
    let invalid =
        |field: &str, message: String| Status::invalid_argument(format!("{field}: {message}"));
    let subtree = (!filter.subtree_unit_id.is_empty())
        .then(|| UnitId::new(filter.subtree_unit_id.clone()))
        .transpose()
        .map_err(|err| invalid("filter.subtree_unit_id", err.to_string()))?;
    let file = (!filter.file_id.is_empty())
        .then(|| FileId::new(filter.file_id.clone()))
        .transpose()
        .map_err(|err| invalid("filter.file_id", err.to_string()))?;
    let min_severity = match pb::Severity::try_from(filter.min_severity) {
        Ok(pb::Severity::Unspecified) => None,
        Ok(pb::Severity::Info) => Some(Severity::Info),
        Ok(pb::Severity::Warning) => Some(Severity::Warning),
        Ok(pb::Severity::Critical) => Some(Severity::Critical),
        Err(_) => {
            return Err(invalid(
                "filter.min_severity",
                format!("unknown severity {}", filter.min_severity),
            ))
        }
    };
    Ok(AlertFilter {
        scope_roots,
        subtree,
        kinds: kinds_from_pb(&filter.kinds)?,
        min_severity,
        file,
    })
}

/// Feeds one tail's alerts into its stream until the client leaves or the tail ends.
async fn forward(mut tail: Tail, sender: mpsc::Sender<Result<pb::Alert, Status>>) {
    tracing::debug!("tail started");
    loop {
        let next = tokio::select! {
            next = tail.next() => next,
            () = sender.closed() => {
                tracing::debug!(last_sent = tail.last_sent(), "tail client gone");
                return;
            }
        };
        match next {
            Ok(alert) => {
                if sender.send(Ok(alert_to_pb(&alert))).await.is_err() {
                    tracing::debug!(last_sent = tail.last_sent(), "tail client gone");
                    return;
                }
            }
            Err(end) => {
                let _ = sender.send(Err(end_status(end))).await;
                return;
            }
        }
    }
}

/// The status that ends a tail. Belongs with the other mappings in `status.rs` once this
/// module is merged (TODO(#4)).
fn end_status(end: TailEnd) -> Status {
    let message = end.to_string();
    match end {
        TailEnd::Lagged { last_sent } => {
            tracing::warn!(last_sent, "alert subscriber lagged; ending its tail");
            with_last_sequence(Code::ResourceExhausted, message, last_sent)
        }
        TailEnd::Closed { last_sent } => {
            tracing::debug!(last_sent, "tail closed by shutdown");
            with_last_sequence(Code::Unavailable, message, last_sent)
        }
        TailEnd::Store { source, .. } => Status::from(source),
        TailEnd::Cancelled { .. } => Status::unavailable("the service is shutting down"),
    }
}

fn with_last_sequence(code: Code, message: String, last_sent: u64) -> Status {
    let mut metadata = MetadataMap::new();
    let value: MetadataValue<_> = MetadataValue::from(last_sent);
    metadata.insert(LAST_SEQUENCE_TRAILER, value);
    Status::with_metadata(code, message, metadata)
}

/// The kinds a wire filter selects. A wire kind selects the stored alerts shown with that
/// kind; `ALERT_KIND_RETRACTION` selects every retraction; `ALERT_KIND_EVENT_CONFLICT` and
/// kinds no stored alert is shown with select nothing; `UNSPECIFIED` is ignored.
fn kinds_from_pb(kinds: &[i32]) -> Result<KindSelection, Status> {
    let mut wanted = Vec::new();
    let mut retractions = false;
    for (idx, raw) in kinds.iter().enumerate() {
        match pb::AlertKind::try_from(*raw) {
            Ok(pb::AlertKind::Unspecified) => {}
            Ok(pb::AlertKind::Retraction) => retractions = true,
            Ok(kind) => wanted.push(kind),
            Err(_) => {
                return Err(Status::invalid_argument(format!(
                    "filter.kinds[{idx}]: unknown alert kind {raw}"
                )))
            }
        }
    }
    if wanted.is_empty() && !retractions {
        return Ok(KindSelection::All);
    }
    let domain_kinds = [
        AlertKind::StepDueSoon,
        AlertKind::StepOverdue,
        AlertKind::FileDueSoon,
        AlertKind::FileOverdue,
    ]
    .into_iter()
    .chain(Rule::ALL.into_iter().map(AlertKind::RuleBroken))
    .filter(|kind| wanted.contains(&convert::alert_kind_to_pb(*kind)))
    .collect();
    Ok(KindSelection::Only {
        kinds: domain_kinds,
        retractions,
    })
}

/// A validated `ListAlerts` request.
#[derive(Debug)]
struct ListQuery {
    filter: AlertFilter,
    after: u64,
    fired_from: Option<chrono::DateTime<chrono::Utc>>,
    fired_until: Option<chrono::DateTime<chrono::Utc>>,
    page_size: usize,
}

impl ListQuery {
    fn from_pb(principal: &Principal, request: &pb::ListAlertsRequest) -> Result<Self, Status> {
        let invalid = |err: convert::FieldError| Status::invalid_argument(err.to_string());
        let after = if request.page_token.is_empty() {
            request.after_sequence
        } else {
            request.page_token.parse::<u64>().map_err(|_| {
                Status::invalid_argument("page_token: not a token this service issued")
            })?
        };
        let page_size = match request.page_size {
            0 => DEFAULT_PAGE_SIZE,
            size @ 1..=MAX_PAGE_SIZE => size,
            size => {
                return Err(Status::invalid_argument(format!(
                    "page_size: {size} is more than {MAX_PAGE_SIZE}"
                )))
            }
        };
        let fired_from = request
            .fired_from
            .as_ref()
            .map(|ts| convert::instant_from_pb("fired_from".to_owned(), Some(ts)))
            .transpose()
            .map_err(invalid)?;
        let fired_until = request
            .fired_until
            .as_ref()
            .map(|ts| convert::instant_from_pb("fired_until".to_owned(), Some(ts)))
            .transpose()
            .map_err(invalid)?;
        Ok(Self {
            filter: filter_from_pb(principal, request.filter.as_ref())?,
            after,
            fired_from,
            fired_until,
            page_size: usize::try_from(page_size).unwrap_or(usize::MAX),
        })
    }

    /// Reads one page (blocking: runs on a blocking thread).
    fn run(&self, store: &crate::store::Store) -> Result<pb::ListAlertsResponse, Status> {
        let last_stored_before = store.last_alert_sequence()?;
        let mut alerts = Vec::new();
        let mut cursor = self.after;
        let mut scanned = 0;
        let mut exhausted = false;
        while alerts.len() < self.page_size && scanned < MAX_SCANNED_PER_PAGE {
            let chunk = self.page_size.max(crate::alerts::BACKLOG_PAGE_ALERTS);
            let records = store.alerts_after(cursor, chunk)?;
            let short = records.len() < chunk;
            for record in records {
                if alerts.len() == self.page_size {
                    break;
                }
                cursor = record.sequence;
                scanned += 1;
                if self.passes(&record) {
                    alerts.push(alert_to_pb(&record));
                }
            }
            if short && alerts.len() < self.page_size {
                exhausted = true;
                break;
            }
        }
        // On the last page, the highest sequence the scan reached is the point a tail
        // continues from without a gap (alerts stored since come after it).
        let last_stored_sequence = last_stored_before.max(if exhausted { cursor } else { 0 });
        let next_page_token = if exhausted {
            String::new()
        } else {
            cursor.to_string()
        };
        tracing::debug!(n_alerts = alerts.len(), scanned, "listed alerts");
        Ok(pb::ListAlertsResponse {
            alerts,
            next_page_token,
            last_stored_sequence,
        })
    }

    fn passes(&self, record: &AlertRecord) -> bool {
        if self.fired_from.is_some_and(|from| record.fired_at < from) {
            return false;
        }
        if self
            .fired_until
            .is_some_and(|until| record.fired_at >= until)
        {
            return false;
        }
        self.filter.matches(record)
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use dunghan_domain::StepCode;

    use super::*;

    fn record(kind: AlertKind, retracts: Option<u64>) -> AlertRecord {
        let at = Utc.with_ymd_and_hms(2025, 3, 3, 5, 0, 0).unwrap();
        AlertRecord {
            sequence: 9,
            file_id: FileId::new("F1".to_owned()).unwrap(),
            kind,
            step: Some(StepCode::new("tham-dinh".to_owned()).unwrap()),
            key: "E7".to_owned(),
            severity: Severity::Critical,
            due_at: Some(at),
            fired_at: at,
            recorded_at: at,
            unit_path: vec![
                UnitId::new("so-xd-qlxd".to_owned()).unwrap(),
                UnitId::new("so-xd".to_owned()).unwrap(),
            ],
            officer: None,
            detail: "late".to_owned(),
            retracts,
        }
    }

    #[test]
    fn alert_on_the_wire_names_its_unit_first_and_no_retraction() {
        let wire = alert_to_pb(&record(AlertKind::StepOverdue, None));
        assert_eq!(wire.sequence, 9);
        assert_eq!(wire.kind, pb::AlertKind::StepOverdue as i32);
        assert_eq!(wire.step_code, "tham-dinh");
        assert_eq!(wire.unit_id, "so-xd-qlxd");
        assert_eq!(wire.officer_id, "");
        assert_eq!(wire.retracted_sequence, 0);
        assert_eq!(wire.retracted_kind, pb::AlertKind::Unspecified as i32);
        assert_eq!(wire.event_id, "");
        assert_eq!(wire.fired_at, wire.due_at);
    }

    #[test]
    fn retraction_on_the_wire_names_what_it_retracts() {
        let wire = alert_to_pb(&record(AlertKind::FileOverdue, Some(4)));
        assert_eq!(wire.kind, pb::AlertKind::Retraction as i32);
        assert_eq!(wire.retracted_kind, pb::AlertKind::FileOverdue as i32);
        assert_eq!(wire.retracted_sequence, 4);
    }

    #[test]
    fn rule_alert_carries_its_event() {
        let kind = AlertKind::RuleBroken(Rule::SecondSupplementRequest);
        let wire = alert_to_pb(&record(kind, None));
        assert_eq!(wire.kind, pb::AlertKind::SecondSupplementRequest as i32);
        assert_eq!(wire.event_id, "E7");
    }

    #[test]
    fn wire_kinds_select_domain_kinds_and_retractions() {
        assert_eq!(kinds_from_pb(&[]).unwrap(), KindSelection::All);
        assert_eq!(kinds_from_pb(&[0]).unwrap(), KindSelection::All);
        assert_eq!(
            kinds_from_pb(&[pb::AlertKind::FileOverdue as i32, 15]).unwrap(),
            KindSelection::Only {
                kinds: vec![AlertKind::FileOverdue],
                retractions: true
            }
        );
        // No stored alert is ever shown as an ingest conflict or a changed finished file.
        assert_eq!(
            kinds_from_pb(&[16, 12]).unwrap(),
            KindSelection::Only {
                kinds: vec![],
                retractions: false
            }
        );
        let err = kinds_from_pb(&[4, 99]).unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert_eq!(err.message(), "filter.kinds[1]: unknown alert kind 99");
    }

    #[test]
    fn lagged_status_carries_the_last_sequence_in_message_and_trailer() {
        let status = end_status(TailEnd::Lagged { last_sent: 42 });
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert_eq!(status.message(), "subscriber lagged; last sequence sent 42");
        let trailer = status.metadata().get(LAST_SEQUENCE_TRAILER).unwrap();
        assert_eq!(trailer.to_str().unwrap(), "42");
    }
}
