//! GetStats, GetReport (form II.06a), GetIndex (Decision 766) and GetLeaderboard: a scan of
//! the caller's files, the pure computation of `dunghan_domain::report`, and the wire rows.
//!
//! Every count comes from whole files covered by the window (see `report`): finished files
//! with their stored verdict, open files judged at the window's end, so the statistics, the
//! form and the index of one window count the same files. The leaderboard re-folds the
//! covered files' events before the window's end to attribute their lateness.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use dunghan_domain::catalog::Catalog;
use dunghan_domain::clock::judge;
use dunghan_domain::event::FileHistory;
use dunghan_domain::report::{
    self, channel_code, Coverage, FileCredits, RankBy, Subject, SubjectKind, VerdictCounts, Window,
};
use dunghan_domain::{FileId, UnitId};
use tonic::Status;

use super::scope;
use crate::api::convert;
use crate::auth::{Principal, UnitScope};
use crate::engine::EngineHandle;
use crate::proto::v1 as pb;

/// Largest leaderboard.
const MAX_LEADERBOARD: u32 = 1_000;
/// Leaderboard length when the request gives none.
const DEFAULT_LEADERBOARD: u32 = 50;

/// Verdict counts grouped as `request` asks, for the caller's files.
pub(super) fn stats(
    engine: &EngineHandle,
    principal: &Principal,
    request: &pb::GetStatsRequest,
) -> Result<pb::GetStatsResponse, Status> {
    let catalog = engine.catalog();
    let now = engine.now();
    let as_of = scope::instant_or("as_of", request.as_of.as_ref(), now)?;
    let window = scope::window("period", request.period.as_ref(), as_of, as_of)?;
    let root = scope::subtree(
        principal,
        &catalog,
        "subtree_unit_id",
        &request.subtree_unit_id,
        now,
    )?;
    let group_by = pb::StatsGroupBy::try_from(request.group_by).map_err(|_| {
        Status::invalid_argument(format!("group_by = {}: not a grouping", request.group_by))
    })?;
    let depth = usize::try_from(request.unit_depth.max(1)).unwrap_or(1);
    // Without a subtree, a caller scoped to one unit gets rows below that unit.
    let row_root = root.clone().or_else(|| match &principal.scope {
        UnitScope::Subtrees(roots) if roots.len() == 1 => roots.first().cloned(),
        UnitScope::Subtrees(_) | UnitScope::All => None,
    });
    let index = engine.index().read();
    let visible = scope::visible_chains(&index, principal, root.as_ref());
    // Every grouping is a small number per file: a unit chain's row unit, or an interned
    // officer, procedure or field, or the channel code; `names` spells each number.
    let (names, chain_keys): (Vec<String>, Vec<Option<u32>>) = match group_by {
        pb::StatsGroupBy::Unspecified | pb::StatsGroupBy::Unit => {
            let (units, keys) =
                index.chain_units(|ancestry| row_unit(ancestry, row_root.as_ref(), depth));
            (spell(&units), keys)
        }
        pb::StatsGroupBy::Officer => (spell(index.officers().values()), Vec::new()),
        pb::StatsGroupBy::Procedure => (spell(index.procedures().values()), Vec::new()),
        pb::StatsGroupBy::Field => (spell(index.fields().values()), Vec::new()),
        pb::StatsGroupBy::Channel => ((0..=3).map(|code| code.to_string()).collect(), Vec::new()),
    };
    let chain_key = |chain: u32| -> Option<u32> {
        chain_keys
            .get(usize::try_from(chain).ok()?)
            .copied()
            .flatten()
    };
    let (counts, total) = report::tally_dense(
        names.len(),
        scope::visible_rows(&index, &visible).map(|row| {
            let key = match group_by {
                pb::StatsGroupBy::Unspecified | pb::StatsGroupBy::Unit => chain_key(row.chain),
                pb::StatsGroupBy::Officer => row.officer,
                pb::StatsGroupBy::Procedure => row.facts.procedure,
                pb::StatsGroupBy::Field => row.facts.field,
                pb::StatsGroupBy::Channel => Some(u32::from(channel_code(row.facts.channel))),
            };
            (key, row.facts.coverage(&window))
        }),
    );
    drop(index);
    let mut rows: Vec<(&String, &VerdictCounts)> = names
        .iter()
        .zip(&counts)
        .filter(|(_, counts)| **counts != VerdictCounts::default())
        .collect();
    rows.sort_by(|a, b| a.0.cmp(b.0));
    let rows = rows
        .into_iter()
        .map(|(key, counts)| stats_row(key, &display_name(&catalog, group_by, key, now), counts))
        .collect();
    Ok(pb::GetStatsResponse {
        rows,
        total: Some(stats_row("", "", &total)),
        as_of: Some(convert::instant_to_pb(window.end())),
    })
}

