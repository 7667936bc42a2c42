//! `dunghan stats --by unit|officer|procedure|field|channel`: verdict counts and on-time
//! rates through `QueryService.GetStats`, one row per group and a total row.
//!
//! Rates are the server's (computed from additive counters at query time); this
//! command only prints them as percentages with one decimal, and never averages them.

use std::io::Write;

use clap::{Args, ValueEnum};

use super::client::{connect_authorized, ClientArgs};
use super::table::{
    channel_text, id_flag, instant_flag, new_table, percent_text, period_flags, rpc_failed,
    write_json, write_table, OutputArgs, TimeDisplay,
};
use super::CliError;
use crate::proto::v1 as pb;

/// The RPC named in errors.
const GET_STATS_RPC: &str = "QueryService.GetStats";

/// Arguments of `dunghan stats`.
#[derive(Debug, Clone, Args)]
pub struct StatsArgs {
    /// How to group the rows.
    #[arg(long, value_enum, default_value_t = GroupByArg::Unit)]
    pub by: GroupByArg,
    /// The unit subtree covered (default: the whole scope of the token).
    #[arg(long)]
    pub unit: Option<String>,
    /// With `--by unit`: the depth of the row units below the subtree root (default 1,
    /// its children).
    #[arg(long)]
    pub depth: Option<u32>,
    /// Start of the period: a date (at +07:00) or an RFC 3339 instant. Finished files
    /// count when they finished in the period; open files when received before its end
    /// and still open at its end.
    #[arg(long)]
    pub from: Option<String>,
    /// End of the period: a date, inclusive (at +07:00), or the first RFC 3339 instant
    /// excluded.
    #[arg(long)]
    pub to: Option<String>,
    /// Counts as they stood at this earlier RFC 3339 instant.
    #[arg(long)]
    pub as_of: Option<String>,
    /// JSON or table, UTC or +07:00.
    #[command(flatten)]
    pub output: OutputArgs,
    /// The server to ask.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// How `dunghan stats` groups its rows (`--by`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GroupByArg {
    /// One row per unit at `--depth` below the subtree root.
    Unit,
    /// One row per officer who received or finished files.
    Officer,
    /// One row per procedure code.
    Procedure,
    /// One row per field code.
    Field,
    /// One row per channel.
    Channel,
}

impl From<GroupByArg> for pb::StatsGroupBy {
    fn from(group_by: GroupByArg) -> pb::StatsGroupBy {
        match group_by {
            GroupByArg::Unit => pb::StatsGroupBy::Unit,
            GroupByArg::Officer => pb::StatsGroupBy::Officer,
            GroupByArg::Procedure => pb::StatsGroupBy::Procedure,
            GroupByArg::Field => pb::StatsGroupBy::Field,
            GroupByArg::Channel => pb::StatsGroupBy::Channel,
        }
    }
}

/// Runs `dunghan stats`.
///
/// # Errors
/// [`CliError::Argument`] for a bad flag, [`CliError::Connect`], [`CliError::Rpc`], and
/// output errors.
pub async fn run(args: &StatsArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let request = request(args)?;
    let channel = connect_authorized(&args.client).await?;
    let mut client = pb::query_service_client::QueryServiceClient::new(channel);
    let response = client
        .get_stats(request)
        .await
        .map_err(|status| rpc_failed(&args.client.server, GET_STATS_RPC, &status))?
        .into_inner();
    if args.output.json {
        return write_json(out, &response);
    }
    write_stats(
        &response,
        args.by,
        TimeDisplay::from_flag(args.output.utc),
        out,
    )
}

/// The request for `args`, checked.
///
/// # Errors
/// [`CliError::Argument`] naming the flag: an empty unit, a bad date or instant, or
/// `--depth` of zero or without `--by unit`.
pub fn request(args: &StatsArgs) -> Result<pb::GetStatsRequest, CliError> {
    let unit_depth = match args.depth {
        None => 0,
        Some(depth) if args.by != GroupByArg::Unit => {
            return Err(CliError::Argument {
                flag: "depth",
                value: depth.to_string(),
                reason: "applies only with --by unit".to_owned(),
            })
        }
        Some(0) => {
            return Err(CliError::Argument {
                flag: "depth",
                value: "0".to_owned(),
                reason: "must be at least 1: the subtree root itself has no own row".to_owned(),
            })
        }
        Some(depth) => depth,
    };
    Ok(pb::GetStatsRequest {
        group_by: pb::StatsGroupBy::from(args.by).into(),
        subtree_unit_id: id_flag("unit", args.unit.as_deref())?,
        period: period_flags(args.from.as_deref(), args.to.as_deref())?,
        as_of: args
            .as_of
            .as_deref()
            .map(|value| instant_flag("as-of", value))
            .transpose()?,
        unit_depth,
    })
}

/// Writes the rows, a total row and the instant the counts are as of.
///
/// # Errors
/// [`CliError::Output`] if `out` fails.
pub fn write_stats(
    response: &pb::GetStatsResponse,
    group_by: GroupByArg,
    times: TimeDisplay,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let key_heading = match group_by {
        GroupByArg::Unit => "unit",
        GroupByArg::Officer => "officer",
        GroupByArg::Procedure => "procedure",
        GroupByArg::Field => "field",
        GroupByArg::Channel => "channel",
    };
    let mut table = new_table(
        &[
            key_heading,
            "name",
            "early",
            "on time",
            "late",
            "within time",
            "overdue",
            "not counted",
            "unjudged",
            "on-time rate",
            "finished on time",
        ],
        &[2, 3, 4, 5, 6, 7, 8, 9, 10],
    );
    for row in &response.rows {
        table.add_row(row_cells(row, group_by, row.key.clone()));
    }
    if let Some(total) = &response.total {
        table.add_row(row_cells(total, group_by, "total".to_owned()));
    }
    write_table(out, &table)?;
    writeln!(
        out,
        "as of {}",
        times.instant_with_zone(response.as_of.as_ref())
    )?;
    Ok(())
}

/// The cells of one row; `key` is the first cell.
fn row_cells(row: &pb::StatsRow, group_by: GroupByArg, key: String) -> Vec<String> {
    let counts = row.counts.unwrap_or_default();
    let name = if row.name.is_empty() && group_by == GroupByArg::Channel {
        // Channel keys are the national code in decimal; name them if the server did not.
        row.key
            .parse::<i32>()
            .ok()
            .and_then(|code| pb::Channel::try_from(code).ok())
            .map_or("", channel_text)
            .to_owned()
    } else {
        row.name.clone()
    };
    vec![
        key,
        name,
        counts.early.to_string(),
        counts.on_time.to_string(),
        counts.late.to_string(),
        counts.within_time.to_string(),
        counts.overdue.to_string(),
        counts.not_counted.to_string(),
        counts.unjudged.to_string(),
        percent_text(row.on_time_rate),
        percent_text(row.finished_on_time_rate),
    ]
}
