//! What the query commands (`dunghan file`, `files`, `stats`, `leaderboard`, `report`,
//! `tail`) share: the table layout, how instants, durations, rates and wire enums are
//! shown, how the time flags (`--from`, `--to`, `--as-of`) are read, and how a failed
//! RPC becomes a [`CliError`].
//!
//! Instants are shown at the fixed offset +07:00 (Asia/Ho_Chi_Minh has had no daylight
//! saving since 1975) unless `--utc` asks for UTC; dates given on the command line are
//! always read at +07:00, because periods are Vietnamese months, quarters and years
//! whatever zone the operator wants to read times in.
//!
//! This module never talks to a server and never decides anything about a file: it
//! only formats what the server sent and parses what the operator typed.

use std::io::Write;

use chrono::{DateTime, Days, FixedOffset, NaiveDate, NaiveTime, Offset, TimeZone, Utc};
use clap::{Args, ValueEnum};
use comfy_table::{CellAlignment, Table};
use serde::Serialize;

use super::CliError;
use crate::proto::v1 as pb;
use crate::proto::wkt;

/// The offset times are shown at by default and dates are read at: +07:00, in seconds.
pub const VIETNAM_OFFSET_SECS: i32 = 7 * 3600;

/// What is shown for an absent value (an instant, a duration or a rate).
pub const ABSENT: &str = "-";

/// A comfy-table preset (one character per table component, in comfy-table's order)
/// that draws only a dashed line under the header.
const HEADER_LINE_ONLY: &str = "     --            ";

/// Output flags shared by the query commands that show instants.
#[derive(Debug, Clone, Copy, Default, Args)]
pub struct OutputArgs {
    /// Print proto3 JSON instead of tables (`tail`: one alert object per line).
    #[arg(long)]
    pub json: bool,
    /// Show times in UTC instead of +07:00 (Vietnam). Does not change how dates in
    /// flags are read.
    #[arg(long)]
    pub utc: bool,
}

/// How instants are shown: at +07:00 or in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeDisplay {
    /// The offset instants are converted to.
    offset: FixedOffset,
}

/// A verdict as a flag value (`--verdict`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum VerdictArg {
    /// Finished on a working day before the due date.
    Early,
    /// Finished on the due date, no later than the due time.
    OnTime,
    /// Finished after the due time.
    Late,
    /// Open and not past the due time.
    WithinTime,
    /// Open and past the due time.
    Overdue,
    /// Not counted in statistics.
    NotCounted,
    /// Cannot be judged yet.
    Unjudged,
}

/// A filing channel as a flag value (`--channel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ChannelArg {
    /// In person at the one-stop desk (national code 1).
    InPerson,
    /// Online, through a portal (national code 2).
    Online,
    /// Through the public postal service (national code 3).
    Postal,
}

impl TimeDisplay {
    /// Instants at +07:00, the default.
    pub fn vietnam() -> TimeDisplay {
        TimeDisplay {
            offset: vietnam_offset(),
        }
    }

    /// Instants in UTC.
    pub fn utc() -> TimeDisplay {
        TimeDisplay {
            offset: utc_offset(),
        }
    }

    /// UTC if `utc` is set (the `--utc` flag), +07:00 otherwise.
    pub fn from_flag(utc: bool) -> TimeDisplay {
        if utc {
            TimeDisplay::utc()
        } else {
            TimeDisplay::vietnam()
        }
    }

    /// The zone as shown in captions: `+07:00` or `UTC`.
    pub fn zone_label(&self) -> String {
        if self.offset.local_minus_utc() == 0 {
            "UTC".to_owned()
        } else {
            self.offset.to_string()
        }
    }

    /// `2026-03-02 08:15:00`, at the display offset, or [`ABSENT`]; for table cells,
    /// whose caption names the zone.
    pub fn instant(&self, timestamp: Option<&wkt::Timestamp>) -> String {
        match timestamp.and_then(to_utc) {
            Some(instant) => instant
                .with_timezone(&self.offset)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string(),
            None => ABSENT.to_owned(),
        }
    }

    /// `2026-03-02 08:15:00 +07:00` (or `... UTC`), or [`ABSENT`]; for values shown
    /// outside a captioned table.
    pub fn instant_with_zone(&self, timestamp: Option<&wkt::Timestamp>) -> String {
        match timestamp.and_then(to_utc) {
            Some(_) => format!("{} {}", self.instant(timestamp), self.zone_label()),
            None => ABSENT.to_owned(),
        }
    }
}

