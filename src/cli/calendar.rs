//! `dunghan calendar`: an operator checks a year of a unit's calendar, or a due time, by
//! hand. It runs the domain's own functions ([`due_time`], [`Calendar::year`]), so what it
//! prints is what the service computes.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Datelike, FixedOffset, NaiveTime, Utc};
use clap::{Args, Subcommand, ValueEnum};
use dunghan_domain::calendar::{Calendar, OverrideKind, OverrideOrigin, YearStatus};
use dunghan_domain::catalog::{Catalog, CountingRule, Deadline, DeadlineUnit};
use dunghan_domain::clock::{due_time, DueRule};
use dunghan_domain::{CalendarId, UnitId};
use serde_json::json;

use super::{load_catalog, CliError};
use crate::catalog_file::DEFAULT_CALENDAR;

/// `dunghan calendar`: show a year or compute a due time.
#[derive(Debug, Args)]
pub struct CalendarArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: CalendarCommand,
}

/// The calendar subcommands.
#[derive(Debug, Subcommand)]
pub enum CalendarCommand {
    /// Show a year: non-working weekdays, working weekend days, every override with its
    /// note and source, and whether the year is official or provisional.
    Show(ShowArgs),
    /// Compute a due time from a receipt instant and a deadline.
    Due(DueArgs),
}

