//! ListFiles: the filter, the stable order (receipt instant, then file id; files not
//! received last, by file id), the opaque page token, and the wire summary of a file.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use dunghan_domain::alert::AlertKind;
use dunghan_domain::catalog::Catalog;
use dunghan_domain::clock::FileVerdict;
use dunghan_domain::event::{Channel, EventKind, FileHistory, Holder};
use dunghan_domain::report::Window;
use dunghan_domain::{FieldCode, FileId, OfficerId, ProcedureCode, UnitId};
use tonic::Status;

use super::scope::{self, ScopedFile};
use crate::api::convert;
use crate::auth::Principal;
use crate::engine::EngineHandle;
use crate::proto::v1 as pb;
use crate::store::{FileStatus, FileSummary, SummaryStanding};

/// Largest page.
const MAX_PAGE_SIZE: u32 = 1_000;
/// Page size when the request gives none.
const DEFAULT_PAGE_SIZE: u32 = 100;

/// A validated ListFiles request.
#[derive(Debug)]
pub(super) struct ListQuery {
    subtree: Option<UnitId>,
    officer: Option<OfficerId>,
    procedure: Option<ProcedureCode>,
    field: Option<FieldCode>,
    channel: Option<Channel>,
    verdicts: BTreeSet<i32>,
    overdue_now: bool,
    unjudged: bool,
    received_in: Option<Window>,
    as_of: DateTime<Utc>,
    page_size: usize,
    after: Option<OrderKey>,
}

/// Where a file sits in the listing order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct OrderKey {
    /// False for received files, so they come first.
    not_received: bool,
    received_ms: i64,
    file_id: String,
}

impl ListQuery {
    /// Validates `request` for `principal`.
    pub(super) fn parse(
        principal: &Principal,
        catalog: &Catalog,
        request: &pb::ListFilesRequest,
        now: DateTime<Utc>,
    ) -> Result<ListQuery, Status> {
        let filter = request.filter.clone().unwrap_or_default();
        let invalid = |err: convert::FieldError| Status::invalid_argument(err.to_string());
        let as_of = scope::instant_or("as_of", request.as_of.as_ref(), now)?;
        let page_size = match request.page_size {
            0 => DEFAULT_PAGE_SIZE,
            size if size <= MAX_PAGE_SIZE => size,
            size => {
                return Err(Status::invalid_argument(format!(
                    "page_size = {size}: at most {MAX_PAGE_SIZE}"
                )))
            }
        };
        let channel = match pb::Channel::try_from(filter.channel) {
            Ok(pb::Channel::Unspecified) => None,
            Ok(pb::Channel::InPerson) => Some(Channel::InPerson),
            Ok(pb::Channel::Online) => Some(Channel::Online),
            Ok(pb::Channel::Postal) => Some(Channel::Postal),
            Err(_) => {
                return Err(Status::invalid_argument(format!(
                    "filter.channel = {}: not a channel",
                    filter.channel
                )))
            }
        };
        for (idx, verdict) in filter.verdicts.iter().enumerate() {
            if pb::Verdict::try_from(*verdict).is_err() {
                return Err(Status::invalid_argument(format!(
                    "filter.verdicts[{idx}] = {verdict}: not a verdict"
                )));
            }
        }
        Ok(ListQuery {
            subtree: scope::subtree(
                principal,
                catalog,
                "filter.subtree_unit_id",
                &filter.subtree_unit_id,
                now,
            )?,
            officer: convert::optional_id_from_pb(
                "filter.officer_id".to_owned(),
                &filter.officer_id,
                OfficerId::new,
            )
            .map_err(invalid)?,
            procedure: convert::optional_id_from_pb(
                "filter.procedure_code".to_owned(),
                &filter.procedure_code,
                ProcedureCode::new,
            )
            .map_err(invalid)?,
            field: convert::optional_id_from_pb(
                "filter.field_code".to_owned(),
                &filter.field_code,
                FieldCode::new,
            )
            .map_err(invalid)?,
            channel,
            verdicts: filter.verdicts.iter().copied().collect(),
            overdue_now: filter.overdue_now,
            unjudged: filter.unjudged,
            received_in: filter
                .received_in
                .as_ref()
                .map(|period| scope::window("filter.received_in", Some(period), as_of, as_of))
                .transpose()?,
            as_of,
            page_size: usize::try_from(page_size).unwrap_or(100),
            after: match request.page_token.as_str() {
                "" => None,
                token => Some(decode_token(token)?),
            },
        })
    }
}