impl From<VerdictArg> for pb::Verdict {
    fn from(verdict: VerdictArg) -> pb::Verdict {
        match verdict {
            VerdictArg::Early => pb::Verdict::Early,
            VerdictArg::OnTime => pb::Verdict::OnTime,
            VerdictArg::Late => pb::Verdict::Late,
            VerdictArg::WithinTime => pb::Verdict::WithinTime,
            VerdictArg::Overdue => pb::Verdict::Overdue,
            VerdictArg::NotCounted => pb::Verdict::NotCounted,
            VerdictArg::Unjudged => pb::Verdict::Unjudged,
        }
    }
}

impl From<ChannelArg> for pb::Channel {
    fn from(channel: ChannelArg) -> pb::Channel {
        match channel {
            ChannelArg::InPerson => pb::Channel::InPerson,
            ChannelArg::Online => pb::Channel::Online,
            ChannelArg::Postal => pb::Channel::Postal,
        }
    }
}

/// A table in the house layout: no outer border, a line under the header, and the
/// columns at `right_aligned` (numbers) aligned right.
pub fn new_table(header: &[&str], right_aligned: &[usize]) -> Table {
    let mut table = Table::new();
    // ASCII_HORIZONTAL_ONLY without the top, bottom and between-row lines: only the
    // line under the header, so that rows stay one line each for grep and eyes alike.
    table.load_preset(HEADER_LINE_ONLY);
    table.set_header(header.to_vec());
    for column_idx in right_aligned {
        if let Some(column) = table.column_mut(*column_idx) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    table
}

/// Writes `table` followed by a newline, without trailing spaces on its lines.
///
/// # Errors
/// [`CliError::Output`] if `out` fails.
pub fn write_table(out: &mut dyn Write, table: &Table) -> Result<(), CliError> {
    for line in table.lines() {
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// Writes `value` as pretty proto3 JSON followed by a newline.
///
/// # Errors
/// [`CliError::Json`] or [`CliError::Output`].
pub fn write_json<T: Serialize>(out: &mut dyn Write, value: &T) -> Result<(), CliError> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)?;
    Ok(())
}

/// The [`CliError::Rpc`] for `status` returned by `rpc` on `server`.
pub fn rpc_failed(server: &str, rpc: &'static str, status: &tonic::Status) -> CliError {
    CliError::Rpc {
        server: server.to_owned(),
        rpc,
        code: status.code(),
        message: status.message().to_owned(),
    }
}

/// A working-time length as `2h20m`, `45m`, `3h0m5s` or `0s`, or [`ABSENT`].
///
/// Working days are never shown: their length depends on the calendar, so hours are
/// the only unit that reads the same for every unit.
pub fn duration_text(duration: Option<&wkt::Duration>) -> String {
    let Some(duration) = duration else {
        return ABSENT.to_owned();
    };
    let sign = if duration.seconds < 0 { "-" } else { "" };
    let total_secs = duration.seconds.unsigned_abs();
    let (hours, minutes, secs) = (total_secs / 3600, total_secs / 60 % 60, total_secs % 60);
    let mut text = sign.to_owned();
    if hours > 0 {
        text.push_str(&format!("{hours}h"));
    }
    if hours > 0 || minutes > 0 {
        text.push_str(&format!("{minutes}m"));
    }
    if secs > 0 || (hours == 0 && minutes == 0) {
        text.push_str(&format!("{secs}s"));
    }
    text
}

/// A rate from 0 to 1 as a percentage with one decimal (`87.5%`), or [`ABSENT`].
pub fn percent_text(rate: Option<f64>) -> String {
    match rate {
        Some(rate) => format!("{:.1}%", rate * 100.0),
        None => ABSENT.to_owned(),
    }
}

/// A verdict in words: `on time`, `overdue`.
pub fn verdict_text(verdict: pb::Verdict) -> &'static str {
    match verdict {
        pb::Verdict::Unspecified => ABSENT,
        pb::Verdict::Early => "early",
        pb::Verdict::OnTime => "on time",
        pb::Verdict::Late => "late",
        pb::Verdict::WithinTime => "within time",
        pb::Verdict::Overdue => "overdue",
        pb::Verdict::NotCounted => "not counted",
        pb::Verdict::Unjudged => "unjudged",
    }
}

/// A channel in words: `online`, `in person`.
pub fn channel_text(channel: pb::Channel) -> &'static str {
    match channel {
        pb::Channel::Unspecified => ABSENT,
        pb::Channel::InPerson => "in person",
        pb::Channel::Online => "online",
        pb::Channel::Postal => "postal",
    }
}