/// Which calendar to use.
#[derive(Debug, Args)]
pub struct Which {
    /// A catalog document (TOML or JSON) that adds calendars, units or dated overrides to
    /// the shipped Vietnamese calendar.
    #[arg(long)]
    pub catalog: Option<PathBuf>,
    /// The calendar id (default: the shipped Vietnamese calendar `vn`).
    #[arg(long, conflicts_with = "unit_id")]
    pub calendar: Option<String>,
    /// Use this unit's calendar (needs --catalog).
    #[arg(long = "unit-id")]
    pub unit_id: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `dunghan calendar show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The year (2000–2100).
    #[arg(long)]
    pub year: i32,
    /// Which calendar.
    #[command(flatten)]
    pub which: Which,
}

/// The deadline unit, as written on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum UnitArg {
    /// Working hours.
    WorkingHours,
    /// Working days.
    WorkingDays,
    /// Calendar days.
    CalendarDays,
}

/// The counting rule, as written on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CountingArg {
    /// N working days = N × the standard day on the working-time line (default).
    WorkingHours,
    /// Civil Code Art. 147–148: the receipt day is not counted; ends at the close of the
    /// N-th working day after it.
    CivilCode,
}

/// Arguments of `dunghan calendar due`.
#[derive(Debug, Args)]
pub struct DueArgs {
    /// When the complete dossier was received, RFC 3339 with offset
    /// (e.g. 2025-01-24T16:30:00+07:00).
    #[arg(long)]
    pub from: String,
    /// The deadline amount.
    #[arg(long)]
    pub amount: u32,
    /// The deadline unit.
    #[arg(long = "unit", value_enum, default_value = "working-days")]
    pub unit_of_time: UnitArg,
    /// The counting rule for working days.
    #[arg(long, value_enum, default_value = "working-hours")]
    pub counting: CountingArg,
    /// Same-day cut-off, local HH:MM.
    #[arg(long)]
    pub cutoff: Option<String>,
    /// Which calendar.
    #[command(flatten)]
    pub which: Which,
}

/// Runs a calendar subcommand, writing its output to `out`.
///
/// # Errors
/// [`CliError`] for bad arguments, an unreadable or invalid catalog, or failed output.
pub fn run(args: &CalendarArgs, out: &mut dyn Write) -> Result<(), CliError> {
    match &args.command {
        CalendarCommand::Show(show) => run_show(show, out),
        CalendarCommand::Due(due) => run_due(due, out),
    }
}

fn pick_calendar(which: &Which) -> Result<Arc<Calendar>, CliError> {
    let catalog = load_catalog(which.catalog.as_deref())?;
    let calendar_id = match (&which.unit_id, &which.calendar) {
        (Some(unit), _) => unit_calendar(&catalog, unit)?,
        (None, Some(calendar)) => calendar.clone(),
        (None, None) => DEFAULT_CALENDAR.to_owned(),
    };
    let id = CalendarId::new(calendar_id.clone()).map_err(|err| CliError::Argument {
        flag: "calendar",
        value: calendar_id.clone(),
        reason: err.to_string(),
    })?;
    catalog
        .calendar(&id)
        .cloned()
        .ok_or_else(|| CliError::Argument {
            flag: "calendar",
            value: calendar_id,
            reason: format!(
                "no such calendar; known: {}",
                catalog
                    .calendars
                    .keys()
                    .map(|k| k.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
}

fn unit_calendar(catalog: &Catalog, unit: &str) -> Result<String, CliError> {
    let bad = |reason: String| CliError::Argument {
        flag: "unit-id",
        value: unit.to_owned(),
        reason,
    };
    let id = UnitId::new(unit).map_err(|err| bad(err.to_string()))?;
    let versions = catalog
        .units
        .get(&id)
        .ok_or_else(|| bad("no such unit in the catalog (give --catalog)".to_owned()))?;
    let latest = versions
        .latest()
        .ok_or_else(|| bad("the unit has no version".to_owned()))?;
    Ok(latest.calendar.to_string())
}

fn status_name(status: YearStatus) -> &'static str {
    match status {
        YearStatus::Official => "official",
        YearStatus::Provisional => "provisional",
        YearStatus::OutOfRange => "out of range",
    }
}

fn origin_name(origin: OverrideOrigin) -> &'static str {
    match origin {
        OverrideOrigin::Official => "official",
        OverrideOrigin::Loaded => "loaded",
        OverrideOrigin::Computed => "computed",
    }
}

fn kind_name(kind: OverrideKind) -> &'static str {
    match kind {
        OverrideKind::Holiday => "holiday",
        OverrideKind::DayOff => "day-off",
        OverrideKind::WorkingDay => "working-day",
    }
}

fn run_show(args: &ShowArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let calendar = pick_calendar(&args.which)?;
    let view = calendar.year(args.year);
    if view.status == YearStatus::OutOfRange {
        return Err(CliError::Argument {
            flag: "year",
            value: args.year.to_string(),
            reason: "outside the calendar's horizon (2000–2100)".to_owned(),
        });
    }
    if args.which.json {
        let overrides: Vec<_> = view
            .overrides
            .iter()
            .map(|o| {
                json!({
                    "date": o.day.date.to_string(),
                    "kind": kind_name(o.day.kind),
                    "origin": origin_name(o.origin),
                    "note": o.day.note,
                    "source": o.day.source,
                })
            })
            .collect();
        let value = json!({
            "calendar": view.calendar.to_string(),
            "version": view.version,
            "year": view.year,
            "status": status_name(view.status),
            "working_days": view.n_working_days,
            "non_working_weekdays": view.non_working_weekdays.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
            "working_weekend_days": view.working_weekend_days.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
            "overrides": overrides,
        });
        serde_json::to_writer_pretty(&mut *out, &value)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(
        out,
        "calendar {} (version {}), year {}: {}, {} working days",
        view.calendar,
        view.version,
        view.year,
        status_name(view.status),
        view.n_working_days
    )?;
    if view.status == YearStatus::Provisional {
        writeln!(
            out,
            "  holidays are computed by rule until the official schedule is loaded"
        )?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "{:<12} {:<4} {:<12} {:<9} note (source)",
        "date", "day", "kind", "origin"
    )?;
    for o in &view.overrides {
        writeln!(
            out,
            "{:<12} {:<4} {:<12} {:<9} {} ({})",
            o.day.date.to_string(),
            o.day.date.weekday().to_string(),
            kind_name(o.day.kind),
            origin_name(o.origin),
            o.day.note,
            o.day.source
        )?;
    }
    writeln!(out)?;
    let list = |dates: &[chrono::NaiveDate]| {
        dates
            .iter()
            .map(|d| d.format("%d/%m").to_string())
            .collect::<Vec<_>>()
            .join(" ")
    };
    writeln!(
        out,
        "non-working weekdays: {}",
        list(&view.non_working_weekdays)
    )?;
    writeln!(
        out,
        "working weekend days: {}",
        list(&view.working_weekend_days)
    )?;
    Ok(())
}

fn run_due(args: &DueArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let received = DateTime::parse_from_rfc3339(&args.from).map_err(|err| CliError::Argument {
        flag: "from",
        value: args.from.clone(),
        reason: format!("not an RFC 3339 instant with offset ({err})"),
    })?;
    if args.amount == 0 {
        return Err(CliError::Argument {
            flag: "amount",
            value: "0".to_owned(),
            reason: "must be at least 1".to_owned(),
        });
    }
    let cutoff = match &args.cutoff {
        None => None,
        Some(text) => {
            Some(
                NaiveTime::parse_from_str(text, "%H:%M").map_err(|_| CliError::Argument {
                    flag: "cutoff",
                    value: text.clone(),
                    reason: "not a local time like 15:00".to_owned(),
                })?,
            )
        }
    };
    let calendar = pick_calendar(&args.which)?;
    let deadline = Deadline {
        amount: args.amount,
        unit: match args.unit_of_time {
            UnitArg::WorkingHours => DeadlineUnit::WorkingHours,
            UnitArg::WorkingDays => DeadlineUnit::WorkingDays,
            UnitArg::CalendarDays => DeadlineUnit::CalendarDays,
        },
    };
    let counting = match args.counting {
        CountingArg::WorkingHours => CountingRule::WorkingHours,
        CountingArg::CivilCode => CountingRule::CivilCode,
    };
    let rule = DueRule {
        deadline,
        counting,
        cutoff,
    };
    let received_utc = received.with_timezone(&Utc);
    let placed = due_time(&calendar, rule, received_utc).map_err(|err| CliError::Argument {
        flag: "from",
        value: args.from.clone(),
        reason: err.to_string(),
    })?;
    let offset = *received.offset();
    let local = |t: DateTime<Utc>| format_local(t, offset);
    let year = calendar.local_date(placed.due).year();
    let status = status_name(calendar.year_status(year));
    if args.which.json {
        let value = json!({
            "calendar": calendar.id().to_string(),
            "calendar_version": calendar.version(),
            "received_at": received.to_rfc3339(),
            "clock_start": placed.clock_start.with_timezone(&offset).to_rfc3339(),
            "budget_seconds": placed.budget.as_secs(),
            "due": placed.due.with_timezone(&offset).to_rfc3339(),
            "due_year_status": status,
        });
        serde_json::to_writer_pretty(&mut *out, &value)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(
        out,
        "calendar      {} (version {})",
        calendar.id(),
        calendar.version()
    )?;
    writeln!(out, "received      {}", local(received_utc))?;
    writeln!(out, "clock starts  {}", local(placed.clock_start))?;
    writeln!(
        out,
        "deadline      {} {}, {} = {} of working time from the clock start",
        args.amount,
        match args.unit_of_time {
            UnitArg::WorkingHours => "working hours",
            UnitArg::WorkingDays => "working days",
            UnitArg::CalendarDays => "calendar days",
        },
        match args.counting {
            CountingArg::WorkingHours => "counted on the working-time line",
            CountingArg::CivilCode => "counted by the Civil Code (receipt day not counted)",
        },
        placed.budget
    )?;
    writeln!(
        out,
        "due           {}  ({year} calendar is {status})",
        local(placed.due)
    )?;
    Ok(())
}

fn format_local(instant: DateTime<Utc>, offset: FixedOffset) -> String {
    instant
        .with_timezone(&offset)
        .format("%Y-%m-%d %H:%M %:z (%a)")
        .to_string()
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: CalendarArgs,
    }

    fn run_line(line: &str) -> Result<String, CliError> {
        let words = std::iter::once("calendar").chain(line.split_whitespace());
        let parsed = Wrapper::try_parse_from(words).expect("arguments parse");
        let mut out = Vec::new();
        run(&parsed.args, &mut out)?;
        Ok(String::from_utf8(out).expect("utf-8"))
    }

    #[test]
    fn due_across_tet_2025_matches_the_receipt_slip() {
        let json =
            run_line("due --from 2025-01-24T16:30:00+07:00 --amount 3 --unit working-days --json")
                .unwrap();
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["due"], "2025-02-05T16:30:00+07:00");
        assert_eq!(value["budget_seconds"], 24 * 3600);
        let table = run_line("due --from 2025-01-24T16:30:00+07:00 --amount 3").unwrap();
        assert!(
            table.contains("due           2025-02-05 16:30 +07:00 (Wed)"),
            "{table}"
        );
    }

    #[test]
    fn show_lists_tet_2025_as_official() {
        let table = run_line("show --year 2025").unwrap();
        assert!(table.contains("year 2025: official"), "{table}");
        assert!(table.contains("2025-01-27"), "{table}");
        let json = run_line("show --year 2031 --json").unwrap();
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["status"], "provisional");
    }

    #[test]
    fn bad_instant_names_the_flag_and_value() {
        let err = run_line("due --from yesterday --amount 3").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("--from \"yesterday\": not an RFC 3339 instant with offset"),
            "{err}"
        );
    }
}