/// Form II.06a for the caller's files under the requested subtree.
pub(super) fn form_06a(
    engine: &EngineHandle,
    principal: &Principal,
    request: &pb::GetReportRequest,
) -> Result<pb::GetReportResponse, Status> {
    let (window, root) = bounded_scope(
        engine,
        principal,
        request.period.as_ref(),
        &request.subtree_unit_id,
    )?;
    let (form, mut rows) = scope::count_facts(engine, principal, root.as_ref(), |index, facts| {
        let form = report::form_06a(facts, &window);
        let rows: Vec<(String, report::ReportRow)> = form
            .rows
            .iter()
            .map(|(field, row)| (spell_one(field.and_then(|f| index.fields().get(f))), *row))
            .collect();
        (form, rows)
    });
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let mut notes = vec![
        "withdrawn, stopped and rejected files count as resolved (their clock ended)".to_owned(),
        "files not accepted at the desk are not counted".to_owned(),
        format!(
            "files still open are judged at {} (the end of the period, or now if earlier)",
            window.end().to_rfc3339()
        ),
        "a file belongs to the unit that received it".to_owned(),
    ];
    if form.unjudged > 0 {
        notes.push(format!(
            "{} files are left out because the catalog cannot judge them yet",
            form.unjudged
        ));
    }
    Ok(pb::GetReportResponse {
        rows: rows
            .into_iter()
            .map(|(field, row)| report_row(&field, &row))
            .collect(),
        total: Some(report_row("", &form.total)),
        notes,
    })
}

/// The Decision 766 group-2 indicators for the requested subtree.
pub(super) fn index_766(
    engine: &EngineHandle,
    principal: &Principal,
    request: &pb::GetIndexRequest,
) -> Result<pb::GetIndexResponse, Status> {
    if request.subtree_unit_id.is_empty() {
        return Err(Status::invalid_argument(
            "subtree_unit_id: a unit is required",
        ));
    }
    let (window, root) = bounded_scope(
        engine,
        principal,
        request.period.as_ref(),
        &request.subtree_unit_id,
    )?;
    let (index, mut handling) =
        scope::count_facts(engine, principal, root.as_ref(), |files, facts| {
            let index = report::index_766(facts, &window);
            let handling: Vec<(String, report::HandlingTotal)> = index
                .handling
                .iter()
                .map(|(procedure, total)| (spell_one(files.procedures().get(*procedure)), *total))
                .collect();
            (index, handling)
        });
    handling.sort_by(|a, b| a.0.cmp(&b.0));
    let received = index.received();
    let mut channels = index.channels.clone();
    for code in 1..=3 {
        channels.entry(code).or_insert(0);
    }
    Ok(pb::GetIndexResponse {
        files_handled: index.files_handled,
        files_on_time: index.files_on_time,
        on_time_rate: index.on_time_rate(),
        handling_times: handling
            .iter()
            .map(|(procedure, total)| pb::ProcedureHandlingTime {
                procedure_code: procedure.clone(),
                files_finished: total.files_finished,
                average_handling_time: Some(convert::working_time_to_pb(total.average())),
            })
            .collect(),
        channel_shares: channels
            .into_iter()
            .map(|(code, files)| pb::ChannelShare {
                channel: i32::from(code),
                files,
                share: report::rate(files, received),
            })
            .collect(),
    })
}