/// The page of files `query` asks for.
pub(super) fn list(
    engine: &EngineHandle,
    catalog: &Catalog,
    principal: &Principal,
    query: &ListQuery,
) -> Result<pb::ListFilesResponse, Status> {
    let mut matching: Vec<(OrderKey, ScopedFile, FileVerdict)> =
        scope::scan(engine, catalog, principal, query.subtree.as_ref())?
            .into_iter()
            .filter_map(|file| {
                let verdict = file.facts.verdict_at(query.as_of);
                let key = order_key(&file.summary);
                let keep = query.after.as_ref().is_none_or(|after| &key > after)
                    && matches(query, &file, &verdict);
                keep.then_some((key, file, verdict))
            })
            .collect();
    matching.sort_by(|a, b| a.0.cmp(&b.0));
    let mut files = Vec::with_capacity(query.page_size);
    let mut next_page_token = String::new();
    for (key, file, verdict) in matching {
        if let Some(officer) = &query.officer {
            let Some(history) = engine.history(&file.summary.file_id)? else {
                continue;
            };
            if !held_by(&history, officer, query.as_of) {
                continue;
            }
        }
        if files.len() == query.page_size {
            // One more match exists: the page is full and the token points after its last.
            next_page_token = files
                .last()
                .map(|last: &(OrderKey, pb::FileSummary)| encode_token(&last.0))
                .unwrap_or_default();
            break;
        }
        let summary = summary_to_pb(&file.summary, verdict, query.as_of);
        files.push((key, summary));
    }
    Ok(pb::ListFilesResponse {
        files: files.into_iter().map(|(_, summary)| summary).collect(),
        next_page_token,
    })
}

/// Whether a file passes every filter but the officer's (which needs its events).
fn matches(query: &ListQuery, file: &ScopedFile, verdict: &FileVerdict) -> bool {
    let summary = &file.summary;
    // A file received after the judging instant did not exist yet.
    if summary.received_at.is_some_and(|at| at > query.as_of) {
        return false;
    }
    let same = |wanted: Option<&str>, value: Option<&str>| wanted.is_none_or(|w| value == Some(w));
    if !same(
        query.procedure.as_ref().map(ProcedureCode::as_str),
        summary.procedure.as_ref().map(ProcedureCode::as_str),
    ) || !same(
        query.field.as_ref().map(FieldCode::as_str),
        summary.field.as_ref().map(FieldCode::as_str),
    ) {
        return false;
    }
    if query.channel.is_some() && query.channel != summary.channel {
        return false;
    }
    let wire = convert::verdict_to_pb(verdict.clone()) as i32;
    if !query.verdicts.is_empty() && !query.verdicts.contains(&wire) {
        return false;
    }
    if query.overdue_now && wire != pb::Verdict::Overdue as i32 {
        return false;
    }
    if query.unjudged && *verdict != FileVerdict::Unjudged {
        return false;
    }
    if let Some(window) = &query.received_in {
        if !summary.received_at.is_some_and(|at| window.contains(at)) {
            return false;
        }
    }
    true
}

/// Whether `officer` held the file (received it, or was handed it) by `as_of`.
pub(super) fn held_by(history: &FileHistory, officer: &OfficerId, as_of: DateTime<Utc>) -> bool {
    let named = |holder: &Holder| holder.officer.as_ref() == Some(officer);
    history
        .ordered()
        .into_iter()
        .filter(|recorded| recorded.event.occurred_at <= as_of)
        .any(|recorded| match &recorded.event.kind {
            EventKind::Received { holder, .. } => named(holder),
            EventKind::HandedOver { to, .. } => named(to),
            EventKind::Submitted { .. }
            | EventKind::NotAccepted { .. }
            | EventKind::SupplementRequested { .. }
            | EventKind::SupplementReceived
            | EventKind::FinancialObligationRequested
            | EventKind::FinancialObligationFulfilled
            | EventKind::ConsultationRequested { .. }
            | EventKind::ConsultationAnswered { .. }
            | EventKind::PauseStarted { .. }
            | EventKind::PauseEnded { .. }
            | EventKind::Extended { .. }
            | EventKind::Withdrawn { .. }
            | EventKind::Stopped { .. }
            | EventKind::Rejected { .. }
            | EventKind::Resolved
            | EventKind::Returned => false,
        })
}

fn order_key(summary: &FileSummary) -> OrderKey {
    OrderKey {
        not_received: summary.received_at.is_none(),
        received_ms: summary.received_at.map_or(0, |at| at.timestamp_millis()),
        file_id: summary.file_id.to_string(),
    }
}

