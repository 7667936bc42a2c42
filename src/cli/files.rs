//! `dunghan files`: lists files through `QueryService.ListFiles`, one row per file,
//! with the filters of `FileFilter` as flags and cursor pagination.
//!
//! Without `--all` it shows one page and, if there are more, the `--page-token` that
//! continues it; with `--all` it follows `next_page_token` to the last page and shows
//! every file in one table (or one `ListFilesResponse` in JSON, with an empty token),
//! so `--all` holds the whole list in memory.
//! The server orders files stably (receipt instant, then id), so following pages
//! never skips or repeats a file that existed when the listing started.

use std::io::Write;

use clap::Args;

use super::client::{connect_authorized, ClientArgs};
use super::table::{
    channel_text, holder_text, id_flag, instant_flag, new_table, or_absent, period_flags,
    rpc_failed, status_text, verdict_text, write_json, write_table, ChannelArg, OutputArgs,
    TimeDisplay, VerdictArg,
};
use super::CliError;
use crate::proto::v1 as pb;

/// The RPC named in errors.
const LIST_FILES_RPC: &str = "QueryService.ListFiles";

/// The largest page the server serves.
pub const MAX_PAGE_SIZE: u32 = 1_000;

/// Pages `--all` follows at most: a server that keeps sending tokens (a bug) must not
/// make the command loop forever. A million files at the largest page size.
const MAX_PAGES: usize = 1_000_000;