/// A file status in words: `in progress`, `waiting supplement`.
pub fn status_text(status: pb::FileStatus) -> &'static str {
    match status {
        pb::FileStatus::Unspecified => ABSENT,
        pb::FileStatus::Submitted => "submitted",
        pb::FileStatus::InProgress => "in progress",
        pb::FileStatus::WaitingSupplement => "waiting supplement",
        pb::FileStatus::WaitingFinancialObligation => "waiting financial obligation",
        pb::FileStatus::Paused => "paused",
        pb::FileStatus::Resolved => "resolved",
        pb::FileStatus::Returned => "returned",
        pb::FileStatus::Rejected => "rejected",
        pb::FileStatus::Stopped => "stopped",
        pb::FileStatus::Withdrawn => "withdrawn",
        pb::FileStatus::NotAccepted => "not accepted",
    }
}

/// A holder as `officer @ unit`, `@ unit` when only a unit was named, or [`ABSENT`].
pub fn holder_text(officer_id: &str, unit_id: &str) -> String {
    match (officer_id.is_empty(), unit_id.is_empty()) {
        (true, true) => ABSENT.to_owned(),
        (false, true) => officer_id.to_owned(),
        (true, false) => format!("@ {unit_id}"),
        (false, false) => format!("{officer_id} @ {unit_id}"),
    }
}

/// `text`, or [`ABSENT`] when it is empty.
pub fn or_absent(text: &str) -> &str {
    if text.is_empty() {
        ABSENT
    } else {
        text
    }
}

/// The value of an id flag such as `--unit`, checked not to be empty (an empty value
/// would silently mean "no filter", which is what a script with an unset variable
/// does by mistake); `None` stays `None`.
///
/// # Errors
/// [`CliError::Argument`] naming `flag` for an empty or blank value.
pub fn id_flag(flag: &'static str, value: Option<&str>) -> Result<String, CliError> {
    let Some(value) = value else {
        return Ok(String::new());
    };
    if value.trim().is_empty() {
        return Err(CliError::Argument {
            flag,
            value: value.to_owned(),
            reason: "must not be empty; leave the flag out for no filter".to_owned(),
        });
    }
    Ok(value.to_owned())
}

/// An RFC 3339 instant flag (`--as-of 2026-03-02T17:00:00+07:00`).
///
/// # Errors
/// [`CliError::Argument`] naming `flag` for anything else.
pub fn instant_flag(flag: &'static str, value: &str) -> Result<wkt::Timestamp, CliError> {
    DateTime::parse_from_rfc3339(value)
        .map(|instant| wkt::Timestamp::from(instant.with_timezone(&Utc)))
        .map_err(|err| CliError::Argument {
            flag,
            value: value.to_owned(),
            reason: format!(
                "must be an RFC 3339 instant such as 2026-03-02T17:00:00+07:00 ({err})"
            ),
        })
}

/// The period of `--from` and `--to`, or `None` when neither is given.
///
/// Each is a date (`2026-03-31`, the whole day at +07:00: `--from` starts at its
/// midnight, `--to` includes it, ending at the next midnight) or an RFC 3339 instant
/// used as it is (`--to` is then the first instant excluded).
///
/// # Errors
/// [`CliError::Argument`] for a value that is neither, or a `--to` not after `--from`.
pub fn period_flags(from: Option<&str>, to: Option<&str>) -> Result<Option<pb::Period>, CliError> {
    if from.is_none() && to.is_none() {
        return Ok(None);
    }
    let start = from
        .map(|value| bound("from", value, Bound::Start))
        .transpose()?;
    let end = to.map(|value| bound("to", value, Bound::End)).transpose()?;
    if let (Some(start), Some(end), Some(from), Some(to)) = (start, end, from, to) {
        if end <= start {
            return Err(CliError::Argument {
                flag: "to",
                value: to.to_owned(),
                reason: format!("ends the period before --from {from} starts it"),
            });
        }
    }
    Ok(Some(pb::Period {
        start: start.map(wkt::Timestamp::from),
        end: end.map(wkt::Timestamp::from),
    }))
}

/// Which end of a period a date flag gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bound {
    /// `--from`: the first instant of the date.
    Start,
    /// `--to`: the first instant after the date.
    End,
}

/// One end of a period from a date or RFC 3339 flag value; see [`period_flags`].
fn bound(flag: &'static str, value: &str, which: Bound) -> Result<DateTime<Utc>, CliError> {
    if let Ok(instant) = DateTime::parse_from_rfc3339(value) {
        return Ok(instant.with_timezone(&Utc));
    }
    let invalid = |reason: &str| CliError::Argument {
        flag,
        value: value.to_owned(),
        reason: reason.to_owned(),
    };
    let date = NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| {
        invalid("must be a date such as 2026-03-31 or an RFC 3339 instant such as 2026-03-31T17:00:00+07:00")
    })?;
    let date = match which {
        Bound::Start => Some(date),
        Bound::End => date.checked_add_days(Days::new(1)),
    }
    .ok_or_else(|| invalid("is out of range"))?;
    vietnam_offset()
        .from_local_datetime(&date.and_time(NaiveTime::MIN))
        .single()
        .map(|local| local.with_timezone(&Utc))
        .ok_or_else(|| invalid("is out of range"))
}