/// The page token: the hex of `r<ms> <file id>` (or `n <file id>` for a file not
/// received), opaque to clients.
fn encode_token(key: &OrderKey) -> String {
    let text = if key.not_received {
        format!("n {}", key.file_id)
    } else {
        format!("r{} {}", key.received_ms, key.file_id)
    };
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

fn decode_token(token: &str) -> Result<OrderKey, Status> {
    let bad = || Status::invalid_argument("page_token: not a token this server issued");
    if token.len() % 2 != 0 || token.len() > 600 {
        return Err(bad());
    }
    let bytes = (0..token.len())
        .step_by(2)
        .map(|idx| {
            token
                .get(idx..idx + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(bad)?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (head, file_id) = text.split_once(' ').ok_or_else(bad)?;
    FileId::new(file_id).map_err(|_| bad())?;
    let (not_received, received_ms) = match head.strip_prefix('r') {
        Some(ms) => (false, ms.parse::<i64>().map_err(|_| bad())?),
        None if head == "n" => (true, 0),
        None => return Err(bad()),
    };
    Ok(OrderKey {
        not_received,
        received_ms,
        file_id: file_id.to_owned(),
    })
}

/// The wire summary of a stored file judged at `as_of`; a file finished after `as_of` is
/// shown open (in progress) as it was then.
fn summary_to_pb(
    summary: &FileSummary,
    verdict: FileVerdict,
    as_of: DateTime<Utc>,
) -> pb::FileSummary {
    let finished_at = summary.finished_at.filter(|at| *at <= as_of);
    let status = match (summary.finished_at, finished_at) {
        (Some(_), None) => pb::FileStatus::InProgress,
        _ => status_to_pb(summary.status),
    };
    let holder = match (summary.finished_at, finished_at) {
        (_, Some(_)) => None,
        _ => summary.holder.as_ref().map(|holder| pb::Holder {
            officer_id: holder
                .officer
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            unit_id: holder.unit.to_string(),
            step_code: String::new(),
            since: None,
        }),
    };
    let unjudged_reason = match (&summary.standing, &verdict) {
        (SummaryStanding::Unjudged(detail), FileVerdict::Unjudged) => Some(unjudged_reason(detail)),
        _ => None,
    };
    let rules_broken = summary
        .emitted_alerts
        .iter()
        .filter(|alert| matches!(alert.kind, AlertKind::RuleBroken(_)))
        .count();
    pb::FileSummary {
        file_id: summary.file_id.to_string(),
        procedure_code: summary
            .procedure
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        field_code: summary
            .field
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        channel: summary
            .channel
            .map_or(pb::Channel::Unspecified, convert::channel_to_pb) as i32,
        receiving_unit_id: summary
            .receiving
            .as_ref()
            .map(|h| h.unit.to_string())
            .unwrap_or_default(),
        holder,
        status: status as i32,
        verdict: convert::verdict_to_pb(verdict) as i32,
        unjudged_reason,
        received_at: summary.received_at.map(convert::instant_to_pb),
        due_at: summary.due.map(convert::instant_to_pb),
        extended_due_at: summary.extended_due.map(convert::instant_to_pb),
        finished_at: finished_at.map(convert::instant_to_pb),
        rules_broken: u32::try_from(rules_broken).unwrap_or(u32::MAX),
    }
}

fn status_to_pb(status: Option<FileStatus>) -> pb::FileStatus {
    match status {
        None => pb::FileStatus::Unspecified,
        Some(FileStatus::Submitted) => pb::FileStatus::Submitted,
        Some(FileStatus::InProgress) => pb::FileStatus::InProgress,
        Some(FileStatus::WaitingSupplement) => pb::FileStatus::WaitingSupplement,
        Some(FileStatus::WaitingFinancialObligation) => pb::FileStatus::WaitingFinancialObligation,
        Some(FileStatus::Paused) => pb::FileStatus::Paused,
        Some(FileStatus::Resolved) => pb::FileStatus::Resolved,
        Some(FileStatus::Returned) => pb::FileStatus::Returned,
        Some(FileStatus::Rejected) => pb::FileStatus::Rejected,
        Some(FileStatus::Stopped) => pb::FileStatus::Stopped,
        Some(FileStatus::Withdrawn) => pb::FileStatus::Withdrawn,
        Some(FileStatus::NotAccepted) => pb::FileStatus::NotAccepted,
    }
}

/// The wire reason of a stored unjudged detail. The store keeps the reasons as text
/// (`procedure X is not in the catalog; ...`); the first one gives the cause and the id.
fn unjudged_reason(detail: &str) -> pb::UnjudgedReason {
    let first = detail.split("; ").next().unwrap_or_default();
    let mut words = first.split(' ');
    let (kind, id) = (
        words.next().unwrap_or_default(),
        words.next().unwrap_or_default(),
    );
    let cause = match kind {
        "procedure" => pb::UnjudgedCause::UnknownProcedure,
        "unit" => pb::UnjudgedCause::UnknownUnit,
        _ => pb::UnjudgedCause::CalendarNotCovered,
    };
    let names_id = matches!(
        cause,
        pb::UnjudgedCause::UnknownProcedure | pb::UnjudgedCause::UnknownUnit
    );
    let missing_id = if names_id {
        id.to_owned()
    } else {
        String::new()
    };
    pb::UnjudgedReason {
        cause: cause as i32,
        missing_id,
        detail: detail.to_owned(),
    }
}
