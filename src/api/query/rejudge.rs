//! PreviewRejudge and Rejudge: the files of a scope whose stored verdict or due time
//! differs from a fresh judgement under the catalog in force, and the audit entry that
//! applies them through the engine.
//!
//! The preview token is a digest of the scope and of every change, so a Rejudge with it
//! applies exactly what the preview showed or nothing (ABORTED).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use dunghan_domain::catalog::Catalog;
use dunghan_domain::clock::judge;
use dunghan_domain::rejudge::{touches, verdict_name};
use dunghan_domain::{CalendarId, OfficerId, ProcedureCode, UnitId};
use sha2::{Digest, Sha256};
use tonic::Status;

use super::files::held_by;
use super::scope;
use crate::api::convert;
use crate::auth::Principal;
use crate::engine::EngineHandle;
use crate::proto::v1 as pb;
use crate::store::codec::VerdictReplacement;

/// Most changes a preview lists.
const MAX_CHANGES: u32 = 10_000;
/// Changes listed when the request gives no number.
const DEFAULT_CHANGES: u32 = 100;

/// A validated re-judging scope.
#[derive(Debug, Clone)]
pub(super) struct Scope {
    calendar: Option<CalendarId>,
    procedure: Option<ProcedureCode>,
    subtree: Option<UnitId>,
    officer: Option<OfficerId>,
    since: Option<DateTime<Utc>>,
}

/// The changes a re-judging makes, in file-id order.
#[derive(Debug, Clone)]
pub(super) struct Plan {
    /// Files examined.
    pub(super) examined: u64,
    /// One entry per file whose verdict or due time changes.
    pub(super) changes: Vec<VerdictReplacement>,
    /// The digest naming exactly this scope and these changes.
    pub(super) token: String,
}

impl Scope {
    /// Validates `scope` for `principal`.
    pub(super) fn parse(
        principal: &Principal,
        catalog: &Catalog,
        scope: Option<&pb::RejudgeScope>,
        now: DateTime<Utc>,
    ) -> Result<Scope, Status> {
        let Some(scope) = scope else {
            return Err(Status::invalid_argument("scope: a scope is required"));
        };
        let invalid = |err: convert::FieldError| Status::invalid_argument(err.to_string());
        let parsed = Scope {
            calendar: convert::optional_id_from_pb(
                "scope.calendar_id".to_owned(),
                &scope.calendar_id,
                CalendarId::new,
            )
            .map_err(invalid)?,
            procedure: convert::optional_id_from_pb(
                "scope.procedure_code".to_owned(),
                &scope.procedure_code,
                ProcedureCode::new,
            )
            .map_err(invalid)?,
            subtree: scope::subtree(
                principal,
                catalog,
                "scope.subtree_unit_id",
                &scope.subtree_unit_id,
                now,
            )?,
            officer: convert::optional_id_from_pb(
                "scope.officer_id".to_owned(),
                &scope.officer_id,
                OfficerId::new,
            )
            .map_err(invalid)?,
            since: scope
                .since
                .as_ref()
                .map(|ts| scope::instant_or("scope.since", Some(ts), now))
                .transpose()?,
        };
        if parsed.calendar.is_none()
            && parsed.procedure.is_none()
            && parsed.subtree.is_none()
            && parsed.officer.is_none()
        {
            return Err(Status::invalid_argument(
                "scope: set at least one of calendar_id, procedure_code, subtree_unit_id, officer_id",
            ));
        }
        Ok(parsed)
    }

    /// The scope in words, for the audit trail.
    pub(super) fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(calendar) = &self.calendar {
            parts.push(format!("calendar {calendar}"));
        }
        if let Some(procedure) = &self.procedure {
            parts.push(format!("procedure {procedure}"));
        }
        if let Some(unit) = &self.subtree {
            parts.push(format!("subtree {unit}"));
        }
        if let Some(officer) = &self.officer {
            parts.push(format!("officer {officer}"));
        }
        if let Some(since) = &self.since {
            parts.push(format!("since {}", since.to_rfc3339()));
        }
        parts.join(", ")
    }
}