/// A validated leaderboard request.
#[derive(Debug, Clone, Copy)]
pub(super) struct LeaderboardQuery {
    kind: SubjectKind,
    rank_by: RankBy,
    limit: usize,
}

impl LeaderboardQuery {
    /// Validates the subject, ranking and limit of `request`.
    pub(super) fn parse(request: &pb::GetLeaderboardRequest) -> Result<LeaderboardQuery, Status> {
        let kind = match pb::LeaderboardSubject::try_from(request.subject) {
            Ok(pb::LeaderboardSubject::Officers) => SubjectKind::Officers,
            Ok(pb::LeaderboardSubject::Units) => SubjectKind::Units,
            Ok(pb::LeaderboardSubject::Heads) => SubjectKind::Heads,
            Ok(pb::LeaderboardSubject::Unspecified) | Err(_) => {
                return Err(Status::invalid_argument(format!(
                    "subject = {}: choose officers, units or heads",
                    request.subject
                )))
            }
        };
        let rank_by = match pb::LeaderboardRankBy::try_from(request.rank_by) {
            Ok(pb::LeaderboardRankBy::LateFiles) => RankBy::LateFiles,
            Ok(pb::LeaderboardRankBy::Unspecified | pb::LeaderboardRankBy::LateWorkingTime) => {
                RankBy::LateWorkingTime
            }
            Err(_) => {
                return Err(Status::invalid_argument(format!(
                    "rank_by = {}: not a ranking",
                    request.rank_by
                )))
            }
        };
        let limit = match request.limit {
            0 => DEFAULT_LEADERBOARD,
            limit if limit <= MAX_LEADERBOARD => limit,
            limit => {
                return Err(Status::invalid_argument(format!(
                    "limit = {limit}: at most {MAX_LEADERBOARD}"
                )))
            }
        };
        Ok(LeaderboardQuery {
            kind,
            rank_by,
            limit: usize::try_from(limit).unwrap_or(50),
        })
    }
}

/// The leaderboard of the caller's files: shares of lateness of files late in the window or
/// overdue at its end, and step work of every file covered.
pub(super) fn leaderboard(
    engine: &EngineHandle,
    principal: &Principal,
    query: LeaderboardQuery,
    request: &pb::GetLeaderboardRequest,
) -> Result<pb::GetLeaderboardResponse, Status> {
    let catalog = engine.catalog();
    let now = engine.now();
    let window = scope::window("period", request.period.as_ref(), now, now)?;
    let root = scope::subtree(
        principal,
        &catalog,
        "subtree_unit_id",
        &request.subtree_unit_id,
        now,
    )?;
    let board = match indexed_board(engine, principal, root.as_ref(), &window, query.kind)? {
        Some(board) => board,
        None => {
            let mut credits = Vec::new();
            for file in scope::scan(engine, &catalog, principal, root.as_ref())? {
                if !matches!(file.facts.coverage(&window), Coverage::Judged(_)) {
                    continue;
                }
                credits.push(file_credits(
                    engine,
                    &catalog,
                    &file.summary.file_id,
                    &window,
                )?);
            }
            report::leaderboard(query.kind, &credits)
        }
    };
    let total = board.total_lateness;
    let entries = board
        .ranked(query.rank_by, query.limit)
        .into_iter()
        .map(|(rank, standing)| {
            let (id, unit_id) = match &standing.subject {
                Subject::Officer(officer) => (officer.to_string(), String::new()),
                Subject::Unit(unit) => (unit.to_string(), String::new()),
                Subject::Head { officer, unit } => (officer.to_string(), unit.to_string()),
            };
            let name = match &standing.subject {
                Subject::Officer(officer) | Subject::Head { officer, .. } => {
                    officer_name(&catalog, officer)
                }
                Subject::Unit(unit) => unit_name(&catalog, unit, now),
            };
            pb::LeaderboardEntry {
                rank,
                id,
                name,
                unit_id,
                late_files: standing.late_files,
                late_working_time: Some(convert::working_time_to_pb(standing.late_working_time)),
                share_of_late_working_time: report::rate(
                    u64::try_from(standing.late_working_time.as_secs()).unwrap_or(0),
                    u64::try_from(total.as_secs()).unwrap_or(0),
                ),
                files_handled: standing.files_handled,
                steps_finished: standing.steps_finished,
                steps_on_time: standing.steps_on_time,
                step_on_time_rate: standing.step_on_time_rate(),
            }
        })
        .collect();
    Ok(pb::GetLeaderboardResponse {
        entries,
        total_late_working_time: Some(convert::working_time_to_pb(total)),
        total_late_files: board.total_late_files,
    })
}

