//! QueryService: a file with its timeline, control slip, verdict, explanation, attribution
//! and rules broken. Lists, statistics, reports and leaderboards arrive with issue #4 and
//! answer UNIMPLEMENTED until then.

use dunghan_domain::clock::judge;
use dunghan_domain::event::FileHistory;
use dunghan_domain::FileId;
use tonic::{Request, Response, Status};

use super::convert;
use crate::auth;
use crate::config::Role;
use crate::engine::EngineHandle;
use crate::proto::v1 as pb;

/// The QueryService implementation.
#[derive(Debug, Clone)]
pub struct QueryApi {
    engine: EngineHandle,
}

impl QueryApi {
    /// Answers queries from `engine`'s state and catalog.
    pub fn new(engine: EngineHandle) -> Self {
        Self { engine }
    }
}

fn later(rpc: &str) -> Status {
    Status::unimplemented(format!("{rpc} is not served yet (TODO(#4))"))
}

#[tonic::async_trait]
impl pb::query_service_server::QueryService for QueryApi {
    async fn get_file(
        &self,
        request: Request<pb::GetFileRequest>,
    ) -> Result<Response<pb::GetFileResponse>, Status> {
        let principal = auth::principal(&request)?.clone();
        principal.require(Role::Read)?;
        let request = request.into_inner();
        let file_id = FileId::new(request.file_id.clone())
            .map_err(|err| Status::invalid_argument(format!("file_id: {err}")))?;
        let not_found = || Status::not_found(format!("file {file_id} not found"));
        let stored = self.engine.history(&file_id)?.ok_or_else(not_found)?;
        let now = self.engine.now();
        let as_of = match &request.as_of {
            Some(ts) => convert::instant_from_pb("as_of".to_owned(), Some(ts))
                .map_err(|err| Status::invalid_argument(err.to_string()))?,
            None => now,
        };
        let mut history = FileHistory::new(file_id.clone());
        for recorded in stored.ordered() {
            if recorded.event.occurred_at <= as_of {
                let _ = history.insert(recorded.clone());
            }
        }
        let catalog = self.engine.catalog();
        let judgement = judge(&catalog, self.engine.policy(), &history);
        // A caller outside the file's units is told it does not exist, not that it is hidden.
        if let Some(receiving) = &judgement.receiving {
            let date = receiving_date(&judgement).unwrap_or_else(|| now.date_naive());
            if !principal.may_touch(&catalog.ancestry_at(&receiving.unit, date)) {
                return Err(not_found());
            }
        } else if !matches!(principal.scope, auth::UnitScope::All) {
            return Err(not_found());
        }
        tracing::debug!(file_id = %file_id, "get file");
        let file = convert::file_to_pb(&catalog, self.engine.policy(), &history, &judgement, as_of);
        Ok(Response::new(pb::GetFileResponse { file: Some(file) }))
    }

    async fn list_files(
        &self,
        _: Request<pb::ListFilesRequest>,
    ) -> Result<Response<pb::ListFilesResponse>, Status> {
        Err(later("ListFiles"))
    }

    async fn get_stats(
        &self,
        _: Request<pb::GetStatsRequest>,
    ) -> Result<Response<pb::GetStatsResponse>, Status> {
        Err(later("GetStats"))
    }

    async fn get_leaderboard(
        &self,
        _: Request<pb::GetLeaderboardRequest>,
    ) -> Result<Response<pb::GetLeaderboardResponse>, Status> {
        Err(later("GetLeaderboard"))
    }

    async fn get_report(
        &self,
        _: Request<pb::GetReportRequest>,
    ) -> Result<Response<pb::GetReportResponse>, Status> {
        Err(later("GetReport"))
    }

    async fn get_index(
        &self,
        _: Request<pb::GetIndexRequest>,
    ) -> Result<Response<pb::GetIndexResponse>, Status> {
        Err(later("GetIndex"))
    }

    async fn preview_rejudge(
        &self,
        _: Request<pb::PreviewRejudgeRequest>,
    ) -> Result<Response<pb::PreviewRejudgeResponse>, Status> {
        Err(later("PreviewRejudge"))
    }

    async fn rejudge(
        &self,
        _: Request<pb::RejudgeRequest>,
    ) -> Result<Response<pb::RejudgeResponse>, Status> {
        Err(later("Rejudge"))
    }
}

fn receiving_date(judgement: &dunghan_domain::clock::Judgement) -> Option<chrono::NaiveDate> {
    let received = judgement.received_at?;
    Some(
        judgement
            .local_date(received)
            .unwrap_or_else(|| received.date_naive()),
    )
}