/// The instant of a wire timestamp, or `None` if it is out of chrono's range.
pub fn to_utc(timestamp: &wkt::Timestamp) -> Option<DateTime<Utc>> {
    let nanos = u32::try_from(timestamp.nanos).ok()?;
    DateTime::from_timestamp(timestamp.seconds, nanos)
}

/// +07:00.
fn vietnam_offset() -> FixedOffset {
    // Seven hours is within the ±24 h that FixedOffset accepts.
    FixedOffset::east_opt(VIETNAM_OFFSET_SECS).unwrap_or_else(utc_offset)
}

/// +00:00.
fn utc_offset() -> FixedOffset {
    Utc.fix()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(rfc3339: &str) -> wkt::Timestamp {
        instant_flag("as-of", rfc3339).unwrap()
    }

    #[test]
    fn instants_show_at_plus_seven_or_utc() {
        let instant = ts("2026-03-02T01:15:00Z");
        assert_eq!(
            TimeDisplay::vietnam().instant_with_zone(Some(&instant)),
            "2026-03-02 08:15:00 +07:00"
        );
        assert_eq!(
            TimeDisplay::utc().instant_with_zone(Some(&instant)),
            "2026-03-02 01:15:00 UTC"
        );
        assert_eq!(TimeDisplay::utc().instant(None), ABSENT);
    }

    #[test]
    fn durations_read_in_hours_minutes_and_seconds() {
        let text = |seconds| duration_text(Some(&wkt::Duration { seconds, nanos: 0 }));
        assert_eq!(text(0), "0s");
        assert_eq!(text(45 * 60), "45m");
        assert_eq!(text(2 * 3600 + 20 * 60), "2h20m");
        assert_eq!(text(3 * 3600 + 5), "3h0m5s");
        assert_eq!(text(-90), "-1m30s");
        assert_eq!(text(50 * 3600), "50h0m");
        assert_eq!(duration_text(None), ABSENT);
    }

    #[test]
    fn rates_have_one_decimal() {
        assert_eq!(percent_text(Some(0.875)), "87.5%");
        assert_eq!(percent_text(Some(1.0)), "100.0%");
        assert_eq!(percent_text(Some(2.0 / 3.0)), "66.7%");
        assert_eq!(percent_text(None), ABSENT);
    }

    #[test]
    fn dates_cover_whole_days_at_plus_seven() {
        let period = period_flags(Some("2026-03-01"), Some("2026-03-31"))
            .unwrap()
            .unwrap();
        assert_eq!(period.start, Some(ts("2026-02-28T17:00:00Z")));
        assert_eq!(period.end, Some(ts("2026-03-31T17:00:00Z")));
    }

    #[test]
    fn instants_in_periods_are_taken_as_they_are() {
        let period = period_flags(None, Some("2026-03-31T10:00:00Z"))
            .unwrap()
            .unwrap();
        assert_eq!(period.start, None);
        assert_eq!(period.end, Some(ts("2026-03-31T10:00:00Z")));
        assert_eq!(period_flags(None, None).unwrap(), None);
    }

    #[test]
    fn bad_period_flags_name_the_flag() {
        let err = period_flags(Some("March"), None).unwrap_err();
        assert!(
            matches!(err, CliError::Argument { flag: "from", ref value, .. } if value == "March")
        );
        let err = period_flags(Some("2026-03-02"), Some("2026-03-01")).unwrap_err();
        assert!(matches!(err, CliError::Argument { flag: "to", .. }));
        // A one-day period is fine: --to includes its date.
        assert!(period_flags(Some("2026-03-02"), Some("2026-03-02")).is_ok());
    }

    #[test]
    fn empty_ids_and_bad_instants_are_refused() {
        assert!(matches!(
            id_flag("unit", Some(" ")),
            Err(CliError::Argument { flag: "unit", .. })
        ));
        assert_eq!(id_flag("unit", None).unwrap(), "");
        assert_eq!(id_flag("unit", Some("so-xd")).unwrap(), "so-xd");
        assert!(matches!(
            instant_flag("as-of", "2026-03-02"),
            Err(CliError::Argument { flag: "as-of", .. })
        ));
    }

    #[test]
    fn tables_align_numbers_right_and_trim_lines() {
        let mut table = new_table(&["name", "files"], &[1]);
        table.add_row(vec!["Sở Xây dựng", "7"]);
        table.add_row(vec!["UBND", "1234"]);
        let mut out = Vec::new();
        write_table(&mut out, &table).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            " name          files\n---------------------\n Sở Xây dựng       7\n UBND           1234\n"
        );
    }
}