/// The leaderboard of a window without a start from the index: the finished files' credits
/// kept per unit chain, plus the open files covered, re-folded. `None` when the index cannot
/// answer (its leaderboards are still being built, the window has a start, or a finished
/// file has events after the window's end); the caller then re-folds every covered file.
fn indexed_board(
    engine: &EngineHandle,
    principal: &Principal,
    root: Option<&UnitId>,
    window: &Window,
    kind: SubjectKind,
) -> Result<Option<report::Leaderboard>, Status> {
    if window.start().is_some() {
        return Ok(None);
    }
    let (mut board, open) = {
        let index = engine.index().read();
        if !index.boards_ready() || index.credited_until().is_some_and(|at| at >= window.end()) {
            return Ok(None);
        }
        let visible = scope::visible_chains(&index, principal, root);
        let board = index.board(kind, &visible);
        // Covered files not counted in the boards: those still open at the window's end.
        let open: Vec<FileId> = index
            .rows()
            .iter()
            .enumerate()
            .filter(|(_, row)| {
                row.facts.finished_at.is_none()
                    && matches!(row.facts.coverage(window), Coverage::Judged(_))
                    && row.seen_in(&visible)
            })
            .filter_map(|(slot, _)| index.id(slot).cloned())
            .collect();
        (board, open)
    };
    let catalog = engine.catalog();
    let mut credits = Vec::with_capacity(open.len());
    for file in &open {
        credits.push(file_credits(engine, &catalog, file, window)?);
    }
    board += &report::leaderboard(kind, &credits);
    Ok(Some(board))
}

/// Re-folds a file's events before the window's end under the catalog in force and returns
/// what it contributes to the leaderboards.
fn file_credits(
    engine: &EngineHandle,
    catalog: &Catalog,
    file: &FileId,
    window: &Window,
) -> Result<FileCredits, Status> {
    let Some(stored) = engine.history(file)? else {
        return Ok(FileCredits::default());
    };
    let mut history = FileHistory::new(file.clone());
    for recorded in stored.ordered() {
        if recorded.event.occurred_at < window.end() {
            let _ = history.insert(recorded.clone());
        }
    }
    let judgement = judge(catalog, engine.policy(), &history);
    Ok(report::file_credits(catalog, &judgement, window))
}

/// The bounded window of `period` and the checked subtree of a report request.
fn bounded_scope(
    engine: &EngineHandle,
    principal: &Principal,
    period: Option<&pb::Period>,
    subtree: &str,
) -> Result<(Window, Option<UnitId>), Status> {
    let now = engine.now();
    let window = scope::bounded_window("period", period, now)?;
    let root = scope::subtree(
        principal,
        &engine.catalog(),
        "subtree_unit_id",
        subtree,
        now,
    )?;
    Ok((window, root))
}

/// An interned value's text; empty for none.
fn spell_one<T: ToString>(value: Option<&T>) -> String {
    value.map(ToString::to_string).unwrap_or_default()
}

