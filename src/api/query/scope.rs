//! What every query shares: parsing periods and instants, checking the caller's subtree,
//! and the scan of stored files limited to the caller's scope.
//!
//! A file belongs to the unit that received it, as the unit tree stood on its local receipt
//! date; a caller sees a file if its scope holds that unit or an ancestor. Files never
//! received (only submitted, or refused at the desk) have no unit: only callers with an
//! unlimited scope see them, and only without a subtree.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use dunghan_domain::catalog::Catalog;
use dunghan_domain::report::{FileFacts, Window};
use dunghan_domain::UnitId;
use tonic::Status;

use crate::api::convert;
use crate::auth::{Principal, UnitScope};
use crate::engine::EngineHandle;
use crate::index::{local_date, FilesIndex, Row};
use crate::proto::v1 as pb;
use crate::store::FileSummary;

/// A stored file the caller may see, with its facts and its unit chain.
#[derive(Debug, Clone)]
pub(crate) struct ScopedFile {
    /// The stored summary.
    pub(crate) summary: FileSummary,
    /// Its facts, for the reports.
    pub(crate) facts: FileFacts,
    /// The receiving unit, then its ancestors, on the receipt date; empty if not received.
    pub(crate) ancestry: Vec<UnitId>,
}

/// Runs a scan or a computation over many files on the blocking pool.
pub(super) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, Status> + Send + 'static,
) -> Result<T, Status> {
    tokio::task::spawn_blocking(work).await.map_err(|err| {
        tracing::error!(error = %err, "query task failed");
        Status::internal("query failed")
    })?
}

/// An optional instant: absent means `default`.
pub(super) fn instant_or(
    field: &str,
    pb: Option<&crate::proto::wkt::Timestamp>,
    default: DateTime<Utc>,
) -> Result<DateTime<Utc>, Status> {
    match pb {
        None => Ok(default),
        Some(ts) => convert::instant_from_pb(field.to_owned(), Some(ts))
            .map_err(|err| Status::invalid_argument(err.to_string())),
    }
}

/// The window of a period: an absent start is unbounded, an absent end is `default_end`;
/// the end is never after `latest` (files are only known up to now).
pub(super) fn window(
    field: &str,
    period: Option<&pb::Period>,
    default_end: DateTime<Utc>,
    latest: DateTime<Utc>,
) -> Result<Window, Status> {
    let start = period
        .and_then(|p| p.start.as_ref())
        .map(|ts| instant_or(&format!("{field}.start"), Some(ts), default_end))
        .transpose()?;
    let end = instant_or(
        &format!("{field}.end"),
        period.and_then(|p| p.end.as_ref()),
        default_end,
    )?;
    Window::new(start, end.min(latest))
        .map_err(|err| Status::invalid_argument(format!("{field}: {err}")))
}

/// A period whose two ends are required.
pub(super) fn bounded_window(
    field: &str,
    period: Option<&pb::Period>,
    now: DateTime<Utc>,
) -> Result<Window, Status> {
    let Some(period) = period else {
        return Err(Status::invalid_argument(format!(
            "{field}: a period is required"
        )));
    };
    if period.start.is_none() || period.end.is_none() {
        return Err(Status::invalid_argument(format!(
            "{field}: both start and end are required"
        )));
    }
    window(field, Some(period), now, now)
}

/// The subtree a request names, checked against the caller's scope; empty means none.
///
/// # Errors
/// `INVALID_ARGUMENT` for a malformed id, `PERMISSION_DENIED` for a unit outside the
/// caller's scope, `NOT_FOUND` for a unit the catalog does not know.
pub(super) fn subtree(
    principal: &Principal,
    catalog: &Catalog,
    field: &str,
    raw: &str,
    now: DateTime<Utc>,
) -> Result<Option<UnitId>, Status> {
    let Some(unit) = convert::optional_id_from_pb(field.to_owned(), raw, UnitId::new)
        .map_err(|err| Status::invalid_argument(err.to_string()))?
    else {
        return Ok(None);
    };
    // Catalog versions are picked by the UTC date here: only the caller's subtree and
    // display names depend on it, and the tree rarely changes at midnight.
    let ancestry = catalog.ancestry_at(&unit, now.date_naive());
    if !principal.may_touch(&ancestry) {
        return Err(Status::permission_denied(format!(
            "{field}: unit {unit} is outside the caller's scope"
        )));
    }
    if !catalog.units.contains_key(&unit) {
        return Err(Status::not_found(format!("{field}: unit {unit} not found")));
    }
    Ok(Some(unit))
}

/// Every stored file the caller may see, received under `subtree` if one is given (also
/// the per-unit gauges of `crate::metrics`).
pub(crate) fn scan(
    engine: &EngineHandle,
    catalog: &Catalog,
    principal: &Principal,
    subtree: Option<&UnitId>,
) -> Result<Vec<ScopedFile>, Status> {
    let mut chains: BTreeMap<(UnitId, NaiveDate), Vec<UnitId>> = BTreeMap::new();
    let mut files = Vec::new();
    for summary in engine.store().files() {
        let summary = summary?;
        let ancestry = match (&summary.receiving, summary.received_at) {
            (Some(receiving), Some(received_at)) => {
                let date = local_date(catalog, &summary, received_at);
                chains
                    .entry((receiving.unit.clone(), date))
                    .or_insert_with(|| catalog.ancestry_at(&receiving.unit, date))
                    .clone()
            }
            _ => Vec::new(),
        };
        if visible(principal, subtree, &ancestry) {
            files.push(ScopedFile {
                facts: summary.facts(),
                summary,
                ancestry,
            });
        }
    }
    Ok(files)
}

/// Whether the caller sees files received under `ancestry` (empty: never received), within
/// `subtree` if one is given.
fn visible(principal: &Principal, subtree: Option<&UnitId>, ancestry: &[UnitId]) -> bool {
    if ancestry.is_empty() {
        matches!(principal.scope, UnitScope::All) && subtree.is_none()
    } else {
        principal.may_touch(ancestry) && subtree.is_none_or(|root| ancestry.contains(root))
    }
}

/// For each unit chain of the index, whether the caller sees its files within `subtree`.
pub(super) fn visible_chains(
    index: &FilesIndex,
    principal: &Principal,
    subtree: Option<&UnitId>,
) -> Vec<bool> {
    index
        .chains()
        .iter()
        .map(|ancestry| visible(principal, subtree, ancestry))
        .collect()
}

/// Runs `count` over the facts of every file the caller sees under `subtree`, under the
/// index's read lock; `count` also gets the index, to spell interned numbers.
pub(super) fn count_facts<T>(
    engine: &EngineHandle,
    principal: &Principal,
    subtree: Option<&UnitId>,
    count: impl FnOnce(&FilesIndex, &mut dyn Iterator<Item = &FileFacts<u32, u32>>) -> T,
) -> T {
    let index = engine.index().read();
    let visible = visible_chains(&index, principal, subtree);
    let mut facts = visible_rows(&index, &visible).map(|row| &row.facts);
    count(&index, &mut facts)
}

/// The rows of the index the caller sees, given [`visible_chains`].
pub(super) fn visible_rows<'a>(
    index: &'a FilesIndex,
    visible: &'a [bool],
) -> impl Iterator<Item = &'a Row> + 'a {
    index.rows().iter().filter(move |row| row.seen_in(visible))
}