/// Arguments of `dunghan files`.
#[derive(Debug, Clone, Args)]
pub struct FilesArgs {
    /// Only files received by this unit or one of its descendants (default: the whole
    /// scope of the token).
    #[arg(long)]
    pub unit: Option<String>,
    /// Only files this officer held at some point.
    #[arg(long)]
    pub officer: Option<String>,
    /// Only files of this procedure code.
    #[arg(long)]
    pub procedure: Option<String>,
    /// Only files of this field code.
    #[arg(long)]
    pub field: Option<String>,
    /// Only files filed through this channel.
    #[arg(long, value_enum)]
    pub channel: Option<ChannelArg>,
    /// Only files with one of these verdicts at the judging instant; repeat the flag or
    /// separate with commas.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub verdict: Vec<VerdictArg>,
    /// Only files open and past their due time at the judging instant.
    #[arg(long)]
    pub overdue: bool,
    /// Only files that cannot be judged yet.
    #[arg(long)]
    pub unjudged: bool,
    /// Only files received from this date (at +07:00) or RFC 3339 instant on.
    #[arg(long)]
    pub from: Option<String>,
    /// Only files received up to this date, inclusive (at +07:00), or before this RFC
    /// 3339 instant.
    #[arg(long)]
    pub to: Option<String>,
    /// Judge open files at this RFC 3339 instant instead of now.
    #[arg(long)]
    pub as_of: Option<String>,
    /// Files per page, 1 to 1000 (default: the server's, 100).
    #[arg(long)]
    pub page_size: Option<u32>,
    /// Continue a listing from the token a previous page printed.
    #[arg(long, conflicts_with = "all")]
    pub page_token: Option<String>,
    /// Follow every page to the end.
    #[arg(long)]
    pub all: bool,
    /// JSON or table, UTC or +07:00.
    #[command(flatten)]
    pub output: OutputArgs,
    /// The server to ask.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Runs `dunghan files`.
///
/// # Errors
/// [`CliError::Argument`] for a bad flag, [`CliError::Connect`], [`CliError::Rpc`],
/// [`CliError::Protocol`] if `--all` never reaches a last page, and output errors.
pub async fn run(args: &FilesArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let mut request = request(args)?;
    let channel = connect_authorized(&args.client).await?;
    let mut client = pb::query_service_client::QueryServiceClient::new(channel);
    let mut listing = pb::ListFilesResponse::default();
    for _ in 0..MAX_PAGES {
        let page = client
            .list_files(request.clone())
            .await
            .map_err(|status| rpc_failed(&args.client.server, LIST_FILES_RPC, &status))?
            .into_inner();
        listing.files.extend(page.files);
        listing.next_page_token = page.next_page_token;
        if !args.all || listing.next_page_token.is_empty() {
            return write_listing(&listing, args, out);
        }
        if listing.next_page_token == request.page_token {
            return Err(CliError::Protocol {
                server: args.client.server.clone(),
                reason: format!(
                    "{LIST_FILES_RPC} returned the page token it was given ({:?})",
                    request.page_token
                ),
            });
        }
        request.page_token = std::mem::take(&mut listing.next_page_token);
    }
    Err(CliError::Protocol {
        server: args.client.server.clone(),
        reason: format!("{LIST_FILES_RPC} sent more than {MAX_PAGES} pages"),
    })
}

/// The first request for `args`, checked.
///
/// # Errors
/// [`CliError::Argument`] naming the flag: an empty id, a bad date or instant, or a
/// page size outside 1 to 1000.
pub fn request(args: &FilesArgs) -> Result<pb::ListFilesRequest, CliError> {
    let page_size = match args.page_size {
        None => 0,
        Some(size) if (1..=MAX_PAGE_SIZE).contains(&size) => size,
        Some(size) => {
            return Err(CliError::Argument {
                flag: "page-size",
                value: size.to_string(),
                reason: format!("must be 1 to {MAX_PAGE_SIZE}, the server's limit"),
            })
        }
    };
    let page_token = match &args.page_token {
        Some(token) if token.is_empty() => {
            return Err(CliError::Argument {
                flag: "page-token",
                value: token.clone(),
                reason: "must not be empty; leave the flag out for the first page".to_owned(),
            })
        }
        Some(token) => token.clone(),
        None => String::new(),
    };
    let filter = pb::FileFilter {
        subtree_unit_id: id_flag("unit", args.unit.as_deref())?,
        officer_id: id_flag("officer", args.officer.as_deref())?,
        procedure_code: id_flag("procedure", args.procedure.as_deref())?,
        field_code: id_flag("field", args.field.as_deref())?,
        channel: args
            .channel
            .map_or(pb::Channel::Unspecified, pb::Channel::from)
            .into(),
        verdicts: args
            .verdict
            .iter()
            .map(|verdict| pb::Verdict::from(*verdict).into())
            .collect(),
        overdue_now: args.overdue,
        unjudged: args.unjudged,
        received_in: period_flags(args.from.as_deref(), args.to.as_deref())?,
    };
    let as_of = args
        .as_of
        .as_deref()
        .map(|value| instant_flag("as-of", value))
        .transpose()?;
    Ok(pb::ListFilesRequest {
        filter: Some(filter),
        as_of,
        page_size,
        page_token,
    })
}

/// Writes the files as JSON or as a table with a count and the continuation.
fn write_listing(
    listing: &pb::ListFilesResponse,
    args: &FilesArgs,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    if args.output.json {
        return write_json(out, listing);
    }
    let times = TimeDisplay::from_flag(args.output.utc);
    let mut table = new_table(
        &[
            "file",
            "procedure",
            "field",
            "channel",
            "unit",
            "holder",
            "status",
            "verdict",
            "received",
            "due",
            "extended due",
            "finished",
            "rules",
        ],
        &[12],
    );
    for file in &listing.files {
        let holder = file.holder.as_ref().map_or_else(
            || or_absent("").to_owned(),
            |holder| holder_text(&holder.officer_id, &holder.unit_id),
        );
        let mut verdict = verdict_text(file.verdict()).to_owned();
        if let Some(reason) = &file.unjudged_reason {
            if !reason.missing_id.is_empty() {
                verdict.push_str(&format!(" ({})", reason.missing_id));
            }
        }
        table.add_row(vec![
            file.file_id.clone(),
            or_absent(&file.procedure_code).to_owned(),
            or_absent(&file.field_code).to_owned(),
            channel_text(file.channel()).to_owned(),
            or_absent(&file.receiving_unit_id).to_owned(),
            holder,
            status_text(file.status()).to_owned(),
            verdict,
            times.instant(file.received_at.as_ref()),
            times.instant(file.due_at.as_ref()),
            times.instant(file.extended_due_at.as_ref()),
            times.instant(file.finished_at.as_ref()),
            file.rules_broken.to_string(),
        ]);
    }
    write_table(out, &table)?;
    let n_files = listing.files.len();
    let noun = if n_files == 1 { "file" } else { "files" };
    writeln!(out, "{n_files} {noun} (times at {})", times.zone_label())?;
    if !listing.next_page_token.is_empty() {
        writeln!(
            out,
            "more: --page-token {} (or --all)",
            listing.next_page_token
        )?;
    }
    Ok(())
}
