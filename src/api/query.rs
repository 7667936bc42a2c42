//! QueryService: a file with its timeline, control slip, verdict, explanation, attribution
//! and rules broken; lists of files, verdict statistics, form II.06a, the Decision 766
//! index, leaderboards, and re-judging.
//!
//! Handlers stay thin: they check the caller's role, validate the request, run the scan
//! and the pure computation of `dunghan_domain::report` on the blocking pool, and convert
//! back. Every answer is limited to the files of the caller's unit scope. This module
//! never writes state, except Rejudge, which goes through the engine like every write.

mod files;
mod rejudge;
mod reports;
pub(crate) mod scope;

use dunghan_domain::clock::judge;
use dunghan_domain::event::FileHistory;
use dunghan_domain::FileId;
use tonic::{Request, Response, Status};

use super::convert;
use crate::auth;
use crate::config::Role;
use crate::engine::EngineHandle;
use crate::proto::v1 as pb;
use crate::store::codec::RejudgeEntry;

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
        request: Request<pb::ListFilesRequest>,
    ) -> Result<Response<pb::ListFilesResponse>, Status> {
        let principal = auth::principal(&request)?.clone();
        principal.require(Role::Read)?;
        let engine = self.engine.clone();
        let catalog = engine.catalog();
        let query = files::ListQuery::parse(&principal, &catalog, request.get_ref(), engine.now())?;
        tracing::debug!(token = %principal.name, "list files");
        let page =
            scope::blocking(move || files::list(&engine, &catalog, &principal, &query)).await?;
        Ok(Response::new(page))
    }

    async fn get_stats(
        &self,
        request: Request<pb::GetStatsRequest>,
    ) -> Result<Response<pb::GetStatsResponse>, Status> {
        let principal = auth::principal(&request)?.clone();
        principal.require(Role::Read)?;
        let (engine, request) = (self.engine.clone(), request.into_inner());
        tracing::debug!(token = %principal.name, unit = %request.subtree_unit_id, "get stats");
        let stats = scope::blocking(move || reports::stats(&engine, &principal, &request)).await?;
        Ok(Response::new(stats))
    }

    async fn get_leaderboard(
        &self,
        request: Request<pb::GetLeaderboardRequest>,
    ) -> Result<Response<pb::GetLeaderboardResponse>, Status> {
        let principal = auth::principal(&request)?.clone();
        principal.require(Role::Read)?;
        let (engine, request) = (self.engine.clone(), request.into_inner());
        let query = reports::LeaderboardQuery::parse(&request)?;
        tracing::debug!(token = %principal.name, unit = %request.subtree_unit_id, "get leaderboard");
        let board =
            scope::blocking(move || reports::leaderboard(&engine, &principal, query, &request))
                .await?;
        Ok(Response::new(board))
    }

    async fn get_report(
        &self,
        request: Request<pb::GetReportRequest>,
    ) -> Result<Response<pb::GetReportResponse>, Status> {
        let principal = auth::principal(&request)?.clone();
        principal.require(Role::Read)?;
        let (engine, request) = (self.engine.clone(), request.into_inner());
        tracing::debug!(token = %principal.name, unit = %request.subtree_unit_id, "get report");
        let form =
            scope::blocking(move || reports::form_06a(&engine, &principal, &request)).await?;
        Ok(Response::new(form))
    }

    async fn get_index(
        &self,
        request: Request<pb::GetIndexRequest>,
    ) -> Result<Response<pb::GetIndexResponse>, Status> {
        let principal = auth::principal(&request)?.clone();
        principal.require(Role::Read)?;
        let (engine, request) = (self.engine.clone(), request.into_inner());
        tracing::debug!(token = %principal.name, unit = %request.subtree_unit_id, "get index");
        let index =
            scope::blocking(move || reports::index_766(&engine, &principal, &request)).await?;
        Ok(Response::new(index))
    }

    async fn preview_rejudge(
        &self,
        request: Request<pb::PreviewRejudgeRequest>,
    ) -> Result<Response<pb::PreviewRejudgeResponse>, Status> {
        let principal = auth::principal(&request)?.clone();
        principal.require(Role::Operate)?;
        let (engine, request) = (self.engine.clone(), request.into_inner());
        let scope = rejudge::Scope::parse(
            &principal,
            &engine.catalog(),
            request.scope.as_ref(),
            engine.now(),
        )?;
        tracing::debug!(token = %principal.name, scope = %scope.describe(), "preview rejudge");
        let plan = scope::blocking(move || rejudge::plan(&engine, &principal, &scope)).await?;
        Ok(Response::new(rejudge::preview(&plan, request.max_changes)?))
    }

    async fn rejudge(
        &self,
        request: Request<pb::RejudgeRequest>,
    ) -> Result<Response<pb::RejudgeResponse>, Status> {
        let principal = auth::principal(&request)?.clone();
        principal.require(Role::Admin)?;
        let (engine, request) = (self.engine.clone(), request.into_inner());
        let reason = request.reason.trim().to_owned();
        if reason.is_empty() || reason.chars().count() > 500 {
            return Err(Status::invalid_argument(
                "reason: 1 to 500 characters are required",
            ));
        }
        let scope = rejudge::Scope::parse(
            &principal,
            &engine.catalog(),
            request.scope.as_ref(),
            engine.now(),
        )?;
        let description = scope.describe();
        let plan = {
            let (engine, principal) = (engine.clone(), principal.clone());
            scope::blocking(move || rejudge::plan(&engine, &principal, &scope)).await?
        };
        if !request.preview_token.is_empty() && request.preview_token != plan.token {
            return Err(Status::aborted(
                "preview_token: the files changed since the preview; preview again",
            ));
        }
        let applied_at = engine.now();
        let audit_id = format!("rejudge-{}-{}", applied_at.timestamp_millis(), plan.token);
        let transitions = rejudge::transitions(&plan.changes);
        tracing::info!(token = %principal.name, audit_id = %audit_id, scope = %description, files = plan.changes.len(), "rejudge");
        engine
            .rejudge(RejudgeEntry {
                audit_id: audit_id.clone(),
                reason,
                actor: principal.name.clone(),
                applied_at,
                scope: description,
                replaced: plan.changes,
            })
            .await?;
        Ok(Response::new(pb::RejudgeResponse {
            files_examined: plan.examined,
            transitions,
            audit_id,
            applied_at: Some(convert::instant_to_pb(applied_at)),
        }))
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