/// Each value's text, by number.
fn spell<T: ToString>(values: &[T]) -> Vec<String> {
    values.iter().map(ToString::to_string).collect()
}

/// The row unit of a file received under `ancestry`: the unit `depth` levels below `root`
/// on its chain (below the tree's top when there is no root); `None` if the chain is not
/// that deep or does not pass through `root`.
fn row_unit<'a>(ancestry: &'a [UnitId], root: Option<&UnitId>, depth: usize) -> Option<&'a UnitId> {
    let from_top: Vec<&UnitId> = ancestry.iter().rev().collect();
    match root {
        Some(root) => {
            let at = from_top.iter().position(|unit| *unit == root)?;
            from_top.get(at + depth).copied()
        }
        None => from_top.get(depth - 1).copied(),
    }
}

fn stats_row(key: &str, name: &str, counts: &VerdictCounts) -> pb::StatsRow {
    pb::StatsRow {
        key: key.to_owned(),
        name: name.to_owned(),
        counts: Some(pb::VerdictCounts {
            early: counts.early,
            on_time: counts.on_time,
            late: counts.late,
            within_time: counts.within_time,
            overdue: counts.overdue,
            not_counted: counts.not_counted,
            unjudged: counts.unjudged,
        }),
        on_time_rate: counts.on_time_rate(),
        finished_on_time_rate: counts.finished_on_time_rate(),
    }
}

fn report_row(field: &str, row: &report::ReportRow) -> pb::ReportRow {
    pb::ReportRow {
        field_code: field.to_owned(),
        field_name: String::new(),
        received: Some(pb::ReportReceived {
            total: row.received(),
            online: row.online(),
            in_person_or_postal: row.in_person_or_postal(),
            carried_over: row.carried_over(),
        }),
        resolved: Some(pb::ReportResolved {
            total: row.resolved(),
            early: row.early(),
            on_time: row.on_time(),
            late: row.late(),
        }),
        in_progress: Some(pb::ReportInProgress {
            total: row.in_progress(),
            within_time: row.within_time(),
            overdue: row.overdue(),
        }),
    }
}

fn display_name(
    catalog: &Catalog,
    group_by: pb::StatsGroupBy,
    key: &str,
    now: DateTime<Utc>,
) -> String {
    match group_by {
        pb::StatsGroupBy::Unspecified | pb::StatsGroupBy::Unit => UnitId::new(key)
            .map(|unit| unit_name(catalog, &unit, now))
            .unwrap_or_default(),
        pb::StatsGroupBy::Officer => dunghan_domain::OfficerId::new(key)
            .map(|officer| officer_name(catalog, &officer))
            .unwrap_or_default(),
        pb::StatsGroupBy::Procedure => dunghan_domain::ProcedureCode::new(key)
            .ok()
            .and_then(|code| {
                catalog
                    .procedures
                    .get(&code)?
                    .latest()
                    .map(|p| p.name.clone())
            })
            .unwrap_or_default(),
        pb::StatsGroupBy::Field => String::new(),
        pb::StatsGroupBy::Channel => channel_name(key).to_owned(),
    }
}

fn channel_name(code: &str) -> &'static str {
    let names: BTreeMap<&str, &str> = BTreeMap::from([
        ("0", "not given"),
        ("1", "in person"),
        ("2", "online"),
        ("3", "postal"),
    ]);
    names.get(code).copied().unwrap_or_default()
}

fn unit_name(catalog: &Catalog, unit: &UnitId, now: DateTime<Utc>) -> String {
    catalog
        .unit_at(unit, now.date_naive())
        .or_else(|| catalog.units.get(unit)?.latest())
        .map(|u| u.name.clone())
        .unwrap_or_default()
}

fn officer_name(catalog: &Catalog, officer: &dunghan_domain::OfficerId) -> String {
    catalog
        .officers
        .get(officer)
        .and_then(|versions| versions.latest())
        .map(|o| o.name.clone())
        .unwrap_or_default()
}
