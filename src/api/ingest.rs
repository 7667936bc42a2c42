//! IngestService: events in, per-event results out. Handlers convert, call the engine and
//! convert back; one bad event never makes the good ones in its request fail or vanish.

use std::pin::Pin;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

use super::convert::{self, FieldError};
use crate::auth::{self, Principal, UnitScope};
use crate::config::Role;
use crate::engine::{Candidate, EngineError, EngineHandle, IngestScope, Outcome};
use crate::metrics;
use crate::proto::v1 as pb;

/// Acks buffered per stream before the server stops reading requests (backpressure).
const ACK_BUFFER: usize = 16;

/// The IngestService implementation.
#[derive(Debug, Clone)]
pub struct IngestApi {
    engine: EngineHandle,
    max_batch_events: usize,
}

impl IngestApi {
    /// Serves ingestion through `engine`, refusing requests of more than `max_batch_events`.
    pub fn new(engine: EngineHandle, max_batch_events: usize) -> Self {
        Self {
            engine,
            max_batch_events,
        }
    }

    async fn process(
        &self,
        principal: &Principal,
        events: Vec<pb::Event>,
        backfill: bool,
    ) -> Result<Vec<pb::EventResult>, Status> {
        if backfill {
            principal.require(Role::Admin)?;
        }
        if events.len() > self.max_batch_events {
            return Err(Status::invalid_argument(format!(
                "events: {} events in one request, at most {} allowed",
                events.len(),
                self.max_batch_events
            )));
        }
        let mut results: Vec<Option<pb::EventResult>> = vec![None; events.len()];
        let mut candidates = Vec::with_capacity(events.len());
        let mut positions = Vec::with_capacity(events.len());
        for (idx, event) in events.iter().enumerate() {
            match convert::event_from_pb(&format!("events[{idx}]"), event) {
                Ok(event) => {
                    positions.push(idx);
                    candidates.push(Candidate {
                        event,
                        recorded_by: principal.name.clone(),
                        backfill,
                    });
                }
                Err(err) => results[idx] = Some(rejected(idx, &event.event_id, &err)),
            }
        }
        let ids: Vec<String> = candidates.iter().map(|c| c.event.id.to_string()).collect();
        let outcomes = self
            .engine
            .ingest(scope_of(principal), candidates)
            .await
            .inspect_err(|err| {
                if matches!(err, EngineError::Overloaded) {
                    metrics::record_shed_events(events.len());
                }
            })?;
        for ((idx, outcome), event_id) in positions.into_iter().zip(outcomes).zip(ids) {
            results[idx] = Some(result_of(idx, event_id, outcome));
        }
        let results: Vec<pb::EventResult> = results.into_iter().flatten().collect();
        metrics::record_ingest(&results);
        Ok(results)
    }
}

type AckStream = Pin<Box<dyn Stream<Item = Result<pb::IngestAck, Status>> + Send>>;

#[tonic::async_trait]
impl pb::ingest_service_server::IngestService for IngestApi {
    type IngestStream = AckStream;

    async fn ingest(
        &self,
        request: Request<Streaming<pb::IngestRequest>>,
    ) -> Result<Response<Self::IngestStream>, Status> {
        let principal = auth::principal(&request)?.clone();
        principal.require(Role::Ingest)?;
        let mut requests = request.into_inner();
        let (acks, stream) = mpsc::channel(ACK_BUFFER);
        let api = self.clone();
        tokio::spawn(async move {
            let mut request_index: u64 = 0;
            while let Some(message) = requests.next().await {
                let answer = match message {
                    Ok(message) => api
                        .process(&principal, message.events, message.backfill)
                        .await
                        .map(|results| pb::IngestAck {
                            request_index,
                            results,
                        }),
                    Err(status) => Err(status),
                };
                let failed = answer.is_err();
                // A failed send means the client is gone: stop reading its requests.
                if acks.send(answer).await.is_err() || failed {
                    break;
                }
                request_index += 1;
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(stream))))
    }

    async fn ingest_batch(
        &self,
        request: Request<pb::IngestBatchRequest>,
    ) -> Result<Response<pb::IngestBatchResponse>, Status> {
        let principal = auth::principal(&request)?.clone();
        principal.require(Role::Ingest)?;
        let request = request.into_inner();
        let events = request.events;
        tracing::debug!(principal = %principal.name, n_events = events.len(), backfill = request.backfill, "ingest batch");
        let results = self.process(&principal, events, request.backfill).await?;
        let count = |outcome: pb::EventOutcome| {
            u32::try_from(
                results
                    .iter()
                    .filter(|r| r.outcome == outcome as i32)
                    .count(),
            )
            .unwrap_or(u32::MAX)
        };
        Ok(Response::new(pb::IngestBatchResponse {
            accepted: count(pb::EventOutcome::Accepted),
            duplicates: count(pb::EventOutcome::Duplicate),
            conflicts: count(pb::EventOutcome::Conflict),
            rejected: count(pb::EventOutcome::Rejected),
            results,
        }))
    }
}

fn scope_of(principal: &Principal) -> IngestScope {
    match &principal.scope {
        UnitScope::All => IngestScope::All,
        UnitScope::Subtrees(roots) => IngestScope::Subtrees(roots.to_vec()),
    }
}

fn rejected(idx: usize, event_id: &str, err: &FieldError) -> pb::EventResult {
    pb::EventResult {
        event_index: index(idx),
        event_id: event_id.to_owned(),
        outcome: pb::EventOutcome::Rejected as i32,
        conflict: None,
        rejection: Some(pb::EventRejection {
            reason: err.rejection_reason() as i32,
            field_path: err.field.clone(),
            value: err.value.clone(),
            message: err.to_string(),
        }),
    }
}

fn result_of(idx: usize, event_id: String, outcome: Outcome) -> pb::EventResult {
    let mut result = pb::EventResult {
        event_index: index(idx),
        event_id,
        outcome: pb::EventOutcome::Unspecified as i32,
        conflict: None,
        rejection: None,
    };
    match outcome {
        Outcome::Accepted { .. } => result.outcome = pb::EventOutcome::Accepted as i32,
        Outcome::Duplicate => result.outcome = pb::EventOutcome::Duplicate as i32,
        Outcome::Conflict {
            stored_hash,
            received_hash,
            stored_file,
        } => {
            result.outcome = pb::EventOutcome::Conflict as i32;
            result.conflict = Some(pb::EventConflict {
                stored_content_hash: stored_hash.to_vec(),
                received_content_hash: received_hash.to_vec(),
                description: format!(
                    "event {} is already stored for file {stored_file} with different content; the stored event is kept",
                    result.event_id
                ),
            });
        }
        Outcome::Contradicts {
            field,
            value,
            message,
        } => {
            result.outcome = pb::EventOutcome::Rejected as i32;
            result.rejection = Some(pb::EventRejection {
                reason: pb::RejectionReason::InvalidValue as i32,
                field_path: format!("events[{idx}].{field}"),
                value,
                message,
            });
        }
        Outcome::OutOfScope { message } => {
            result.outcome = pb::EventOutcome::Rejected as i32;
            result.rejection = Some(pb::EventRejection {
                reason: pb::RejectionReason::OutOfScope as i32,
                field_path: format!("events[{idx}].file_id"),
                value: String::new(),
                message,
            });
        }
    }
    result
}

fn index(idx: usize) -> u32 {
    u32::try_from(idx).unwrap_or(u32::MAX)
}