/// Judges every file of `scope` the caller may see under the catalog in force and lists
/// those whose verdict at `now` or due time differs from the stored one.
pub(super) fn plan(
    engine: &EngineHandle,
    principal: &Principal,
    scope: &Scope,
) -> Result<Plan, Status> {
    let catalog = engine.catalog();
    let now = engine.now();
    let mut examined = 0_u64;
    let mut changes = Vec::new();
    for file in scope::scan(engine, &catalog, principal, None)? {
        let summary = &file.summary;
        if scope.procedure.is_some() && scope.procedure != summary.procedure {
            continue;
        }
        if let Some(calendar) = &scope.calendar {
            if summary.calendar.as_ref().map(|(id, _)| id) != Some(calendar) {
                continue;
            }
        }
        let Some(history) = engine.history(&summary.file_id)? else {
            continue;
        };
        if let Some(officer) = &scope.officer {
            if !held_by(&history, officer, now) {
                continue;
            }
        }
        let judgement = judge(&catalog, engine.policy(), &history);
        if let Some(root) = &scope.subtree {
            let under_root = judgement.segments.iter().any(|segment| {
                let date = crate::index::local_date(&catalog, summary, segment.start);
                catalog
                    .ancestry_at(&segment.holder.unit, date)
                    .contains(root)
            });
            if !file.ancestry.contains(root) && !under_root {
                continue;
            }
        }
        if let Some(since) = scope.since {
            if !touches(
                &judgement,
                crate::index::local_date(&catalog, summary, since),
                now,
            ) {
                continue;
            }
        }
        examined += 1;
        let old_verdict = file.facts.verdict_at(now);
        let new_verdict = judgement.verdict_at(now);
        if old_verdict == new_verdict && summary.due == judgement.due() {
            continue;
        }
        changes.push(VerdictReplacement {
            file_id: summary.file_id.clone(),
            old_verdict,
            new_verdict,
            old_due_at: summary.due,
            new_due_at: judgement.due(),
        });
    }
    changes.sort_by(|a, b| a.file_id.cmp(&b.file_id));
    let token = token(scope, &changes);
    Ok(Plan {
        examined,
        changes,
        token,
    })
}

/// The preview of `plan`, listing at most `max_changes` changes.
pub(super) fn preview(plan: &Plan, max_changes: u32) -> Result<pb::PreviewRejudgeResponse, Status> {
    let listed = match max_changes {
        0 => DEFAULT_CHANGES,
        n if n <= MAX_CHANGES => n,
        n => {
            return Err(Status::invalid_argument(format!(
                "max_changes = {n}: at most {MAX_CHANGES}"
            )))
        }
    };
    let listed = usize::try_from(listed).unwrap_or(100);
    tracing::debug!(summary = %summary(&plan.changes), "re-judging preview");
    Ok(pb::PreviewRejudgeResponse {
        files_examined: plan.examined,
        transitions: transitions(&plan.changes),
        changes: plan
            .changes
            .iter()
            .take(listed)
            .map(|change| pb::VerdictChange {
                file_id: change.file_id.to_string(),
                old_verdict: convert::verdict_to_pb(change.old_verdict.clone()) as i32,
                new_verdict: convert::verdict_to_pb(change.new_verdict.clone()) as i32,
                old_due_at: change.old_due_at.map(convert::instant_to_pb),
                new_due_at: change.new_due_at.map(convert::instant_to_pb),
            })
            .collect(),
        truncated: plan.changes.len() > listed,
        preview_token: plan.token.clone(),
    })
}

/// Counts per (old, new) verdict pair of the files whose verdict changes, ordered by old
/// then new verdict.
pub(super) fn transitions(changes: &[VerdictReplacement]) -> Vec<pb::VerdictTransition> {
    let mut counts: BTreeMap<(i32, i32), u64> = BTreeMap::new();
    for change in changes {
        if change.old_verdict == change.new_verdict {
            continue;
        }
        let from = convert::verdict_to_pb(change.old_verdict.clone()) as i32;
        let to = convert::verdict_to_pb(change.new_verdict.clone()) as i32;
        *counts.entry((from, to)).or_default() += 1;
    }
    counts
        .into_iter()
        .map(|((from, to), files)| pb::VerdictTransition { from, to, files })
        .collect()
}

/// "2 files flip from late to early; ..." for logs.
fn summary(changes: &[VerdictReplacement]) -> String {
    let mut flips: BTreeMap<(String, String), usize> = BTreeMap::new();
    for change in changes.iter().filter(|c| c.old_verdict != c.new_verdict) {
        *flips
            .entry((
                verdict_name(&change.old_verdict),
                verdict_name(&change.new_verdict),
            ))
            .or_default() += 1;
    }
    let lines: Vec<String> = flips
        .iter()
        .map(|((from, to), n)| {
            format!(
                "{n} files flip from {} to {}",
                from.replace('_', " "),
                to.replace('_', " ")
            )
        })
        .collect();
    format!("{} files change; {}", changes.len(), lines.join("; "))
}

fn token(scope: &Scope, changes: &[VerdictReplacement]) -> String {
    let mut digest = Sha256::new();
    digest.update(scope.describe().as_bytes());
    let due = |at: Option<DateTime<Utc>>| {
        at.map_or(String::from("-"), |at| at.timestamp_millis().to_string())
    };
    for change in changes {
        digest.update(
            format!(
                "\n{}\t{}\t{}\t{}\t{}",
                change.file_id,
                verdict_name(&change.old_verdict),
                verdict_name(&change.new_verdict),
                due(change.old_due_at),
                due(change.new_due_at)
            )
            .as_bytes(),
        );
    }
    digest
        .finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}
