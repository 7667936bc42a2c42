//! The one place errors become gRPC statuses (STYLE.md §4): exhaustive matches, no `_` arm,
//! so a new variant forces a decision. Internal details go to the logs, never to clients.

use tonic::Status;

use crate::engine::EngineError;
use crate::store::StoreError;

impl From<EngineError> for Status {
    fn from(err: EngineError) -> Status {
        match &err {
            EngineError::Overloaded => {
                Status::resource_exhausted("the ingest queue is full; retry later with backoff")
            }
            EngineError::Stopped => Status::unavailable("the service is shutting down"),
            EngineError::Journal(_)
            | EngineError::Store(_)
            | EngineError::Codec(_)
            | EngineError::InvalidCatalog(_) => {
                tracing::error!(error = %err, "engine failure");
                Status::internal("storage failure; nothing in this request was acknowledged")
            }
        }
    }
}

impl From<StoreError> for Status {
    fn from(err: StoreError) -> Status {
        match &err {
            StoreError::Engine { .. }
            | StoreError::Corrupt { .. }
            | StoreError::InstantOutOfRange(_) => {
                tracing::error!(error = %err, "storage failure");
                Status::internal("storage failure")
            }
        }
    }
}
