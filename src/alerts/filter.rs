//! Which alerts a subscriber or a list wants: unit subtree, kinds, minimum severity, file,
//! and the caller's own scope. A pure predicate on stored alerts.

use dunghan_domain::alert::{AlertKind, Severity};
use dunghan_domain::{FileId, UnitId};

use crate::store::AlertRecord;

/// Every set criterion must match (an empty filter passes every alert).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertFilter {
    /// The caller's scope: only alerts whose unit path holds one of these roots. `None`
    /// means every unit (including alerts of unknown units).
    pub scope_roots: Option<Vec<UnitId>>,
    /// Only alerts whose unit path holds this unit.
    pub subtree: Option<UnitId>,
    /// Which kinds pass.
    pub kinds: KindSelection,
    /// Only alerts at least this severe.
    pub min_severity: Option<Severity>,
    /// Only alerts of this file.
    pub file: Option<FileId>,
}

/// Which kinds of alerts pass a filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum KindSelection {
    /// Every kind, retractions included.
    #[default]
    All,
    /// Only the listed kinds. A retraction passes when `retractions` is set or when the
    /// kind it retracts is listed.
    Only {
        /// The kinds that pass (for retractions: the kind retracted).
        kinds: Vec<AlertKind>,
        /// Whether every retraction passes.
        retractions: bool,
    },
}

impl AlertFilter {
    /// Whether `alert` passes every criterion of the filter.
    pub fn matches(&self, alert: &AlertRecord) -> bool {
        if let Some(roots) = &self.scope_roots {
            if !alert.unit_path.iter().any(|unit| roots.contains(unit)) {
                return false;
            }
        }
        if let Some(subtree) = &self.subtree {
            if !alert.unit_path.contains(subtree) {
                return false;
            }
        }
        if let Some(file) = &self.file {
            if &alert.file_id != file {
                return false;
            }
        }
        if let Some(min_severity) = self.min_severity {
            if alert.severity < min_severity {
                return false;
            }
        }
        match &self.kinds {
            KindSelection::All => true,
            KindSelection::Only { kinds, retractions } => {
                (alert.retracts.is_some() && *retractions) || kinds.contains(&alert.kind)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use dunghan_domain::rules::Rule;

    use super::*;

    fn unit(id: &str) -> UnitId {
        UnitId::new(id.to_owned()).unwrap()
    }

    fn alert(kind: AlertKind, severity: Severity, retracts: Option<u64>) -> AlertRecord {
        let at = Utc.with_ymd_and_hms(2025, 3, 3, 1, 0, 0).unwrap();
        AlertRecord {
            sequence: 7,
            file_id: FileId::new("F1".to_owned()).unwrap(),
            kind,
            step: None,
            key: String::new(),
            severity,
            due_at: Some(at),
            fired_at: at,
            recorded_at: at,
            unit_path: vec![unit("ttphvhcc"), unit("tinh-x")],
            officer: None,
            detail: String::new(),
            retracts,
        }
    }

    #[track_caller]
    fn check(filter: &AlertFilter, alert: &AlertRecord, expected: bool) {
        assert_eq!(filter.matches(alert), expected, "{filter:?} on {alert:?}");
    }

    #[test]
    fn empty_filter_passes_everything() {
        let filter = AlertFilter::default();
        check(
            &filter,
            &alert(AlertKind::FileOverdue, Severity::Critical, None),
            true,
        );
        check(
            &filter,
            &alert(AlertKind::FileOverdue, Severity::Info, Some(3)),
            true,
        );
    }

    #[test]
    fn scope_and_subtree_match_any_unit_of_the_path() {
        let overdue = alert(AlertKind::FileOverdue, Severity::Critical, None);
        let scoped = |roots: &[&str]| AlertFilter {
            scope_roots: Some(roots.iter().map(|r| unit(r)).collect()),
            ..AlertFilter::default()
        };
        check(&scoped(&["tinh-x"]), &overdue, true);
        check(&scoped(&["so-xd", "ttphvhcc"]), &overdue, true);
        check(&scoped(&["so-xd"]), &overdue, false);
        check(&scoped(&[]), &overdue, false);
        let subtree = |root: &str| AlertFilter {
            subtree: Some(unit(root)),
            ..AlertFilter::default()
        };
        check(&subtree("ttphvhcc"), &overdue, true);
        check(&subtree("so-xd-qlxd"), &overdue, false);
    }

    #[test]
    fn unknown_unit_passes_only_an_unscoped_filter() {
        let mut orphan = alert(AlertKind::FileOverdue, Severity::Critical, None);
        orphan.unit_path.clear();
        check(&AlertFilter::default(), &orphan, true);
        let scoped = AlertFilter {
            scope_roots: Some(vec![unit("tinh-x")]),
            ..AlertFilter::default()
        };
        check(&scoped, &orphan, false);
    }

    #[test]
    fn retraction_passes_by_its_own_kind_or_the_kind_it_retracts() {
        let retraction = alert(AlertKind::FileOverdue, Severity::Info, Some(3));
        let only = |kinds: Vec<AlertKind>, retractions: bool| AlertFilter {
            kinds: KindSelection::Only { kinds, retractions },
            ..AlertFilter::default()
        };
        check(
            &only(vec![AlertKind::FileOverdue], false),
            &retraction,
            true,
        );
        check(&only(vec![], true), &retraction, true);
        check(
            &only(vec![AlertKind::FileDueSoon], false),
            &retraction,
            false,
        );
        let overdue = alert(AlertKind::FileOverdue, Severity::Critical, None);
        check(&only(vec![], true), &overdue, false);
        check(&only(vec![], false), &overdue, false);
        let rule = alert(
            AlertKind::RuleBroken(Rule::SecondSupplementRequest),
            Severity::Warning,
            None,
        );
        check(
            &only(
                vec![AlertKind::RuleBroken(Rule::SecondSupplementRequest)],
                false,
            ),
            &rule,
            true,
        );
    }

    #[test]
    fn severity_and_file_filters() {
        let due_soon = alert(AlertKind::FileDueSoon, Severity::Info, None);
        let at_least = |severity| AlertFilter {
            min_severity: Some(severity),
            ..AlertFilter::default()
        };
        check(&at_least(Severity::Info), &due_soon, true);
        check(&at_least(Severity::Warning), &due_soon, false);
        let of_file = |file: &str| AlertFilter {
            file: Some(FileId::new(file.to_owned()).unwrap()),
            ..AlertFilter::default()
        };
        check(&of_file("F1"), &due_soon, true);
        check(&of_file("F2"), &due_soon, false);
    }
}
