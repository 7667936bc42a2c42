//! `dunghan leaderboard`: officers, units or unit heads ranked by late files or late
//! working time, through `QueryService.GetLeaderboard`.
//!
//! The ranks, shares and step on-time rates are the server's (DOMAIN.md section 6);
//! this command only lays them out.

use std::io::Write;

use clap::{Args, ValueEnum};

use super::client::{connect_authorized, ClientArgs};
use super::table::{
    duration_text, id_flag, new_table, or_absent, percent_text, period_flags, rpc_failed,
    write_json, write_table,
};
use super::CliError;
use crate::proto::v1 as pb;

/// The RPC named in errors.
const GET_LEADERBOARD_RPC: &str = "QueryService.GetLeaderboard";

/// The most entries the server returns.
pub const MAX_TOP: u32 = 1_000;

/// Arguments of `dunghan leaderboard`.
#[derive(Debug, Clone, Args)]
pub struct LeaderboardArgs {
    /// Who to rank.
    #[arg(long, value_enum, default_value_t = SubjectArg::Officer)]
    pub by: SubjectArg,
    /// What to rank by (default: the server's, late working time).
    #[arg(long, value_enum)]
    pub rank: Option<RankArg>,
    /// The unit subtree covered (default: the whole scope of the token).
    #[arg(long)]
    pub unit: Option<String>,
    /// Start of the period: a date (at +07:00) or an RFC 3339 instant. Files finished
    /// in the period, or open and overdue at its end, count.
    #[arg(long)]
    pub from: Option<String>,
    /// End of the period: a date, inclusive (at +07:00), or the first RFC 3339 instant
    /// excluded.
    #[arg(long)]
    pub to: Option<String>,
    /// How many entries, 1 to 1000 (default: the server's, 50).
    #[arg(long)]
    pub top: Option<u32>,
    /// Print the server's response as proto3 JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// The server to ask.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Who a leaderboard ranks (`--by`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SubjectArg {
    /// Officers, by their own shares.
    Officer,
    /// Units, with the shares of their officers at the time.
    Unit,
    /// Unit heads, answering for their units during their terms.
    Head,
}

/// What a leaderboard ranks by (`--rank`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RankArg {
    /// The number of late or overdue files with a share.
    LateFiles,
    /// The sum of shares of late working time.
    LateTime,
}

impl From<SubjectArg> for pb::LeaderboardSubject {
    fn from(subject: SubjectArg) -> pb::LeaderboardSubject {
        match subject {
            SubjectArg::Officer => pb::LeaderboardSubject::Officers,
            SubjectArg::Unit => pb::LeaderboardSubject::Units,
            SubjectArg::Head => pb::LeaderboardSubject::Heads,
        }
    }
}

impl From<RankArg> for pb::LeaderboardRankBy {
    fn from(rank: RankArg) -> pb::LeaderboardRankBy {
        match rank {
            RankArg::LateFiles => pb::LeaderboardRankBy::LateFiles,
            RankArg::LateTime => pb::LeaderboardRankBy::LateWorkingTime,
        }
    }
}

/// Runs `dunghan leaderboard`.
///
/// # Errors
/// [`CliError::Argument`] for a bad flag, [`CliError::Connect`], [`CliError::Rpc`], and
/// output errors.
pub async fn run(args: &LeaderboardArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let request = request(args)?;
    let channel = connect_authorized(&args.client).await?;
    let mut client = pb::query_service_client::QueryServiceClient::new(channel);
    let response = client
        .get_leaderboard(request)
        .await
        .map_err(|status| rpc_failed(&args.client.server, GET_LEADERBOARD_RPC, &status))?
        .into_inner();
    if args.json {
        return write_json(out, &response);
    }
    write_leaderboard(&response, args.by, out)
}

/// The request for `args`, checked.
///
/// # Errors
/// [`CliError::Argument`] naming the flag: an empty unit, a bad date or instant, or
/// `--top` outside 1 to 1000.
pub fn request(args: &LeaderboardArgs) -> Result<pb::GetLeaderboardRequest, CliError> {
    let limit = match args.top {
        None => 0,
        Some(top) if (1..=MAX_TOP).contains(&top) => top,
        Some(top) => {
            return Err(CliError::Argument {
                flag: "top",
                value: top.to_string(),
                reason: format!("must be 1 to {MAX_TOP}, the server's limit"),
            })
        }
    };
    Ok(pb::GetLeaderboardRequest {
        subject: pb::LeaderboardSubject::from(args.by).into(),
        rank_by: args
            .rank
            .map_or(
                pb::LeaderboardRankBy::Unspecified,
                pb::LeaderboardRankBy::from,
            )
            .into(),
        subtree_unit_id: id_flag("unit", args.unit.as_deref())?,
        period: period_flags(args.from.as_deref(), args.to.as_deref())?,
        limit,
    })
}

/// Writes one row per entry, then the totals the shares are of.
///
/// # Errors
/// [`CliError::Output`] if `out` fails.
pub fn write_leaderboard(
    response: &pb::GetLeaderboardResponse,
    subject: SubjectArg,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let id_heading = match subject {
        SubjectArg::Officer => "officer",
        SubjectArg::Unit => "unit",
        SubjectArg::Head => "head",
    };
    let mut header = vec!["rank", id_heading, "name"];
    if subject == SubjectArg::Head {
        header.push("unit");
    }
    let first_number = header.len();
    header.extend([
        "late files",
        "late time",
        "share of late time",
        "files handled",
        "steps finished",
        "steps on time",
        "step on-time rate",
    ]);
    let mut right_aligned: Vec<usize> = (first_number..header.len()).collect();
    right_aligned.push(0);
    let mut table = new_table(&header, &right_aligned);
    for entry in &response.entries {
        let mut cells = vec![entry.rank.to_string(), entry.id.clone(), entry.name.clone()];
        if subject == SubjectArg::Head {
            cells.push(or_absent(&entry.unit_id).to_owned());
        }
        cells.extend([
            entry.late_files.to_string(),
            duration_text(entry.late_working_time.as_ref()),
            percent_text(entry.share_of_late_working_time),
            entry.files_handled.to_string(),
            entry.steps_finished.to_string(),
            entry.steps_on_time.to_string(),
            percent_text(entry.step_on_time_rate),
        ]);
        table.add_row(cells);
    }
    write_table(out, &table)?;
    writeln!(
        out,
        "all covered: {} late files, {} late working time",
        response.total_late_files,
        duration_text(response.total_late_working_time.as_ref())
    )?;
    Ok(())
}
